using System;
using System.Collections.Generic;
using Microsoft.CodeAnalysis;
using ShuffleNetGen.Generator.Helpers;

namespace ShuffleNetGen.Generator.Model;

/// <summary>A problem with one setting; the parser turns the setting name into the location of its argument.</summary>
internal sealed record SettingError(string Setting, DiagnosticDescriptor Descriptor, object[] Arguments);

/// <summary>
/// Derives the widths the paper leaves implicit and checks that every unit can be built. Pure: settings in, spec or
/// errors out, so the attribute and any other declaration form share one set of rules.
/// </summary>
internal static class NetworkResolver
{
    /// <summary>Stage-2 output width at 1x (paper, Table 1), by group count.</summary>
    public static int BaseStageWidth(int groups) => groups switch
    {
        1 => 144,
        2 => 200,
        3 => 240,
        4 => 272,
        8 => 384,
        _ => 0,
    };

    public const int MaxInputSize = 4096;
    public const int MaxChannels = 1 << 16;
    public const int MaxClasses = 1 << 20;

    /// <summary>
    /// Stage widths: the 1x width times the scale, rounded to the nearest multiple of 4·g (at least 4·g), doubling per
    /// stage. A multiple of 4·g keeps the bottleneck (width / 4) divisible by g, and differences of such widths (the
    /// branch of a stride-2 unit) divisible by g, whatever the scale. Reproduces the official g = 3 and g = 8 widths.
    /// </summary>
    public static int[] DeriveStageWidths(int groups, double scale, int stageCount)
    {
        int quantum = 4 * groups;
        double scaled = BaseStageWidth(groups) * scale;
        long first = Math.Max(1, (long)Math.Floor(scaled / quantum + 0.5)) * quantum;
        var widths = new int[stageCount];
        for (int i = 0; i < stageCount; i++)
        {
            long w = first << i;
            widths[i] = w > int.MaxValue ? int.MaxValue : (int)w;
        }
        return widths;
    }

    /// <summary>
    /// Stem width: 24 scaled down below 1x (rounded up to a multiple of g), and 24 per whole unit of scale from 1x up.
    /// Matches the official 0.5x (12 for g = 3, 16 for g = 8), 1x and 1.5x (24) and 2x (48) stems.
    /// </summary>
    public static int DeriveStemWidth(int groups, double scale)
    {
        double factor = scale < 1 ? scale : Math.Floor(scale);
        long raw = (long)Math.Ceiling(24 * factor - 1e-9);
        long rounded = Math.Max(groups, (raw + groups - 1) / groups * groups);
        return rounded > int.MaxValue ? int.MaxValue : (int)rounded;
    }

