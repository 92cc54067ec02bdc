"""Writes the torch.ao int8 fixtures of the Fashion-MNIST sample model into tests/ShuffleNetGen.Tests/Fixtures/int8/.

Usage: /usr/bin/python3 tools/make_int8_fixtures.py [--out DIR] [--data /usr/share/datasets/fashion-mnist]
           [--engine fbgemm|onednn|qnnpack] [--accuracy] [--only v1|v2]

Model: samples/FashionMnist/fashion_shufflenet.json + fashion_shufflenet.safetensors (float, trained by
train_fashion_mnist.py). Calibration: tools/quantize.py (torch.ao.quantization FX mode, HistogramObserver, quint8
0..127, on the 1x1 convolutions only) over the first 500 Fashion-MNIST training images, in batches of 100.

Writes
  fashion_torchao.calibration.safetensors  ONLY the calibration tensors, `{conv}.input_scale` and
                                           `{conv}.input_zero_point` ([1] each) for the 32 1x1 convolutions in forward
                                           order; merge them with the sample's float weights to get an int8 model.
  fashion_torchao.io.safetensors           `input` [64,1,28,28]: the 64 test images of
                                           Fixtures/fashion/fashion_sample.io.safetensors; `torch_int8_logits` [64,10]
                                           from torch's converted (quantized) model; `float_logits` [64,10] from the
                                           float32 torch model. Metadata: the quantized engine and the observer.
                                           The int8 logits approximate ShuffleNetGen's int8 model, they are not a
                                           bit-exact reference (torch also requantizes each 1x1 conv's output; see
                                           quantize.py).
  fashion_torchao_qdq.onnx                 the float ONNX export (export_onnx.py) turned into a QDQ model by
                                           make_qdq_onnx.py (pointwise mode) with this calibration, output ranges from
                                           the same 500 images.

ShuffleNet v2 (--only v2): Fixtures/v2/custom_57x41 (torchvision's ShuffleNetV2 with seeded weights, make_v2_fixtures.py).
torch.ao's HistogramObserver (quint8 0..127, as quantize.py) observes the input of every 1x1 convolution (branch1.2,
branch2.0, branch2.5, conv5.0) of the float torchvision model on 64 seeded torch.randn images. The QDQ model is then
torch's own export: each of those convolutions, batch norm folded in double (as WeightPacker), becomes a module that
runs torch.fake_quantize_per_tensor_affine on its input (the uint8 pair over the calibrated 7-bit range, as
make_qdq_onnx.widen_to_uint8 re-states it) and torch.fake_quantize_per_channel_affine on its weight (symmetric per
output channel, max|w|/127), and torch.onnx.export (opset 13) writes them as QuantizeLinear/DequantizeLinear. Writes
  v2_custom_57x41_torchao.calibration.safetensors  the observers' `{conv}.input_scale` / `{conv}.input_zero_point`
                                                   (torchvision names, torchvision's module order:
                                                   branch1 before branch2)
  v2_custom_57x41_torchao_qdq.onnx                 the QDQ export
  v2_custom_57x41_torchao.io.safetensors           `input` [8,3,57,41] (seeded, not the calibration images);
                                                   `qdq_logits` [8,10]: the QDQ file run by make_qdq_onnx.run_graph (a
                                                   numpy ONNX interpreter; the script checks it against torch's forward
                                                   of the exported module); `float_logits` from the float model.

The quantized engine: fbgemm where this torch has it, else onednn (Debian's torch 1.13 has no FBGEMM); it only changes
`torch_int8_logits`. Runs single-threaded; the output is the same byte for byte on every run with the same torch.
--accuracy also evaluates the torch int8 and float models on all 10,000 test images (a few minutes) and prints it.
"""

