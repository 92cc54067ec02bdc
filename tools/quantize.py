"""Post-training int8 calibration with PyTorch's torch.ao.quantization, written as ShuffleNetGen's calibrated weights.

Usage:
  /usr/bin/python3 tools/quantize.py --config CFG.json --weights W.safetensors --out calibrated.safetensors
      (--images imgs.safetensors | --fashion-mnist N) [--observer histogram|minmax] [--batch 100]
      [--engine fbgemm|onednn|qnnpack] [--io-images test.safetensors --io-out io.safetensors]
      [--onnx float.onnx --qdq-out qdq.onnx [--qdq-mode pointwise|depthwise|full]]

What it does
  1. Builds `ShuffleNetV1.from_config(CFG)` with the float weights, in eval mode.
  2. FX graph mode: `prepare_fx` with a QConfigMapping whose global qconfig is None and which sets a qconfig only on
     the 1x1 convolutions `units.N.conv1` / `units.N.conv3` (the ones ShuffleNetGen's int8 model quantizes).
     Activations: HistogramObserver (default) or MinMaxObserver, quint8 with quant_min 0 and quant_max 127, i.e. the
     7-bit range of fbgemm's reduce_range and of ShuffleNetGen's ActivationQuantization. Weights:
     PerChannelMinMaxObserver, qint8, per_channel_symmetric over -127..127 (scale max|w|/127, as WeightPacker).
     prepare_fx fuses each conv with its batch norm (and conv1 with its ReLU) first, so the weight observer sees the
     folded weights, as ShuffleNetGen's quantizer does (torch folds in float32, ShuffleNetGen in double).
     The channel shuffle (a plain function in shufflenet.py that unpacks `x.shape`, which FX cannot trace) is wrapped
     in a leaf module for tracing; it computes the same thing.
  3. Runs the calibration images through the prepared model (in batches of --batch, single-threaded).
  4. For each 1x1 conv, finds the observer of its INPUT in the prepared GraphModule's graph (the conv's call_module
     node's args[0] is the observer's call_module node) and takes its `calculate_qparams()`; the zero point must be an
     integer in 0..127 and the scale positive and finite.
  5. Writes OUT: every float tensor of W as loaded (same order; calibration tensors already in W are replaced), then
     for each 1x1 conv in forward order `{conv}.input_scale` and `{conv}.input_zero_point` (F32, shape [1], the zero
     point an integer stored as float), the order Int8Calibration.Calibrate + Safetensors.Write give in C#.
     The int8 weight file (I8 weights, batch norm folded, docs/int8.md) is written from OUT in C#, where the loader's
     folding and rounding live: `samples/FashionMnist -- --write-int8 OUT INT8_OUT` for the Fashion-MNIST model, or
     Safetensors.Write(path, Safetensors.Read(OUT, Net.Description), Net.Description) for any declared model.
  6. `convert_fx` gives torch's quantized model (engine --engine). With --io-images (a safetensors file with an
     `input` tensor, or a single tensor, [N, C, H, W]) and --io-out it writes `input`, `torch_int8_logits` (the
     converted model) and `float_logits` (the float model) for those images.
     Torch's converted model is NOT a bit-exact reference of ShuffleNetGen's int8 kernels: besides quantizing each 1x1
     conv's input like ShuffleNetGen, it requantizes each such conv's output to quint8 with that output's own observer
     (ShuffleNetGen dequantizes the int32 sums straight to float), its weights come from a float32 batch-norm fold, and
     its integer kernels round their requantization their own way. Its logits are an approximation of the int8 model.
  7. With --onnx (a float export of tools/export_onnx.py for the same weights) and --qdq-out, hands the calibrated
     tensors to make_qdq_onnx.py's `write_qdq` (module import), which writes the QDQ model (uint8 Q/DQ pairs over the
     same real ranges, see that script), with its output ranges from the same calibration images.

The qparams follow torch's rules: MinMaxObserver's are ActivationQuantization.FromRange of the observed min/max but
computed in float32 (the scale can be an ulp off FromRange's double computation; the script prints the comparison);
HistogramObserver picks a narrower range by minimizing the quantization error over a histogram (it models 256
quantization bins, whatever quant_max is). For each conv the script prints torch's scale and zero point beside those
a plain min/max over the same images would give (FromRange of the observer's min_val / max_val, which both observers
track).

Engines: fbgemm is torch's x86 engine, the one whose reduce_range matches these 7-bit activations. Debian's
python3-torch 1.13 is built without FBGEMM (`torch.backends.quantized.supported_engines` lists qnnpack, onednn); the default --engine is
fbgemm where supported, else onednn. The choice only affects the converted model's logits, not the calibration.

--fashion-mnist N takes the first N training images of /usr/share/datasets/fashion-mnist (--data to change), read and
normalized by train_fashion_mnist.py's functions. --images takes a safetensors file with one [N, C, H, W] tensor.
"""

