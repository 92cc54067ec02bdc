using ShuffleNetGen.Generator.Helpers;
using ShuffleNetGen.Generator.Lowering;

namespace ShuffleNetGen.Generator.Emit;

/// <summary>
/// What every kernel that reads or writes through plane tables (ShuffleNet v2's halves) does the same way: its tables
/// are literals of its shape struct, so it is a kernel of its own (a shape and a dispatcher) named by its geometry and
/// its tables (<see cref="OperandRefs.TablesSuffix"/>), while the code of its variants is shared by every kernel of that
/// geometry, which <c>KernelPaths</c> reports once (<see cref="PathKey"/>).
/// </summary>
internal static class TableKernels
{
    /// <summary>Whether an op with these plane maps reads or writes through a table.</summary>
    public static bool Applies(PlaneMap input, PlaneMap output) => input.IsTable || output.IsTable;

    /// <summary>The kernel's name: its geometry, and for a table kernel the suffix naming its tables.</summary>
    public static string Name(string geometry, PlaneMap input, PlaneMap output) =>
        Applies(input, output) ? geometry + OperandRefs.TablesSuffix(input, output) : geometry;

    /// <summary>What <c>KernelPaths</c> reports the kernel under: its name, or the shared code of a table kernel's geometry.</summary>
    public static string PathKey(string geometry, PlaneMap input, PlaneMap output) =>
        Applies(input, output) ? geometry + "_Planes" : geometry;

    /// <summary>
    /// The shape struct's members for its tables: <c>InputPlane</c> and <c>OutputPlane</c> read them, overriding the
    /// interface's slice; with <paramref name="flags"/>, <c>InputTable</c> and <c>OutputTable</c> say they do (for bodies
    /// that step through a slice otherwise).
    /// </summary>
    public static void EmitShapeMembers(SourceWriter w, PlaneMap input, PlaneMap output, bool flags)
    {
        Members("Input", input);
        Members("Output", output);

        void Members(string side, PlaneMap map)
        {
            if (!map.IsTable) return;
            if (flags) w.Line($"public static bool {side}Table => true;");
            w.Line($"public static int {side}Plane(int channel) => {OperandRefs.PlaneTable(map)}[channel];");
        }
    }
}