import argparse
import collections
import copy
import json
import os
import shutil
import sys
import tempfile
import warnings

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import export_onnx  # noqa: E402
import make_qdq_onnx  # noqa: E402
import quantize  # noqa: E402
import safetensors_io  # noqa: E402

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLE = os.path.join(REPO_ROOT, "samples", "FashionMnist")
CONFIG = os.path.join(SAMPLE, "fashion_shufflenet.json")
WEIGHTS = os.path.join(SAMPLE, "fashion_shufflenet.safetensors")
TEST_IMAGES = os.path.join(REPO_ROOT, "tests", "ShuffleNetGen.Tests", "Fixtures", "fashion", "fashion_sample.io.safetensors")
OUT_DIR = os.path.join(REPO_ROOT, "tests", "ShuffleNetGen.Tests", "Fixtures", "int8")
CALIBRATION_IMAGES = 500
BATCH = 100
OBSERVER = "histogram"
NAME = "fashion_torchao"


def cosine(a, b):
    a, b = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


# ---------------------------------------------------------------------------------------------------------------------
# ShuffleNet v2: torchvision's model, torch.ao observers, torch's QDQ export.

V2_CASE = "custom_57x41"
V2_FIXTURES = os.path.join(REPO_ROOT, "tests", "ShuffleNetGen.Tests", "Fixtures", "v2")
V2_NAME = "v2_custom_57x41_torchao"
V2_CALIBRATION_IMAGES = 64
V2_TEST_IMAGES = 8
V2_SEED = 7100
V2_OPSET = 13  # per-axis QuantizeLinear (the weights) needs 13


def v2_pointwise(model):
    """(name, Sequential, index) of every 1x1 convolution of a torchvision ShuffleNetV2, in forward order."""
    found = []
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Sequential):
            for i, child in enumerate(module):
                if isinstance(child, torch.nn.Conv2d) and child.kernel_size == (1, 1):
                    found.append((f"{name}.{i}", module, i))
    return found


def v2_observe(model, pointwise, images):
    """{conv: (float32 scale, zero point)} from a torch.ao HistogramObserver (quint8, 0..127) on each 1x1 input."""
    observers, hooks = {}, []
    for name, seq, i in pointwise:
        observer = quantize.make_qconfig(OBSERVER).activation()
        observers[name] = observer
        hooks.append(seq[i].register_forward_pre_hook(lambda m, inp, o=observer: o(inp[0])))
    with torch.no_grad():
        for k in range(0, images.shape[0], 16):
            model(images[k:k + 16])
    for h in hooks:
        h.remove()
    params = {}
    for name, observer in observers.items():
        scale, zero = observer.calculate_qparams()
        params[name] = (np.float32(scale.item()), int(zero.item()))
        assert params[name][0] > 0 and 0 <= params[name][1] <= quantize.ACTIVATION_MAX, (name, params[name])
    return params


class FakeQuantizedConv(torch.nn.Module):
    """A 1x1 convolution with its batch norm folded, its input and weight fake-quantized: what exports as Q/DQ pairs."""

    def __init__(self, conv, bn, input_scale, input_zero):
        super().__init__()
        w = conv.weight.detach().double()
        scale = bn.weight.detach().double() / torch.sqrt(bn.running_var.detach().double() + make_qdq_onnx.BATCH_NORM_EPSILON)
        folded = w * scale.reshape(-1, 1, 1, 1)
        shift = bn.bias.detach().double() - bn.running_mean.detach().double() * scale
        _, weight_scale = make_qdq_onnx.quantize_channels(folded.numpy())
        self.weight = torch.nn.Parameter(folded.float(), requires_grad=False)
        self.bias = torch.nn.Parameter(shift.float(), requires_grad=False)
        self.register_buffer("weight_scale", torch.tensor(weight_scale, dtype=torch.float32))
        self.register_buffer("weight_zero", torch.zeros(len(weight_scale), dtype=torch.int32))
        self.input_scale, self.input_zero = float(input_scale), int(input_zero)

    def forward(self, x):
        x = torch.fake_quantize_per_tensor_affine(x, self.input_scale, self.input_zero, 0, make_qdq_onnx.UINT8_MAX)
        w = torch.fake_quantize_per_channel_affine(self.weight, self.weight_scale, self.weight_zero, 0, -128, 127)
        return torch.nn.functional.conv2d(x, w, self.bias)