import argparse
import copy
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_qdq_onnx  # noqa: E402
import safetensors_io  # noqa: E402
from shufflenet import ShuffleNetV1, load_weights  # noqa: E402

from torch.ao.quantization import (  # noqa: E402
    HistogramObserver,
    MinMaxObserver,
    PerChannelMinMaxObserver,
    QConfig,
    QConfigMapping,
)
from torch.ao.quantization.fx.custom_config import PrepareCustomConfig  # noqa: E402
from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx  # noqa: E402

INPUT_SCALE = make_qdq_onnx.INPUT_SCALE  # ".input_scale", Int8Calibration.InputScaleSuffix
INPUT_ZERO_POINT = make_qdq_onnx.INPUT_ZERO_POINT
ACTIVATION_MIN, ACTIVATION_MAX = 0, make_qdq_onnx.ACTIVATION_MAX  # 7 bits: 0..127
WEIGHT_MAX = 127  # symmetric -127..127, as WeightPacker.QuantizeChannel
OBSERVERS = ("histogram", "minmax")
ENGINES = ("fbgemm", "onednn", "qnnpack")


class QuantizeError(Exception):
    """A problem with the inputs, reported as a message rather than a traceback."""


class ShuffleLeaf(nn.Module):
    """The unit's shuffle function as a module, so that FX keeps it as one call (a leaf) instead of tracing into it."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x, groups):
        return self.fn(x, groups)


def default_engine():
    engines = torch.backends.quantized.supported_engines
    return "fbgemm" if "fbgemm" in engines else "onednn"


def set_engine(engine):
    if engine not in torch.backends.quantized.supported_engines:
        raise QuantizeError(f"quantized engine {engine!r} is not in this torch build "
                            f"(supported: {', '.join(torch.backends.quantized.supported_engines)})")
    torch.backends.quantized.engine = engine


def read_config(path):
    if not os.path.isfile(path):
        raise QuantizeError(f"config {path}: no such file")
    with open(path, encoding="utf-8") as f:
        try:
            return json.load(f)
        except json.JSONDecodeError as e:
            raise QuantizeError(f"config {path}: not JSON ({e})")


def read_weights(path):
    if not os.path.isfile(path):
        raise QuantizeError(f"weights {path}: no such file")
    try:
        return safetensors_io.load(path)
    except (ValueError, OSError) as e:
        raise QuantizeError(f"weights {path}: {e}")


def float_model(config, weights):
    """ShuffleNetV1.from_config(config) with `weights` (calibration tensors in it are ignored), in eval mode."""
    try:
        model = ShuffleNetV1.from_config(config)
        plain = {k: v for k, v in weights.items() if not k.endswith((INPUT_SCALE, INPUT_ZERO_POINT))}
        return load_weights(model, plain).eval()
    except (KeyError, ValueError) as e:
        raise QuantizeError(f"weights do not fit the config: {e}")


def input_shape(config):
    return (int(config["input_channels"]), int(config["input_height"]), int(config["input_width"]))


def pointwise_convolutions(model):
    """The 1x1 convolutions ShuffleNetGen quantizes, in forward order (Int8Calibration.PointwiseConvolutions)."""
    return [f"units.{i}.conv{k}" for i in range(len(model.units)) for k in (1, 3)]


def check_images(images, shape, what):
    """`images` as a float32 [N, C, H, W] tensor matching the model's input `shape`, or a QuantizeError."""
    if images.ndim != 4 or tuple(images.shape[1:]) != tuple(shape):
        raise QuantizeError(f"{what}: shape {list(images.shape)}, expected [N, {', '.join(map(str, shape))}]")
    if images.shape[0] == 0:
        raise QuantizeError(f"{what}: no images")
    if not np.all(np.isfinite(images)):
        raise QuantizeError(f"{what}: non-finite values")
    return torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))


def images_from_safetensors(path, shape, name=None):
    """The [N, C, H, W] tensor of a safetensors file: `name` if given and present, else its only tensor."""
    if not os.path.isfile(path):
        raise QuantizeError(f"images {path}: no such file")
    try:
        tensors = safetensors_io.load(path)
    except (ValueError, OSError) as e:
        raise QuantizeError(f"images {path}: {e}")
    if name is not None and name in tensors:
        images = tensors[name]
    elif len(tensors) == 1:
        images = next(iter(tensors.values()))
    else:
        wanted = f"a tensor named {name!r} or " if name else ""
        raise QuantizeError(f"images {path}: expected {wanted}exactly one tensor, found {sorted(tensors)}")
    return check_images(images, shape, f"images {path}")


