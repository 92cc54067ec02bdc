using System;
using System.Collections.Generic;
using System.ComponentModel;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;

namespace ShuffleNetGen.Kernels;

/// <summary>
/// The int8 instruction family this process runs: which vector variant the generated int8 1x1 convolutions and
/// classifier take, and which dot-product instruction <see cref="Int8Simd"/> uses in it. Chosen once, at type
/// initialization, by a rule on what the CPU reports (docs/int8.md, "Instruction families"), or forced by
/// <see cref="EnvironmentVariable"/> (or the <see cref="AppContextKey"/> runtime property) for measurement and tests.
/// </summary>
/// <remarks>
/// <para>
/// The widest vector is not always the fastest int8 family: on a Xeon 5th gen VPDPBUSD ymm (AVX-VNNI) peaked at 189
/// GMAC/s where AVX-512BW's VPMADDUBSW+VPMADDWD+VPADDD zmm peaked at 121, since .NET has no 512-bit VNNI API. On Zen 4
/// both were about 36 and the 256-bit VNNI tiles ran 3–20% slower per kernel. So an Intel core with AVX-VNNI runs the
/// 256-bit VNNI family and every other core the widest one.
/// </para>
/// <para>
/// Every family computes the same integers (docs/int8.md, "Saturation"), so the choice changes speed, never logits.
/// That is also why a forced family this CPU cannot run, or a name that is no family, falls back to the rule's choice
/// instead of failing: <see cref="Description"/> (and through it every int8 entry of <c>KernelPaths</c>) says what was
/// asked for and what ran, so a measurement is never mislabeled.
/// </para>
/// <para>
/// The fields are <c>static readonly</c> and set by initializers only (the type is <c>beforefieldinit</c>), so the JIT
/// folds them to constants in the kernels it compiles (seen in the disassembly of a Vector256 tile: no read of them
/// is left). Under NativeAOT they stay ordinary static reads, whose cost was not measured. Only environment variables
/// and <see cref="AppContext"/> are read, so the choice works without reflection.
/// </para>
/// </remarks>
[EditorBrowsable(EditorBrowsableState.Never)]
public static class Int8Family
{
    /// <summary>Forces a family by its name (<see cref="Names"/>), e.g. <c>SHUFFLENETGEN_INT8_FAMILY=madd512</c>.</summary>
    public const string EnvironmentVariable = "SHUFFLENETGEN_INT8_FAMILY";

    /// <summary>The same override as a runtime property (<c>RuntimeHostConfigurationOption</c>); the environment variable wins.</summary>
    public const string AppContextKey = "ShuffleNetGen.Int8Family";

    /// <summary>AVX-512BW VPMADDUBSW+VPMADDWD+VPADDD on Vector512.</summary>
    public const string Madd512 = "madd512";

    /// <summary>AVX-VNNI VPDPBUSD on Vector256.</summary>
    public const string Vnni256 = "vnni256";

    /// <summary>AVX2 VPMADDUBSW+VPMADDWD+VPADDD on Vector256.</summary>
    public const string Madd256 = "madd256";

    /// <summary>AVX-VNNI VPDPBUSD on Vector128.</summary>
    public const string Vnni128 = "vnni128";

    /// <summary>SSSE3 PMADDUBSW+PMADDWD+PADDD on Vector128.</summary>
    public const string Madd128 = "madd128";

    /// <summary>ARM64 SDOT on Vector128.</summary>
    public const string Sdot = "sdot";

    /// <summary>ARM64 without SDOT: SMULL+SADDLP+ADDP on Vector128.</summary>
    public const string AdvSimdWidening = "advsimd";

    /// <summary>Shifts and 32-bit multiplies on Vector128, whatever the hardware (the path without hardware intrinsics).</summary>
    public const string Portable = "portable";

    /// <summary>Every family, widest first.</summary>
    public static IReadOnlyList<string> Names { get; } = new[] { Madd512, Vnni256, Madd256, Vnni128, Madd128, Sdot, AdvSimdWidening, Portable };

    /// <summary>What the CPU reports in CPUID leaf 0 (e.g. <c>GenuineIntel</c>, <c>AuthenticAMD</c>); empty off x86.</summary>
    public static string Vendor { get; } = ReadVendor();

    /// <summary>The family the rule picks here, without any override.</summary>
    public static string Default { get; } = ChooseByRule(out _);

    /// <summary>Why the rule picked <see cref="Default"/>.</summary>
    public static string Reason { get; } = RuleReason();

    /// <summary>The override asked for (environment variable, else runtime property), or null.</summary>
    public static string? Requested { get; } = ReadRequested();

    /// <summary>The family that runs: the requested one when this CPU runs it, else <see cref="Default"/>.</summary>
    public static readonly string Name = Requested is { } requested && IsSupported(requested) ? requested : Default;