def v2_fake_quantized(model, params):
    """A copy of `model` whose 1x1 convolutions read their input through the uint8 pair covering each 7-bit range."""
    model = copy.deepcopy(model).eval()
    for name, seq, i in v2_pointwise(model):
        s8, z8 = make_qdq_onnx.widen_to_uint8(*params[name])
        seq[i] = FakeQuantizedConv(seq[i], seq[i + 1], s8, z8)
        seq[i + 1] = torch.nn.Identity()
    return model


def store_quantized_weights(model, input_length):
    """torch exports a fake-quantized weight as QuantizeLinear -> DequantizeLinear on the float weight; a quantizer
    (onnxruntime.quantization, make_qdq_onnx.py) stores the int8 weight behind the DequantizeLinear instead. Each
    QuantizeLinear of an initializer becomes that initializer, computed by the numpy interpreter as ONNX defines it.
    Returns how many were replaced."""
    from onnx import numpy_helper

    graph = model.graph
    inits = {i.name for i in graph.initializer}
    weight_quantizers = [n for n in graph.node if n.op_type == "QuantizeLinear" and n.input[0] in inits]
    values = make_qdq_onnx.run_graph(graph, {graph.input[0].name: np.zeros((1, input_length), np.float32).reshape(
        [d.dim_value for d in graph.input[0].type.tensor_type.shape.dim])})
    for q in weight_quantizers:
        graph.initializer.append(numpy_helper.from_array(values[q.output[0]], q.output[0]))
        graph.node.remove(q)
    while True:  # the Identity/Constant nodes that fed only the removed QuantizeLinears
        used = {name for node in graph.node for name in node.input} | {o.name for o in graph.output}
        unused = [n for n in graph.node if n.op_type in ("Identity", "Constant") and not any(o in used for o in n.output)]
        if not unused:
            break
        for n in unused:
            graph.node.remove(n)
    make_qdq_onnx._drop_unused_initializers(graph)
    return len(weight_quantizers)


