"""Write the ShuffleNet v2 fixtures (tests/ShuffleNetGen.Tests/Fixtures/v2/) from torchvision's ShuffleNetV2 itself.

Usage:
  /usr/bin/python3 tools/make_v2_fixtures.py [--out DIR]       the committed fixtures (reproducible byte for byte)
  /usr/bin/python3 tools/make_v2_fixtures.py --count-macs      torchvision's shufflenet_v2_x0_5 .. x2_0 at 224x224
  /usr/bin/python3 tools/make_v2_fixtures.py --materialize DIR [--onnx]
                                                               also the seeded cases' weights (and ONNX) in DIR

Every case is a network torchvision builds (tools/torchvision_v2.py: `build`; shapes torchvision lacks, one input
channel or 1, 2 or 4 stages, come from swapping whole torchvision modules, and the json says how) with seeded weights
and batch-norm statistics (SplitMix64, `seeded_state_dict`), in eval mode. For each case NAME:
  NAME.json              the architecture, how torchvision built it, the seed, SHA-256 of the tensor layout and data
  NAME.io.safetensors    `input` [C,H,W] (torch.randn, seeded) and `logits` [classes]: torchvision's forward in float64
                         over the float32 weights (as tools/make_fixtures.py does for v1), stored as float32
  NAME.safetensors       (stored cases) the full state_dict with torchvision's names and order, num_batches_tracked
                         included as int64 0, exactly as torch holds it
  NAME.onnx / NAME_dynamic.onnx / NAME_bn.onnx / NAME_opset9.onnx   (stored cases, see ONNX_EXPORTS)
What torch 1.13 makes of torchvision's v2 (the json lists each file's op counts): x.chunk(2) in a stride-1 unit is
Shape -> Gather -> Add/Div/Mul -> two Slice at opset >= 11 even with static shapes, a Split at opset 9; the shuffle is
Reshape [1, 2, C/2, H, W] -> Transpose [0, 2, 1, 3, 4] -> Reshape [1, -1, H, W] with constant shapes, built from
Shape/Gather/Unsqueeze/Concat with a dynamic batch axis (opset 9 cannot export that: prim::ConstantChunk); the mean is
ReduceMean over [2, 3]; fc is Gemm. Eval export folds batch norm into conv weight + bias whatever do_constant_folding
says; only training=PRESERVE keeps BatchNormalization nodes.
The four `tv_*` cases are torchvision's shufflenet_v2_x0_5 .. x2_0 exactly (stages 4, 8, 4, 1000 classes): 5.5 to
29.6 MB of weights each, so their weights are not committed; the C# test helper (Fixtures/V2Fixture.cs) rebuilds them
from the seed and checks both SHA-256 sums before use, and --materialize writes them here.
"""

import argparse
import collections
import json
import os
import sys
import warnings

import numpy as np
import onnx
import torch
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402
import torchvision_v2 as tv2  # noqa: E402

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUT = os.path.join(REPO_ROOT, "tests", "ShuffleNetGen.Tests", "Fixtures", "v2")
SIZE_BUDGET = 6 * 1024 * 1024
INPUT_SEED_OFFSET = 500_000


def custom(stem, stages, repeats, final, input_channels, h, w, classes):
    return {"stem_channels": stem, "stage_channels": stages, "stage_repeats": repeats, "final_channels": final,
            "input_channels": input_channels, "input_height": h, "input_width": w, "classes": classes}


# name -> (config, seed, stored, what it covers)
CASES = collections.OrderedDict([
    ("tv_x0_5_64x64", (tv2.scale_config(0.5, 64, 64), 5001, False,
                       "torchvision shufflenet_v2_x0_5 (widths 24/48/96/192/1024, stages 4,8,4, 1000 classes), square input, final plane 2x2")),
    ("tv_x1_0_56x40", (tv2.scale_config(1.0, 56, 40), 5002, False,
                       "torchvision shufflenet_v2_x1_0 (24/116/232/464/1024), non-square input, final plane 2x2")),
    ("tv_x1_5_32x32", (tv2.scale_config(1.5, 32, 32), 5003, False,
                       "torchvision shufflenet_v2_x1_5 (24/176/352/704/1024), stage 4 ends on a 1x1 plane")),
    ("tv_x2_0_48x64", (tv2.scale_config(2.0, 48, 64), 5004, False,
                       "torchvision shufflenet_v2_x2_0 (24/244/488/976/2048), wider than tall")),
    ("custom_57x41", (custom(16, [32, 64, 128], [2, 3, 2], 256, 3, 57, 41, 10), 6001, True,
                      "custom widths, odd non-square input (57x41 -> 2x2 at the end), every stage with stride-1 units")),
    ("custom_odd_halves_17x13", (custom(12, [20, 44, 92], [3, 1, 2], 60, 3, 17, 13, 7), 6002, True,
                                 "halves 10/22/46 (odd), odd input whose planes reach 1x1 in stage 4 (stride-1 unit on 1 pixel), "
                                 "stage 3 with no stride-1 unit, conv5 narrower than stage 4")),
    ("gray_2stages_40x36", (custom(8, [24, 48], [2, 2], 64, 1, 40, 36, 5), 6003, True,
                            "one input channel, two stages (torchvision modules swapped, see json)")),
    ("one_stage_21x30", (custom(10, [16], [3], 32, 3, 21, 30, 4), 6004, True,
                         "a single stage (stage3/stage4 emptied), odd input")),
    ("four_stages_80x72", (custom(12, [16, 32, 48, 64], [1, 2, 2, 1], 96, 3, 80, 72, 6), 6005, True,
                           "four stages (stage5 of torchvision InvertedResidual units), a stage with only its stride-2 unit")),
])