def fashion_mnist_images(count, shape, data_dir=None, split="train"):
    """The first `count` Fashion-MNIST images of `split`, normalized as train_fashion_mnist.py does; and their labels."""
    import train_fashion_mnist as fashion  # imported here: only this input needs it

    data_dir = data_dir or fashion.DATA_DIR
    if tuple(shape) != (1, 28, 28):
        raise QuantizeError(f"--fashion-mnist: the model takes {list(shape)} images, Fashion-MNIST's are [1, 28, 28]")
    prefix = "train" if split == "train" else "t10k"
    for suffix in ("images-idx3-ubyte.gz", "labels-idx1-ubyte.gz"):
        if not os.path.isfile(os.path.join(data_dir, f"{prefix}-{suffix}")):
            raise QuantizeError(f"--fashion-mnist: {os.path.join(data_dir, prefix + '-' + suffix)}: no such file")
    images, labels = fashion.load_split(data_dir, split)
    if count is None:
        count = images.shape[0]
    if count < 1:
        raise QuantizeError("--fashion-mnist: at least one calibration image is needed")
    if count > images.shape[0]:
        raise QuantizeError(f"--fashion-mnist {count}: the {split} split has only {images.shape[0]} images")
    x = fashion.normalize(images[:count])
    return check_images(x.numpy(), shape, "Fashion-MNIST images"), labels[:count].astype(np.int64)


def make_qconfig(observer):
    if observer not in OBSERVERS:
        raise QuantizeError(f"observer {observer!r}: expected one of {OBSERVERS}")
    cls = HistogramObserver if observer == "histogram" else MinMaxObserver
    activation = cls.with_args(dtype=torch.quint8, qscheme=torch.per_tensor_affine,
                               quant_min=ACTIVATION_MIN, quant_max=ACTIVATION_MAX)
    weight = PerChannelMinMaxObserver.with_args(dtype=torch.qint8, qscheme=torch.per_channel_symmetric,
                                                quant_min=-WEIGHT_MAX, quant_max=WEIGHT_MAX)
    return QConfig(activation=activation, weight=weight)


def prepare(model, shape, observer="histogram"):
    """A prepared (observed) FX GraphModule of a copy of `model`, with observers on the 1x1 convs only."""
    model = copy.deepcopy(model).eval()
    for unit in model.units:
        unit.shuffle = ShuffleLeaf(unit.shuffle)
    qconfig = make_qconfig(observer)
    mapping = QConfigMapping().set_global(None)
    for name in pointwise_convolutions(model):
        mapping.set_module_name(name, qconfig)
    custom = PrepareCustomConfig().set_non_traceable_module_classes([ShuffleLeaf])
    example = (torch.zeros((1,) + tuple(shape)),)
    return prepare_fx(model, mapping, example_inputs=example, prepare_custom_config=custom)


def calibrate(prepared, images, batch=100):
    with torch.no_grad():
        for i in range(0, images.shape[0], batch):
            try:
                prepared(images[i:i + batch])
            except RuntimeError as e:
                # HistogramObserver bins with torch.histc, which fails on ranges near float's limit (a finite 1e38
                # pixel: "Overflow when unpacking long"); MinMaxObserver gets through and its scale is refused later.
                # Either way the images are at fault, so a one-line error, not torch's traceback.
                first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                raise QuantizeError(f"calibration images {i}..{min(i + batch, images.shape[0]) - 1}: the observers failed"
                                    f" ({first}); an image drives an activation beyond what they can bin"
                                    f" (largest |pixel| in these images: {float(images[i:i + batch].abs().max()):.3g})")


def input_observers(prepared, names):
    """name -> the observer module that observes that 1x1 conv's input, found in the prepared graph."""
    modules = dict(prepared.named_modules())
    found = {}
    for node in prepared.graph.nodes:
        if node.op == "call_module" and node.target in names:
            if node.target in found:
                raise QuantizeError(f"{node.target} is called twice in the traced graph")
            arg = node.args[0]
            observer = modules.get(arg.target) if getattr(arg, "op", None) == "call_module" else None
            if observer is None or not hasattr(observer, "calculate_qparams"):
                raise QuantizeError(f"{node.target}: its input is {arg}, not an observer (was it fused or skipped?)")
            found[node.target] = observer
    missing = [n for n in names if n not in found]
    if missing:
        raise QuantizeError(f"no quantized call of {missing} in the traced graph")
    return found


