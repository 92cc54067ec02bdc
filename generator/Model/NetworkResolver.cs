using System;
using System.Collections.Generic;
using System.Globalization;
using Microsoft.CodeAnalysis;
using ShuffleNetGen.Generator.Helpers;

namespace ShuffleNetGen.Generator.Model;

/// <summary>A problem with one setting; the parser turns the setting name into the location of its argument.</summary>
/// <remarks><see cref="Index"/> is the entry of a list setting at fault (-1: the whole setting).</remarks>
internal sealed record SettingError(string Setting, DiagnosticDescriptor Descriptor, object[] Arguments, int Index = -1);

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
    public const double MaxScale = 4;
    public const int MaxStages = 4;

    /// <summary>The paper's deepest stage has 8 units; the bound keeps a typo (80, 800) from emitting megabytes of code.</summary>
    public const int MaxUnitsPerStage = 32;
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

    public static (NetworkSpec? Spec, List<SettingError> Errors) Resolve(NetworkSettings s) => Resolve(s, SettingSyntax.Attribute);

    /// <summary>Checks and derives, by the declaration's family; <paramref name="syntax"/> only changes how messages quote settings.</summary>
    public static (NetworkSpec? Spec, List<SettingError> Errors) Resolve(NetworkSettings s, SettingSyntax syntax) => s.Version switch
    {
        1 => ResolveV1(s, syntax),
        2 => Families.ShuffleNetV2.ShuffleNetV2Resolver.Resolve(s, syntax),
        _ => (null, new List<SettingError>
        {
            new(Settings.Version, DiagnosticDescriptors.UnsupportedVersion, new object[] { syntax.Assignment(Settings.Version, s.Version.ToString(CultureInfo.InvariantCulture)) }),
        }),
    };

    private static (NetworkSpec? Spec, List<SettingError> Errors) ResolveV1(NetworkSettings s, SettingSyntax syntax)
    {
        var errors = new List<SettingError>();
        void Fail(string setting, DiagnosticDescriptor d, params object[] args) => errors.Add(new SettingError(setting, d, args));
        string Set(string setting, long value) => syntax.Assignment(setting, value.ToString(CultureInfo.InvariantCulture));

        bool groupsOk = s.Groups is 1 or 2 or 3 or 4 or 8;
        if (!groupsOk) Fail(Settings.Groups, DiagnosticDescriptors.UnsupportedGroups, Set(Settings.Groups, s.Groups));
        CheckShared(s, syntax, errors);
        if (s.StemStride is not (1 or 2))
            Fail(Settings.StemStride, DiagnosticDescriptors.InvalidStemStride, Set(Settings.StemStride, s.StemStride));
        if (s.ShuffleOrder is not ((int)ChannelShuffleOrder.Paper or (int)ChannelShuffleOrder.Official))
            Fail(Settings.ShuffleOrder, DiagnosticDescriptors.UnsupportedShuffleOrder,
                syntax.Assignment(Settings.ShuffleOrder, "(ShuffleOrder)" + s.ShuffleOrder.ToString(CultureInfo.InvariantCulture)), syntax.ShuffleOrders);
        if (errors.Count > 0) return (null, errors);
        return DeriveV1(s, errors);
    }

    /// <summary>
    /// The checks both families make, in the order findings are reported: scale, stages, explicit widths, input,
    /// classes, stem width and precision. A family adds its own before and after.
    /// </summary>
    internal static void CheckShared(NetworkSettings s, SettingSyntax syntax, List<SettingError> errors)
    {
        void Fail(string setting, DiagnosticDescriptor d, params object[] args) => errors.Add(new SettingError(setting, d, args));
        void FailAt(string setting, int index, DiagnosticDescriptor d, params object[] args) => errors.Add(new SettingError(setting, d, args, index));
        string Set(string setting, long value) => syntax.Assignment(setting, value.ToString(CultureInfo.InvariantCulture));

        if (!(s.Scale > 0 && s.Scale <= MaxScale))
            Fail(Settings.Scale, DiagnosticDescriptors.InvalidScale, syntax.Assignment(Settings.Scale, FormatScale(s.Scale)));
        if (s.Stages.Count < 1 || s.Stages.Count > MaxStages)
            Fail(Settings.Stages, DiagnosticDescriptors.InvalidStageCount, syntax.Name(Settings.Stages), s.Stages.Count, syntax.List(NetworkSettings.DefaultStages));
        // Past the stage limit the count is the finding; one finding per entry of a 100,000-entry list would bury it.
        for (int i = 0; i < s.Stages.Count && s.Stages.Count <= MaxStages; i++)
        {
            if (s.Stages[i] < 1 || s.Stages[i] > MaxUnitsPerStage)
                FailAt(Settings.Stages, i, DiagnosticDescriptors.InvalidRepeat, i + 2, s.Stages[i], syntax.Name(Settings.Stages), MaxUnitsPerStage);
        }
        if (s.StageChannels.Count != 0 && s.StageChannels.Count != s.Stages.Count)
            Fail(Settings.StageChannels, DiagnosticDescriptors.StageChannelsLength, syntax.Name(Settings.StageChannels), s.StageChannels.Count, syntax.Name(Settings.Stages), s.Stages.Count);
        if (s.InputChannels < 1 || s.InputChannels > MaxChannels)
            Fail(Settings.InputChannels, DiagnosticDescriptors.InvalidChannels, Set(Settings.InputChannels, s.InputChannels), 1, MaxChannels);
        if (s.InputHeight < 1 || s.InputHeight > MaxInputSize)
            Fail(Settings.InputHeight, DiagnosticDescriptors.InvalidInputSize, Set(Settings.InputHeight, s.InputHeight), MaxInputSize);
        if (s.InputWidth < 1 || s.InputWidth > MaxInputSize)
            Fail(Settings.InputWidth, DiagnosticDescriptors.InvalidInputSize, Set(Settings.InputWidth, s.InputWidth), MaxInputSize);
        if (s.Classes < 1 || s.Classes > MaxClasses)
            Fail(Settings.Classes, DiagnosticDescriptors.InvalidClasses, Set(Settings.Classes, s.Classes), MaxClasses);
        if (s.StemChannels < 0 || s.StemChannels > MaxChannels)
            Fail(Settings.StemChannels, DiagnosticDescriptors.InvalidChannels, Set(Settings.StemChannels, s.StemChannels), 0, MaxChannels);
        for (int i = 0; i < s.StageChannels.Count; i++)
        {
            int w = s.StageChannels[i];
            if (w < 1 || w > MaxChannels)
                FailAt(Settings.StageChannels, i, DiagnosticDescriptors.InvalidChannels, $"{syntax.Name(Settings.StageChannels)} entry {w.ToString(CultureInfo.InvariantCulture)} (stage {i + 2})", 1, MaxChannels);
        }
        if (s.Precision is not ((int)NumericPrecision.Float32 or (int)NumericPrecision.Int8))
            Fail(Settings.Precision, DiagnosticDescriptors.UnsupportedPrecision,
                syntax.Assignment(Settings.Precision, "(Precision)" + s.Precision.ToString(CultureInfo.InvariantCulture)), syntax.Precisions);
    }

    private static (NetworkSpec? Spec, List<SettingError> Errors) DeriveV1(NetworkSettings s, List<SettingError> errors)
    {
        void Fail(string setting, DiagnosticDescriptor d, params object[] args) => errors.Add(new SettingError(setting, d, args));
        void FailAt(string setting, int index, DiagnosticDescriptor d, params object[] args) => errors.Add(new SettingError(setting, d, args, index));
        int g = s.Groups;
        bool explicitStages = s.StageChannels.Count != 0;
        bool explicitStem = s.StemChannels != 0;
        int[] widths = explicitStages ? ToArray(s.StageChannels) : DeriveStageWidths(g, s.Scale, s.Stages.Count);
        int stem = explicitStem ? s.StemChannels : DeriveStemWidth(g, s.Scale);
        string widthSetting = explicitStages ? Settings.StageChannels : Settings.Scale;

        bool stemIndivisible = stem % g != 0;
        if (stemIndivisible)
            Fail(explicitStem ? Settings.StemChannels : Settings.Groups, DiagnosticDescriptors.IndivisibleWidth,
                $"stem width {stem} with {g} groups leaves the first unit's branch ({widths[0]} - {stem} channels) indivisible by {g}; use a stem width divisible by {g}");

        int inWidth = stem;
        for (int i = 0; i < widths.Length; i++)
        {
            int stage = i + 2;
            int w = widths[i];
            int m = w / 4;
            if (w % 4 != 0 || m < 1)
            {
                FailAt(widthSetting, explicitStages ? i : -1, DiagnosticDescriptors.IndivisibleWidth,
                    $"stage {stage} width {w} is not a multiple of 4, so the bottleneck (width / 4) is not whole; use a width divisible by {4 * g}");
            }
            else if (m % g != 0)
            {
                FailAt(widthSetting, explicitStages ? i : -1, DiagnosticDescriptors.IndivisibleWidth,
                    $"stage {stage} width {w} with {g} groups gives a bottleneck of {m} channels, which {g} groups cannot split; use a width divisible by {4 * g}");
            }
            if (w <= inWidth)
            {
                FailAt(widthSetting, explicitStages ? i : -1, DiagnosticDescriptors.IndivisibleWidth,
                    $"stage {stage} width {w} is not larger than its input width {inWidth}; the stride-2 unit concatenates its input with a branch of width - input channels, so the width must grow");
            }
            // An indivisible stem makes stage 2's branch indivisible too; that is reported once, at the stem.
            else if ((w - inWidth) % g != 0 && !(i == 0 && stemIndivisible))
            {
                FailAt(widthSetting, explicitStages ? i : -1, DiagnosticDescriptors.IndivisibleWidth,
                    $"stage {stage} branch of the stride-2 unit has {w} - {inWidth} = {w - inWidth} channels, which {g} groups cannot split; use widths whose differences divide by {g}");
            }
            if (i > 0 && inWidth % g != 0)
            {
                FailAt(widthSetting, explicitStages ? i : -1, DiagnosticDescriptors.IndivisibleWidth,
                    $"stage {stage} input width {inWidth} is not divisible by {g} groups; use widths divisible by {4 * g}");
            }
            if (s.Stages[i] > 1 && w % g != 0)
            {
                FailAt(widthSetting, explicitStages ? i : -1, DiagnosticDescriptors.IndivisibleWidth,
                    $"stage {stage} width {w} is not divisible by {g} groups, which its stride-1 units need; use a width divisible by {4 * g}");
            }
            inWidth = w;
        }
        if (errors.Count > 0) return (null, errors);

        var spec = new NetworkSpec(g, s.InputChannels, s.InputHeight, s.InputWidth, s.Classes, stem, s.StemStride, s.StemMaxPool,
            new EquatableArray<int>(widths), s.Stages, (ChannelShuffleOrder)s.ShuffleOrder, (NumericPrecision)s.Precision);
        return (spec, errors);
    }

    private static string FormatScale(double scale) => scale.ToString("R", CultureInfo.InvariantCulture);

    internal static int[] ToArray(EquatableArray<int> items)
    {
        var result = new int[items.Count];
        for (int i = 0; i < result.Length; i++) result[i] = items[i];
        return result;
    }
}