# suffix -> (kwargs for torch.onnx.export, which cases, what it is)
ONNX_EXPORTS = collections.OrderedDict([
    ("", (dict(opset_version=13), None, "opset 13, static shapes, eval export: batch norm folded into conv weight + bias")),
    ("_dynamic", (dict(opset_version=13, dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}), None,
                  "opset 13, dynamic batch axis: the shuffle's Reshape shapes come through Shape/Gather/Unsqueeze/Concat")),
    ("_bn", (dict(opset_version=13, training=torch.onnx.TrainingMode.PRESERVE), None,
             "opset 13, training=PRESERVE on the eval model: separate BatchNormalization nodes (epsilon 1e-5), not folded")),
    ("_opset9", (dict(opset_version=9), {"custom_57x41"},
                 "opset 9, static: the stride-1 split is a Split node (opset >= 11 slices with Shape/Gather/Slice)")),
])


def reference_logits(config, tensors, x):
    """torchvision's forward in float64 over the float32 weights."""
    model = tv2.load_numpy(tv2.build(config), tensors).double().eval()
    with torch.no_grad():
        return model(torch.as_tensor(x).double().unsqueeze(0))[0]


def spatial_sizes(config):
    out = lambda s: (s - 1) // 2 + 1  # noqa: E731  3x3, pad 1, stride 2
    h, w = config["input_height"], config["input_width"]
    sizes = []
    for _ in range(2 + len(config["stage_channels"])):
        h, w = out(h), out(w)
        sizes.append((h, w))
    return sizes


def check_torchvision_names(name, config, tensors):
    """The tv_* cases: names, order, shapes and dtypes exactly those of torchvision's own shufflenet_v2_x*()."""
    scale = tv2.matching_scale(config)
    if not name.startswith("tv_"):
        return
    factory = {0.5: torchvision.models.shufflenet_v2_x0_5, 1.0: torchvision.models.shufflenet_v2_x1_0,
               1.5: torchvision.models.shufflenet_v2_x1_5, 2.0: torchvision.models.shufflenet_v2_x2_0}[scale]
    sd = factory().state_dict()
    assert list(sd) == list(tensors), f"{name}: tensor names or order differ from torchvision's"
    for k, v in sd.items():
        assert list(v.shape) == list(tensors[k].shape) and str(v.dtype).replace("torch.", "") == str(tensors[k].dtype), k