def input_qparams(prepared, names):
    """name -> (float32 scale, int zero point) of each 1x1 conv's input observer, checked; plus the observers."""
    observers = input_observers(prepared, names)
    params = {}
    for name in names:
        scale_t, zero_t = observers[name].calculate_qparams()
        if scale_t.numel() != 1 or zero_t.numel() != 1:
            raise QuantizeError(f"{name}: input observer gave {scale_t.numel()} scales, expected one (per tensor)")
        scale = np.float32(scale_t.reshape(-1)[0].item())
        zero = int(zero_t.reshape(-1)[0].item())
        if not (np.isfinite(scale) and scale > 0):
            raise QuantizeError(f"{name}: input scale {scale!r} is not positive and finite")
        if not ACTIVATION_MIN <= zero <= ACTIVATION_MAX:
            raise QuantizeError(f"{name}: input zero point {zero} outside {ACTIVATION_MIN}..{ACTIVATION_MAX}")
        params[name] = (scale, zero)
    return params, observers


def plain_min_max(observer):
    """FromRange (ShuffleNetGen's MinMax rule) over the observer's overall min_val / max_val."""
    return make_qdq_onnx.from_range(float(observer.min_val), float(observer.max_val), ACTIVATION_MAX)


def calibrated_tensors(weights, params):
    """The float weights as loaded (calibration tensors replaced) plus the calibration tensors, in C#'s order."""
    out = {k: v for k, v in weights.items() if not k.endswith((INPUT_SCALE, INPUT_ZERO_POINT))}
    out.update(calibration_only(params))
    return out


def calibration_only(params):
    out = {}
    for name, (scale, zero) in params.items():
        out[name + INPUT_SCALE] = np.array([scale], dtype=np.float32)
        out[name + INPUT_ZERO_POINT] = np.array([zero], dtype=np.float32)
    return out


def convert(prepared, engine):
    set_engine(engine)
    return convert_fx(copy.deepcopy(prepared))


def logits(model, images, batch=100):
    out = []
    with torch.no_grad():
        for i in range(0, images.shape[0], batch):
            out.append(model(images[i:i + batch]))
    return torch.cat(out).numpy().astype(np.float32)


def weight_check(quantized, weights, names):
    """Compares the converted model's int8 weights with ShuffleNetGen's (double BN fold, max|w|/127):
    (largest relative scale difference, integer weights that differ, total)."""
    modules = dict(quantized.named_modules())
    worst, differ, total = 0.0, 0, 0
    for name in names:
        qw = modules[name].weight()
        ref = make_qdq_onnx.folded_weights(weights, name)
        if ref is None:
            continue
        q_ref, s_ref = make_qdq_onnx.quantize_channels(ref[0])
        s = qw.q_per_channel_scales().numpy()
        worst = max(worst, float(np.max(np.abs(s - s_ref) / s_ref)))
        differ += int(np.sum(qw.int_repr().numpy() != q_ref))
        total += q_ref.size
    return worst, differ, total


def scale_table(params, observers):
    """Lines: per conv, torch's (scale, zero point) beside a plain min/max's FromRange."""
    lines = [f"{'conv':<16} {'torch scale':>12} {'zp':>4}   {'min/max scale':>13} {'zp':>4}   {'ratio':>6}   observed range"]
    for name, (scale, zero) in params.items():
        obs = observers[name]
        mm_scale, mm_zero = plain_min_max(obs)
        lines.append(f"{name:<16} {float(scale):12.6g} {zero:4d}   {float(mm_scale):13.6g} {mm_zero:4d}   "
                     f"{float(scale) / float(mm_scale):6.3f}   [{float(obs.min_val):.4g}, {float(obs.max_val):.4g}]")
    return lines


def minmax_agreement(params, observers):
    """For MinMaxObserver: torch's qparams against FromRange of the same min/max: (zero points equal, largest ulps)."""
    same, ulps = True, 0.0
    for name, (scale, zero) in params.items():
        s, z = plain_min_max(observers[name])
        same &= z == zero
        ulps = max(ulps, abs(float(s) - float(scale)) / float(np.spacing(np.float32(s))))
    return same, ulps