def make_v2(out_dir):
    import onnx
    import torchvision_v2 as tv2

    with open(os.path.join(V2_FIXTURES, V2_CASE + ".json"), encoding="utf-8") as f:
        config = {k: v for k, v in json.load(f).items() if k in ("stem_channels", "stage_channels", "stage_repeats",
                                                               "final_channels", "input_channels", "input_height",
                                                               "input_width", "classes")}
    model = tv2.load_numpy(tv2.build(config), safetensors_io.load(os.path.join(V2_FIXTURES, V2_CASE + ".safetensors"))).eval()
    shape = (config["input_channels"], config["input_height"], config["input_width"])
    generator = torch.Generator().manual_seed(V2_SEED)
    calibration = torch.randn((V2_CALIBRATION_IMAGES,) + shape, generator=generator)
    test = torch.randn((V2_TEST_IMAGES,) + shape, generator=generator)

    pointwise = v2_pointwise(model)
    params = v2_observe(model, pointwise, calibration)
    fake = v2_fake_quantized(model, params)

    os.makedirs(out_dir, exist_ok=True)
    calibration_path = os.path.join(out_dir, f"{V2_NAME}.calibration.safetensors")
    safetensors_io.save(quantize.calibration_only(params), calibration_path)

    qdq_path = os.path.join(out_dir, f"{V2_NAME}_qdq.onnx")
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(fake, torch.zeros((1,) + shape), qdq_path, input_names=["input"], output_names=["logits"],
                          opset_version=V2_OPSET, do_constant_folding=True)
    exported = onnx.load(qdq_path)
    stored = store_quantized_weights(exported, int(np.prod(shape)))
    onnx.save(exported, qdq_path)
    onnx.checker.check_model(exported, full_check=True)
    ops = collections.Counter(n.op_type for n in exported.graph.node)

    # The expected logits: the file itself, run by the numpy ONNX interpreter, one image at a time (batch 1 export).
    qdq = np.stack([make_qdq_onnx.run_graph(exported.graph, {"input": x[None]})["logits"][0] for x in test.numpy()])
    with torch.no_grad():
        torch_qdq = fake(test).numpy()
        float_logits = model(test).numpy()
    # torch fake-quantizes by multiplying with 1/scale, ONNX divides by scale: an activation on a rounding boundary
    # lands one step apart, which moves that image's logits by up to about 1% (seen on one image in 16), the others to 1e-7.
    interpreter_vs_torch = float(np.abs(qdq - torch_qdq).max() / np.abs(torch_qdq).max())
    close = np.abs(qdq - torch_qdq).max(axis=1) / np.abs(torch_qdq).max(axis=1)
    assert np.sum(close < 1e-5) >= V2_TEST_IMAGES - 1 and interpreter_vs_torch < 3e-2, \
        f"the ONNX interpreter and torch disagree on the QDQ model: per image {close}"
    io_path = os.path.join(out_dir, f"{V2_NAME}.io.safetensors")
    safetensors_io.save({"input": test.numpy(), "qdq_logits": qdq.astype(np.float32), "float_logits": float_logits}, io_path,
                        metadata={"observer": OBSERVER, "calibration": f"{V2_CALIBRATION_IMAGES} torch.randn images, seed {V2_SEED}",
                                  "qdq_logits": "the QDQ file run by tools/make_qdq_onnx.py run_graph"})

    back = safetensors_io.load(calibration_path)
    assert list(back) == [n + s for n, _, _ in pointwise for s in (quantize.INPUT_SCALE, quantize.INPUT_ZERO_POINT)]
    print(f"v2 {V2_CASE}: {len(params)} 1x1 convolutions observed on {V2_CALIBRATION_IMAGES} images; {stored} int8 weights stored; QDQ export ops "
          + ", ".join(f"{k} x{v}" for k, v in sorted(ops.items())))
    agree = int(np.sum(qdq.argmax(1) == float_logits.argmax(1)))
    print(f"  ONNX interpreter vs torch fake-quant forward: max relative difference {interpreter_vs_torch:.2e};"
          f" images within 1e-5: {int(np.sum(close < 1e-5))}/{V2_TEST_IMAGES};"
          f" QDQ vs float top-1 {agree}/{V2_TEST_IMAGES}, worst centred cosine"
          f" {min(cosine(a - a.mean(), b - b.mean()) for a, b in zip(qdq, float_logits)):.5f}")
    for path in (calibration_path, io_path, qdq_path):
        print(f"  {os.path.relpath(path, REPO_ROOT)}: {os.path.getsize(path)} bytes")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=OUT_DIR, help="output folder (default the test fixtures' int8/)")
    parser.add_argument("--data", default=None, help="Fashion-MNIST folder (default /usr/share/datasets/fashion-mnist)")
    parser.add_argument("--engine", choices=quantize.ENGINES, default=None,
                        help="quantized engine (default fbgemm if this torch has it, else onednn)")
    parser.add_argument("--accuracy", action="store_true", help="also evaluate on the 10,000 test images")
    parser.add_argument("--only", choices=("v1", "v2"), default=None, help="write only the v1 (Fashion-MNIST) or the v2 fixtures")
    args = parser.parse_args()

    if args.only != "v1":
        torch.set_num_threads(1)
        make_v2(os.path.join(REPO_ROOT, "tests", "ShuffleNetGen.Tests", "Fixtures", "int8") if args.out == OUT_DIR else args.out)
    if args.only == "v2":
        return
    try:
        torch.set_num_threads(1)
        config = quantize.read_config(CONFIG)
        weights = quantize.read_weights(WEIGHTS)
        shape = quantize.input_shape(config)
        images, _ = quantize.fashion_mnist_images(CALIBRATION_IMAGES, shape, args.data)
        test = quantize.images_from_safetensors(TEST_IMAGES, shape, "input")
        if args.engine:
            quantize.set_engine(args.engine)
        result = quantize.run(config, weights, images, OBSERVER, BATCH, args.engine)
    except quantize.QuantizeError as e:
        raise SystemExit(f"make_int8_fixtures.py: {e}")
    params, observers, engine = result["params"], result["observers"], result["engine"]
    os.makedirs(args.out, exist_ok=True)

    calibration_path = os.path.join(args.out, f"{NAME}.calibration.safetensors")
    safetensors_io.save(quantize.calibration_only(params), calibration_path)

    q = quantize.logits(result["quantized"], test)
    f = quantize.logits(result["model"], test)
    io_path = os.path.join(args.out, f"{NAME}.io.safetensors")
    safetensors_io.save({"input": test.numpy(), "torch_int8_logits": q, "float_logits": f}, io_path,
                        metadata={"engine": engine, "observer": OBSERVER,
                                  "calibration": f"first {CALIBRATION_IMAGES} Fashion-MNIST training images"})

    qdq_path = os.path.join(args.out, f"{NAME}_qdq.onnx")
    scratch = tempfile.mkdtemp(prefix="int8_fixtures_")
    try:
        float_onnx = os.path.join(scratch, "float.onnx")
        export_onnx.export(config, weights, float_onnx)
        calibrated = quantize.calibrated_tensors(weights, params)
        qdq_report = make_qdq_onnx.write_qdq(float_onnx, calibrated, images.numpy().reshape(images.shape[0], -1), qdq_path,
                                             mode="pointwise")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    # Reload what was written and check it, as a consumer would.
    back = safetensors_io.load(calibration_path)
    assert list(back) == [n + s for n in result["names"] for s in (quantize.INPUT_SCALE, quantize.INPUT_ZERO_POINT)]
    for name, (scale, zero) in params.items():
        assert back[name + quantize.INPUT_SCALE][0] == scale and back[name + quantize.INPUT_ZERO_POINT][0] == zero
    io = safetensors_io.load(io_path)
    assert io["input"].shape == (test.shape[0],) + shape and io["torch_int8_logits"].shape == io["float_logits"].shape

    print(f"torch {torch.__version__}, quantized engine {engine}, {OBSERVER} observer, {CALIBRATION_IMAGES} calibration images")
    for line in quantize.scale_table(params, observers):
        print("  " + line)
    ratios = [float(s) / float(quantize.plain_min_max(observers[n])[0]) for n, (s, _) in params.items()]
    print(f"torch scale / plain min-max scale: min {min(ratios):.3f}, median {np.median(ratios):.3f}, max {max(ratios):.3f}")
    worst, differ, total = quantize.weight_check(result["quantized"], weights, result["names"])
    print(f"converted model's int8 weights: scales within {worst:.1e} of ShuffleNetGen's, {differ} of {total} integers differ")
    for line in qdq_report:
        print(line)
    agree = int(np.sum(q.argmax(1) == f.argmax(1)))
    per_image = [cosine(a, b) for a, b in zip(q, f)]
    centred = [cosine(a - a.mean(), b - b.mean()) for a, b in zip(q, f)]
    print(f"{test.shape[0]} fixture images: torch int8 vs float top-1 agree on {agree}/{test.shape[0]}; cosine similarity"
          f" {cosine(q, f):.6f} over all logits, per image mean {np.mean(per_image):.6f} (min {min(per_image):.6f}),"
          f" per image of centred logits mean {np.mean(centred):.6f} (min {min(centred):.6f});"
          f" max |dlogit| {np.abs(q - f).max():.4f}")
    for path in (calibration_path, io_path, qdq_path):
        print(f"{os.path.relpath(path, REPO_ROOT)}: {os.path.getsize(path)} bytes")

    if args.accuracy:
        test_all, labels = quantize.fashion_mnist_images(None, shape, args.data, split="test")
        qa = quantize.logits(result["quantized"], test_all).argmax(1)
        fa = quantize.logits(result["model"], test_all).argmax(1)
        n = len(labels)
        print(f"Fashion-MNIST test ({n} images): torch int8 ({engine}) accuracy {np.mean(qa == labels):.4f},"
              f" float accuracy {np.mean(fa == labels):.4f}, top-1 agreement {np.mean(qa == fa):.4f}")


if __name__ == "__main__":
    main()
