using System.Collections.Generic;
using System.Linq;

namespace ShuffleNetGen.Generator.Model;

/// <summary>
/// Setting keys shared by every declaration form: the attribute's property names. A <see cref="SettingError"/> names
/// one of these and each form maps it back to where the user wrote it.
/// </summary>
internal static class Settings
{
    public const string Declaration = "";
    public const string Groups = "Groups";
    public const string Scale = "Scale";
    public const string Stages = "Stages";
    public const string StageChannels = "StageChannels";
    public const string StemChannels = "StemChannels";
    public const string InputChannels = "InputChannels";
    public const string InputHeight = "InputHeight";
    public const string InputWidth = "InputWidth";
    public const string Classes = "Classes";
    public const string StemStride = "StemStride";
    public const string StemMaxPool = "StemMaxPool";
    public const string ShuffleOrder = "ShuffleOrder";
    public const string Precision = "Precision";
    public const string FinalChannels = "FinalChannels";
    public const string Version = "Version";

    // Not settings but the names a declaration gives its class, located the same way.
    public const string ClassName = "$className";
    public const string Namespace = "$namespace";
}

/// <summary>
/// How a declaration form spells settings and values, so a message quotes the setting the way the user wrote it
/// (<c>Groups = 5</c> in C#, <c>"groups": 5</c> in JSON) while both forms share one resolver and one set of messages.
/// </summary>
internal abstract class SettingSyntax
{
    public static SettingSyntax Attribute { get; } = new AttributeForm();

    public static SettingSyntax Json { get; } = new JsonForm();

    /// <summary>The setting's name, e.g. <c>StemMaxPool</c> or <c>stemMaxPool</c>.</summary>
    public abstract string Name(string setting);

    /// <summary>The setting with a value, as it would be written.</summary>
    public abstract string Assignment(string setting, string value);

    public abstract string List(IEnumerable<int> values);

    public abstract string Bool(bool value);

    /// <summary>The supported shuffle orders as they are written, for a message that lists them.</summary>
    public abstract string ShuffleOrders { get; }

    /// <summary>The supported precisions as they are written, for a message that lists them.</summary>
    public abstract string Precisions { get; }

    private static string Join(IEnumerable<int> values) =>
        string.Join(", ", values.Select(v => v.ToString(System.Globalization.CultureInfo.InvariantCulture)));

    private sealed class AttributeForm : SettingSyntax
    {
        public override string Name(string setting) => setting;

        public override string Assignment(string setting, string value) => setting + " = " + value;

        public override string List(IEnumerable<int> values) => "new[] { " + Join(values) + " }";

        public override string Bool(bool value) => value ? "true" : "false";

        public override string ShuffleOrders => "ShuffleOrder.Paper (the paper's, the default) or ShuffleOrder.Official (megvii's official code)";

        public override string Precisions => "Precision.Float32 (the default) or Precision.Int8";
    }

    private sealed class JsonForm : SettingSyntax
    {
        public override string Name(string setting) => setting switch
        {
            Settings.InputChannels => "input.channels",
            Settings.InputHeight => "input.height",
            Settings.InputWidth => "input.width",
            _ => setting.Length == 0 ? setting : char.ToLowerInvariant(setting[0]) + setting.Substring(1),
        };

        public override string Assignment(string setting, string value) => setting switch
        {
            Settings.InputChannels => "\"input\": { \"channels\": " + value + " }",
            Settings.InputHeight => "\"input\": { \"height\": " + value + " }",
            Settings.InputWidth => "\"input\": { \"width\": " + value + " }",
            _ => "\"" + Name(setting) + "\": " + value,
        };

        public override string List(IEnumerable<int> values) => "[" + Join(values) + "]";

        public override string Bool(bool value) => value ? "true" : "false";

        public override string ShuffleOrders => "\"paper\" (the default) or \"official\" (megvii's official code)";

        public override string Precisions => "\"float32\" (the default) or \"int8\"";
    }
}