def run(config, weights, images, observer="histogram", batch=100, engine=None):
    """Calibrates; returns a dict: model (float), prepared, params (name -> (scale, zp)), observers, quantized, engine."""
    model = float_model(config, weights)
    names = pointwise_convolutions(model)
    prepared = prepare(model, input_shape(config), observer)
    calibrate(prepared, images, batch)
    params, observers = input_qparams(prepared, names)
    engine = engine or default_engine()
    quantized = convert(prepared, engine)
    return {"model": model, "names": names, "prepared": prepared, "params": params, "observers": observers,
            "quantized": quantized, "engine": engine}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="model config JSON (tools/shufflenet.py keys)")
    parser.add_argument("--weights", required=True, help="float weights, canonical safetensors")
    parser.add_argument("--out", required=True, help="output: float weights + calibration tensors")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--images", help="calibration images: safetensors with one [N,C,H,W] F32 tensor")
    source.add_argument("--fashion-mnist", type=int, metavar="N", help="calibrate on the first N Fashion-MNIST training images")
    parser.add_argument("--data", default=None, help="Fashion-MNIST folder (default /usr/share/datasets/fashion-mnist)")
    parser.add_argument("--observer", choices=OBSERVERS, default="histogram", help="activation observer (default histogram)")
    parser.add_argument("--batch", type=int, default=100, help="calibration batch size (default 100)")
    parser.add_argument("--engine", choices=ENGINES, default=None,
                        help="quantized engine for the converted model (default fbgemm if this torch has it, else onednn)")
    parser.add_argument("--io-images", help="test images for --io-out: safetensors with an `input` (or a single) [N,C,H,W] tensor")
    parser.add_argument("--io-out", help="write input / torch_int8_logits / float_logits for --io-images here")
    parser.add_argument("--onnx", help="float ONNX export (tools/export_onnx.py) of the same weights, for --qdq-out")
    parser.add_argument("--qdq-out", help="write the QDQ ONNX model (make_qdq_onnx.py) here")
    parser.add_argument("--qdq-mode", choices=make_qdq_onnx.MODES, default="pointwise", help="make_qdq_onnx.py --mode")
    args = parser.parse_args()

    try:
        if (args.io_images is None) != (args.io_out is None):
            raise QuantizeError("--io-images and --io-out go together")
        if (args.onnx is None) != (args.qdq_out is None):
            raise QuantizeError("--onnx and --qdq-out go together")
        if args.onnx is not None and not os.path.isfile(args.onnx):
            raise QuantizeError(f"--onnx {args.onnx}: no such file")
        if args.batch < 1:
            raise QuantizeError("--batch must be at least 1")
        torch.set_num_threads(1)
        config = read_config(args.config)
        weights = read_weights(args.weights)
        shape = input_shape(config)
        if args.images is not None:
            images = images_from_safetensors(args.images, shape)
        else:
            images, _ = fashion_mnist_images(args.fashion_mnist, shape, args.data)
        test = images_from_safetensors(args.io_images, shape, "input") if args.io_images else None
        if args.engine:
            set_engine(args.engine)

        result = run(config, weights, images, args.observer, args.batch, args.engine)
        params, observers = result["params"], result["observers"]
        tensors = calibrated_tensors(weights, params)
        safetensors_io.save(tensors, args.out)
        print(f"calibrated {len(params)} 1x1 convolutions on {images.shape[0]} images ({args.observer} observer,"
              f" quint8 0..{ACTIVATION_MAX}); wrote {args.out} ({len(tensors)} tensors)")
        for line in scale_table(params, observers):
            print("  " + line)
        if args.observer == "minmax":
            same, ulps = minmax_agreement(params, observers)
            print(f"MinMaxObserver vs FromRange of the same min/max: zero points {'equal' if same else 'DIFFER'},"
                  f" scales within {ulps:.0f} ulp")
        worst, differ, total = weight_check(result["quantized"], weights, result["names"])
        print(f"converted model ({result['engine']}): int8 weight scales within {worst:.1e} (relative) of ShuffleNetGen's,"
              f" {differ} of {total} integer weights differ")

        if test is not None:
            q = logits(result["quantized"], test)
            f = logits(result["model"], test)
            safetensors_io.save({"input": test.numpy(), "torch_int8_logits": q, "float_logits": f}, args.io_out,
                                metadata={"engine": result["engine"], "observer": args.observer})
            agree = int(np.sum(q.argmax(1) == f.argmax(1)))
            print(f"wrote {args.io_out}: {test.shape[0]} images; torch int8 vs float top-1 agree on {agree}/{test.shape[0]}")

        if args.qdq_out is not None:
            length = int(np.prod(shape))
            for line in make_qdq_onnx.write_qdq(args.onnx, tensors, images.numpy().reshape(-1, length), args.qdq_out,
                                                mode=args.qdq_mode):
                print(line)
    except QuantizeError as e:
        raise SystemExit(f"quantize.py: {e}")
    except ValueError as e:  # from make_qdq_onnx (graph does not match the calibration, ...)
        raise SystemExit(f"quantize.py: {e}")


if __name__ == "__main__":
    main()