    /// <summary>The int8 kernels run their Vector512 variant.</summary>
    public static readonly bool Zmm = Name == Madd512;

    /// <summary>The int8 1x1 kernels run their <c>V256Vnni</c> variant (4 × 24 tiles, enough accumulators for VPDPBUSD's latency) where they have one.</summary>
    public static readonly bool YmmVnni = Name == Vnni256;

    /// <summary>The int8 kernels run their Vector256 variant (when a model has no Vector512 variant, also under <see cref="Madd512"/>).</summary>
    public static readonly bool Ymm = Name is Madd512 or Vnni256 or Madd256;

    /// <summary>
    /// The 256- and 128-bit dot products use VPDPBUSD: in the VNNI families, and in <see cref="Madd512"/>'s narrower
    /// tail tiles where the core has it (one instruction for the pair's three, as before families existed).
    /// </summary>
    public static readonly bool Vnni = Name is Vnni256 or Vnni128 || Name == Madd512 && AvxVnniSupported;

    /// <summary>The 128-bit dot product may use SDOT (ARM64): off under <see cref="AdvSimdWidening"/> and <see cref="Portable"/>.</summary>
    public static readonly bool SdotAllowed = Name is not (AdvSimdWidening or Portable);

    /// <summary>Every dot product takes the portable shifts.</summary>
    public static readonly bool PortableOnly = Name == Portable;

    /// <summary>What ran and why, as <c>KernelPaths</c> reports it, e.g. <c>int8 family madd256: AuthenticAMD: the widest family this core runs</c>.</summary>
    public static string Description { get; } = Describe();

    /// <summary>Whether this process can run <paramref name="family"/>: its instructions are supported and its vector accelerated.</summary>
    public static bool IsSupported(string family) => family switch
    {
        Madd512 => Vector512.IsHardwareAccelerated && Avx512BW.IsSupported,
        Vnni256 => Vector256.IsHardwareAccelerated && AvxVnniSupported,
        Madd256 => Vector256.IsHardwareAccelerated && Avx2.IsSupported,
        Vnni128 => AvxVnniSupported,
        Madd128 => Ssse3.IsSupported,
        Sdot => Dp.IsSupported,
        AdvSimdWidening => AdvSimd.Arm64.IsSupported,
        Portable => true,
        _ => false,
    };

#if NET10_0_OR_GREATER
    private static bool AvxVnniSupported => AvxVnni.IsSupported;
#else
    private static bool AvxVnniSupported => false; // a preview API on .NET 8: the net8.0 build never takes it
#endif

    private static string ReadVendor()
    {
        if (!X86Base.IsSupported) return "";
        var (_, ebx, ecx, edx) = X86Base.CpuId(0, 0);
        Span<byte> text = stackalloc byte[12];
        BitConverter.TryWriteBytes(text, ebx);
        BitConverter.TryWriteBytes(text[4..], edx);
        BitConverter.TryWriteBytes(text[8..], ecx);
        return System.Text.Encoding.ASCII.GetString(text);
    }

    /// <summary>
    /// The rule: on an Intel core with AVX-VNNI, VPDPBUSD ymm (it outran the zmm pair by 1.56x on Xeon 5th gen); else the
    /// widest family the core has (on Zen 4 the zmm pair and VPDPBUSD ymm were even, and the wider tiles won per kernel).
    /// </summary>
    private static string ChooseByRule(out string reason)
    {
        if (Vendor == "GenuineIntel" && IsSupported(Vnni256))
        {
            reason = "GenuineIntel with AVX-VNNI: VPDPBUSD ymm outruns the zmm multiply-add pair";
            return Vnni256;
        }
        foreach (var family in Names)
        {
            if (!IsSupported(family)) continue;
            reason = $"{(Vendor.Length == 0 ? "no CPUID (not x86, or hardware intrinsics off)" : Vendor)}: the widest family this core runs";
            return family;
        }
        throw new InvalidOperationException("unreachable: the portable family is always supported");
    }

    private static string RuleReason()
    {
        ChooseByRule(out string reason);
        return reason;
    }

    private static string? ReadRequested()
    {
        string? text = Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (string.IsNullOrWhiteSpace(text)) text = AppContext.GetData(AppContextKey) as string;
        return string.IsNullOrWhiteSpace(text) ? null : text.Trim().ToLowerInvariant();
    }

    private static string Describe()
    {
        if (Requested is null) return $"int8 family {Name}: {Reason}";
        if (Requested == Name) return $"int8 family {Name}: forced ({EnvironmentVariable} or {AppContextKey})";
        string why = Array.IndexOf((string[])Names, Requested) < 0
            ? $"is no family ({string.Join("|", Names)})"
            : "is not supported on this CPU";
        return $"int8 family {Name}: {EnvironmentVariable}={Requested} {why}, so the rule's choice runs ({Reason})";
    }
}