def make_case(name, out_dir, materialize_dir=None, onnx_for_seeded=False):
    config, seed, stored, covers = CASES[name]
    model = tv2.build(config)
    layout = tv2.layout(config)
    tensors = tv2.seeded_state_dict(config, seed)
    # The hand-written layout must be torchvision's state_dict: same names, order, shapes and dtypes.
    sd = tv2.state_dict_numpy(model)
    assert [n for n, _, _ in layout] == list(sd), f"{name}: layout order differs from the state_dict:\n{list(sd)}"
    for n, shape, dtype in layout:
        assert list(sd[n].shape) == shape and sd[n].dtype == tensors[n].dtype, n
    check_torchvision_names(name, config, tensors)
    tv2.load_numpy(model, tensors)
    for n, v in tv2.state_dict_numpy(model).items():
        assert v.dtype == tensors[n].dtype and np.array_equal(v, tensors[n]), f"{name}: {n} did not load as written"

    torch.manual_seed(seed + INPUT_SEED_OFFSET)
    x = torch.randn(config["input_channels"], config["input_height"], config["input_width"]).numpy()
    logits64 = reference_logits(config, tensors, x)
    logits = logits64.to(torch.float32).numpy()
    max_abs = float(np.abs(logits).max())
    if not np.all(np.isfinite(logits)) or not (1e-2 < max_abs < 1e4):
        raise RuntimeError(f"{name}: logits out of the useful range (max |logit| = {max_abs})")
    with torch.no_grad():
        out32 = model.float().eval()(torch.as_tensor(x).unsqueeze(0))[0].numpy()
    f32_err = float(np.abs(out32.astype(np.float64) - logits64.numpy()).max()) / max_abs

    base = os.path.join(out_dir, name)
    meta = {
        "architecture": "shufflenet_v2",
        **config,
        "scale": tv2.matching_scale(config),
        "covers": covers,
        "torchvision": tv2.describe(config),
        "weights": {
            "seed": seed,
            "stored": stored,
            "tensors": len(tensors),
            "layout_sha256": tv2.layout_sha256(tensors),
            "data_sha256": tv2.data_sha256(tensors),
        },
        "onnx": {},
    }
    written = [base + ".json", base + ".io.safetensors"]
    safetensors_io.save({"input": x, "logits": logits}, base + ".io.safetensors")
    weight_dirs = []
    if stored:
        weight_dirs.append(out_dir)
    if materialize_dir is not None and not stored:
        weight_dirs.append(materialize_dir)
    for d in weight_dirs:
        path = os.path.join(d, name + ".safetensors")
        safetensors_io.save_state_dict(tensors, path)
        back = safetensors_io.load(path)
        assert list(back) == list(tensors) and all(back[k].dtype == tensors[k].dtype and np.array_equal(back[k], tensors[k]) for k in tensors)
        if d == out_dir:
            written.append(path)

    onnx_lines = []
    onnx_dir = out_dir if stored else (materialize_dir if onnx_for_seeded else None)
    if onnx_dir is not None:
        for suffix, (kwargs, only, what) in ONNX_EXPORTS.items():
            if only is not None and name not in only:
                continue
            path = os.path.join(onnx_dir, name + suffix + ".onnx")
            ops = export_onnx(model, config, path, kwargs)
            if stored:
                meta["onnx"][name + suffix + ".onnx"] = {"export": what, "ops": ops}
                written.append(path)
            onnx_lines.append(f"    {name + suffix}.onnx {os.path.getsize(path)} bytes: " + ", ".join(f"{k} x{v}" for k, v in ops.items()))

    with open(base + ".json", "w", encoding="utf-8", newline="\n") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")

    io_rt = safetensors_io.load(base + ".io.safetensors")
    assert list(io_rt) == ["input", "logits"] and np.array_equal(io_rt["input"], x)
    again = reference_logits(config, tensors, io_rt["input"]).to(torch.float32).numpy()
    assert np.array_equal(again, io_rt["logits"]), f"{name}: the forward pass is not reproducible"

    n_params = sum(v.size for k, v in tensors.items() if v.dtype == np.float32)
    sizes = {os.path.basename(p): os.path.getsize(p) for p in written}
    print(f"{name}: params={n_params} max|logit|={max_abs:.4f} planes={spatial_sizes(config)} "
          f"float32_forward_rel_err={f32_err:.2e} stored={stored} bytes={sum(sizes.values())}")
    for line in onnx_lines:
        print(line)
    return sum(sizes.values())


def export_onnx(model, config, path, kwargs):
    model = model.float().eval()
    dummy = torch.zeros(1, config["input_channels"], config["input_height"], config["input_width"])
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, dummy, path, input_names=["input"], output_names=["logits"], do_constant_folding=True, **kwargs)
    m = onnx.load(path)
    onnx.checker.check_model(m, full_check=True)
    ops = collections.Counter(n.op_type for n in m.graph.node)
    bns = [n for n in m.graph.node if n.op_type == "BatchNormalization"]
    n_bn = sum(isinstance(x, torch.nn.BatchNorm2d) for x in model.modules())
    if kwargs.get("training") == torch.onnx.TrainingMode.PRESERVE:
        assert len(bns) == n_bn, f"{path}: {len(bns)} BatchNormalization nodes, the model has {n_bn} batch norms"
        for n in bns:
            eps = [a.f for a in n.attribute if a.name == "epsilon"]
            assert eps and abs(eps[0] - 1e-5) < 1e-12, f"{path}: BatchNormalization epsilon {eps}"
    else:
        assert not bns, f"{path}: batch norm was expected to be folded"
    return dict(sorted(ops.items()))


def count_macs_main():
    for fn, expected in (("shufflenet_v2_x0_5", 40_476_448), ("shufflenet_v2_x1_0", 144_907_992),
                         ("shufflenet_v2_x1_5", 295_759_392), ("shufflenet_v2_x2_0", 583_253_464)):
        model = getattr(torchvision.models, fn)()
        macs = tv2.count_macs(model, 3, 224, 224)
        params = sum(p.numel() for p in model.parameters())
        print(f"{fn}: {macs} multiply-adds at 3x224x224 (Conv2d + Linear, forward hooks), {params} parameters"
              + ("" if macs == expected else f"  MISMATCH: expected {expected}"))
        if macs != expected:
            return 1
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=DEFAULT_OUT, help="output directory (default: %(default)s)")
    parser.add_argument("--count-macs", action="store_true", help="print torchvision's v2 multiply-adds at 224 and exit")
    parser.add_argument("--materialize", metavar="DIR", help="also write the seeded cases' weights into DIR")
    parser.add_argument("--onnx", action="store_true", help="with --materialize: also the seeded cases' ONNX exports")
    parser.add_argument("--only", nargs="*", help="only these cases")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.count_macs:
        return count_macs_main()
    os.makedirs(args.out, exist_ok=True)
    if args.materialize:
        os.makedirs(args.materialize, exist_ok=True)
    names = args.only or list(CASES)
    total = sum(make_case(n, args.out, args.materialize, args.onnx) for n in names)
    print(f"total fixture bytes: {total}")
    if total > SIZE_BUDGET:
        raise RuntimeError(f"fixtures take {total} bytes, over the {SIZE_BUDGET} byte budget")
    return 0


if __name__ == "__main__":
    sys.exit(main())
