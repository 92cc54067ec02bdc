"""Writes the torch.ao int8 fixtures of the Fashion-MNIST sample model into tests/ShuffleNetGen.Tests/Fixtures/int8/.

Usage: /usr/bin/python3 tools/make_int8_fixtures.py [--out DIR] [--data /usr/share/datasets/fashion-mnist]
           [--engine fbgemm|onednn|qnnpack] [--accuracy]

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

The quantized engine: fbgemm where this torch has it, else onednn (Debian's torch 1.13 has no FBGEMM); it only changes
`torch_int8_logits`. Runs single-threaded; the output is the same byte for byte on every run with the same torch.
--accuracy also evaluates the torch int8 and float models on all 10,000 test images (a few minutes) and prints it.
"""

import argparse
import os
import shutil
import sys
import tempfile

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


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=OUT_DIR, help="output folder (default the test fixtures' int8/)")
    parser.add_argument("--data", default=None, help="Fashion-MNIST folder (default /usr/share/datasets/fashion-mnist)")
    parser.add_argument("--engine", choices=quantize.ENGINES, default=None,
                        help="quantized engine (default fbgemm if this torch has it, else onednn)")
    parser.add_argument("--accuracy", action="store_true", help="also evaluate on the 10,000 test images")
    args = parser.parse_args()

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