    public static (NetworkSpec? Spec, List<SettingError> Errors) Resolve(NetworkSettings s)
    {
        var errors = new List<SettingError>();
        void Fail(string setting, DiagnosticDescriptor d, params object[] args) => errors.Add(new SettingError(setting, d, args));

        bool groupsOk = s.Groups is 1 or 2 or 3 or 4 or 8;
        if (!groupsOk) Fail("Groups", DiagnosticDescriptors.UnsupportedGroups, s.Groups);
        if (!(s.Scale > 0 && s.Scale <= 4)) Fail("Scale", DiagnosticDescriptors.InvalidScale, s.Scale.ToString("R", System.Globalization.CultureInfo.InvariantCulture));
        if (s.Stages.Count < 1 || s.Stages.Count > 4) Fail("Stages", DiagnosticDescriptors.InvalidStageCount, s.Stages.Count);
        for (int i = 0; i < s.Stages.Count; i++)
        {
            if (s.Stages[i] < 1) Fail("Stages", DiagnosticDescriptors.InvalidRepeat, i + 2, s.Stages[i]);
        }
        if (s.StageChannels.Count != 0 && s.StageChannels.Count != s.Stages.Count)
            Fail("StageChannels", DiagnosticDescriptors.StageChannelsLength, s.StageChannels.Count, s.Stages.Count);
        if (s.InputChannels < 1 || s.InputChannels > MaxChannels) Fail("InputChannels", DiagnosticDescriptors.InvalidChannels, "InputChannels", s.InputChannels, MaxChannels);
        if (s.InputHeight < 1 || s.InputHeight > MaxInputSize) Fail("InputHeight", DiagnosticDescriptors.InvalidInputSize, "InputHeight", s.InputHeight, MaxInputSize);
        if (s.InputWidth < 1 || s.InputWidth > MaxInputSize) Fail("InputWidth", DiagnosticDescriptors.InvalidInputSize, "InputWidth", s.InputWidth, MaxInputSize);
        if (s.Classes < 1 || s.Classes > MaxClasses) Fail("Classes", DiagnosticDescriptors.InvalidClasses, s.Classes);
        if (s.StemStride is not (1 or 2)) Fail("StemStride", DiagnosticDescriptors.InvalidStemStride, s.StemStride);
        if (s.StemChannels < 0 || s.StemChannels > MaxChannels) Fail("StemChannels", DiagnosticDescriptors.InvalidChannels, "StemChannels", s.StemChannels, MaxChannels);
        foreach (int w in s.StageChannels)
        {
            if (w < 1 || w > MaxChannels) Fail("StageChannels", DiagnosticDescriptors.InvalidChannels, "StageChannels entry", w, MaxChannels);
        }
        if (errors.Count > 0) return (null, errors);

        int g = s.Groups;
        bool explicitStages = s.StageChannels.Count != 0;
        bool explicitStem = s.StemChannels != 0;
        int[] widths = explicitStages ? ToArray(s.StageChannels) : DeriveStageWidths(g, s.Scale, s.Stages.Count);
        int stem = explicitStem ? s.StemChannels : DeriveStemWidth(g, s.Scale);
        string widthSetting = explicitStages ? "StageChannels" : "Scale";

        if (stem % g != 0)
            Fail(explicitStem ? "StemChannels" : "Groups", DiagnosticDescriptors.IndivisibleWidth,
                $"stem width {stem} with {g} groups leaves the first unit's branch ({widths[0]} - {stem} channels) indivisible by {g}; use a stem width divisible by {g}");

        int inWidth = stem;
        for (int i = 0; i < widths.Length; i++)
        {
            int stage = i + 2;
            int w = widths[i];
            int m = w / 4;
            if (w % 4 != 0 || m < 1)
            {
                Fail(widthSetting, DiagnosticDescriptors.IndivisibleWidth,
                    $"stage {stage} width {w} is not a multiple of 4, so the bottleneck (width / 4) is not whole; use a width divisible by {4 * g}");
            }
            else if (m % g != 0)
            {
                Fail(widthSetting, DiagnosticDescriptors.IndivisibleWidth,
                    $"stage {stage} width {w} with {g} groups gives a bottleneck of {m} channels, which {g} groups cannot split; use a width divisible by {4 * g}");
            }
            if (w <= inWidth)
            {
                Fail(widthSetting, DiagnosticDescriptors.IndivisibleWidth,
                    $"stage {stage} width {w} is not larger than its input width {inWidth}; the stride-2 unit concatenates its input with a branch of width - input channels, so the width must grow");
            }
            else if ((w - inWidth) % g != 0)
            {
                Fail(widthSetting, DiagnosticDescriptors.IndivisibleWidth,
                    $"stage {stage} branch of the stride-2 unit has {w} - {inWidth} = {w - inWidth} channels, which {g} groups cannot split; use widths whose differences divide by {g}");
            }
            if (i > 0 && inWidth % g != 0)
            {
                Fail(widthSetting, DiagnosticDescriptors.IndivisibleWidth,
                    $"stage {stage} input width {inWidth} is not divisible by {g} groups; use widths divisible by {4 * g}");
            }
            if (s.Stages[i] > 1 && w % g != 0)
            {
                Fail(widthSetting, DiagnosticDescriptors.IndivisibleWidth,
                    $"stage {stage} width {w} is not divisible by {g} groups, which its stride-1 units need; use a width divisible by {4 * g}");
            }
            inWidth = w;
        }
        if (errors.Count > 0) return (null, errors);

        var spec = new NetworkSpec(g, s.InputChannels, s.InputHeight, s.InputWidth, s.Classes, stem, s.StemStride, s.StemMaxPool,
            new EquatableArray<int>(widths), s.Stages);
        return (spec, errors);
    }

    private static int[] ToArray(EquatableArray<int> items)
    {
        var result = new int[items.Count];
        for (int i = 0; i < result.Length; i++) result[i] = items[i];
        return result;
    }
}
