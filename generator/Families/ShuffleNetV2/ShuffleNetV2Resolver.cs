using System;
using System.Collections.Generic;
using System.Globalization;
using ShuffleNetGen.Generator.Helpers;
using ShuffleNetGen.Generator.Model;

namespace ShuffleNetGen.Generator.Families.ShuffleNetV2;

/// <summary>
/// ShuffleNet v2's widths and checks: torchvision's widths for its four scales, an even-width rule for the others,
/// and every stage width even (each unit splits its channels into two halves). The settings both families share are
/// checked by <see cref="NetworkResolver.CheckShared"/>, so one mistake gets the same finding in either family.
/// </summary>
internal static class ShuffleNetV2Resolver
{
    /// <summary>torchvision's stem width at every scale.</summary>
    public const int StemWidth = 24;

    /// <summary>torchvision's <c>shufflenet_v2_x…</c>: stage 2–4 and conv5 widths.</summary>
    private static readonly Dictionary<double, int[]> s_torchvision = new()
    {
        [0.5] = new[] { 48, 96, 192, 1024 },
        [1.0] = new[] { 116, 232, 464, 1024 },
        [1.5] = new[] { 176, 352, 704, 1024 },
        [2.0] = new[] { 244, 488, 976, 2048 },
    };

    /// <summary>
    /// Stage widths: torchvision's at 0.5, 1.0, 1.5 and 2.0; at any other scale, the 1x stage-2 width (116) times the
    /// scale rounded to the nearest even number (at least 2). Each further stage doubles the one before (a fourth
    /// stage, which torchvision does not have, too).
    /// </summary>
    public static int[] DeriveStageWidths(double scale, int stageCount)
    {
        var widths = new int[stageCount];
        long first = s_torchvision.TryGetValue(scale, out var known) ? known[0] : Math.Max(1, (long)Math.Floor(116 * scale / 2 + 0.5)) * 2;
        for (int i = 0; i < stageCount; i++)
        {
            long w = i < 3 && known is not null ? known[i] : first << i;
            widths[i] = w > int.MaxValue ? int.MaxValue : (int)w;
        }
        return widths;
    }

    /// <summary>conv5's width: torchvision's at its four scales; otherwise 1024 below scale 2 and 1024 × scale (even) from 2 on.</summary>
    public static int DeriveFinalWidth(double scale) =>
        s_torchvision.TryGetValue(scale, out var known) ? known[3] : scale < 2 ? 1024 : (int)Math.Min(int.MaxValue - 1, Math.Floor(512 * scale + 0.5) * 2);

    public static (NetworkSpec? Spec, List<SettingError> Errors) Resolve(NetworkSettings s, SettingSyntax syntax)
    {
        var errors = new List<SettingError>();
        NetworkResolver.CheckShared(s, syntax, errors);
        if (s.FinalChannels < 0 || s.FinalChannels > NetworkResolver.MaxChannels)
        {
            errors.Add(new SettingError(Settings.FinalChannels, DiagnosticDescriptors.InvalidChannels,
                new object[] { syntax.Assignment(Settings.FinalChannels, s.FinalChannels.ToString(CultureInfo.InvariantCulture)), 0, NetworkResolver.MaxChannels }));
        }
        if (errors.Count > 0) return (null, errors);

        bool explicitStages = s.StageChannels.Count != 0;
        int[] widths = explicitStages ? NetworkResolver.ToArray(s.StageChannels) : DeriveStageWidths(s.Scale, s.Stages.Count);
        for (int i = 0; i < widths.Length; i++)
        {
            if (widths[i] % 2 != 0)
            {
                errors.Add(new SettingError(explicitStages ? Settings.StageChannels : Settings.Scale, DiagnosticDescriptors.IndivisibleWidth,
                    new object[] { $"stage {i + 2} width {widths[i]} is odd; every ShuffleNet v2 unit splits its channels into two equal halves, so use an even width" },
                    explicitStages ? i : -1));
            }
        }
        if (errors.Count > 0) return (null, errors);

        int stem = s.StemChannels != 0 ? s.StemChannels : StemWidth;
        int final = s.FinalChannels != 0 ? s.FinalChannels : DeriveFinalWidth(s.Scale);
        var spec = new NetworkSpec(1, s.InputChannels, s.InputHeight, s.InputWidth, s.Classes, stem, 2, true,
            new EquatableArray<int>(widths), s.Stages, ChannelShuffleOrder.Paper, (NumericPrecision)s.Precision, Version: 2, FinalChannels: final);
        return (spec, errors);
    }
}
