"""QDQ-quantize a float ShuffleNet ONNX (from export_onnx.py) with the activation scales of an int8 calibration.

Usage: /usr/bin/python3 tools/make_qdq_onnx.py --onnx float.onnx --calibrated calibrated.safetensors --out qdq.onnx
           [--mode pointwise|depthwise|full] [--images images.safetensors | --calibration-seed 2024 --calibration-count 8]

The result is the ONNX Runtime counterpart of ShuffleNetGen's `Precision.Int8` model, in the QDQ format that ONNX
Runtime's QDQ transformers turn into integer kernels (QLinearConv) at ORT_ENABLE_EXTENDED and above.

What a Q/DQ pair means. A QuantizeLinear/DequantizeLinear pair in the file states a REAL RANGE:
[(qmin - zp) * scale, (qmax - zp) * scale], with qmin..qmax the full range of its data type (uint8: 0..255). Each
engine quantizes that range at its own resolution: ONNX Runtime at 8 bits, as written; ShuffleNetGen at 7 bits, by
turning the range back into a scale and zero point with ActivationQuantization.FromRange (0..127).

--mode pointwise (default), what ShuffleNetGen's int8 model quantizes:
* Every 1x1 convolution (`units.N.conv1`, `units.N.conv3`):
  - its input goes through QuantizeLinear/DequantizeLinear, uint8 over 0..255, covering the same real range as the
    calibrated 7-bit `{conv}.input_scale` s7 / `{conv}.input_zero_point` zp7: with lo = -zp7 * s7 and
    hi = (127 - zp7) * s7, the pair is s8 = float32((hi - lo) / 255) and zp8 = round(-lo / s8) (ties to even) clamped
    to 0..255. ORT thus quantizes that range in steps about half as wide (and saturates outside it, as ShuffleNetGen
    clamps). The script checks, for every 1x1 conv, that reading the pair back as ShuffleNetGen does (FromRange over
    [(0 - zp8) * s8, (255 - zp8) * s8]) gives zp7 exactly and s7 within 2 float32 ulps (it prints the largest
    difference; in practice at most 1 ulp);
  - its weight is an int8 initializer, batch norm folded in first (from the safetensors tensors, in double, exactly as
    ShuffleNetGen's `WeightPacker.Int8Pointwise` does, so the integers are the same), symmetric per output channel
    (axis 0, scale max|w|/127, values -127..127), behind a DequantizeLinear;
  - its bias (the folded batch-norm shift) is int32 at scale s8 x weight_scale (the uint8 input scale: the scale of
    ORT's integer accumulator), behind a DequantizeLinear;
  - its output goes through QuantizeLinear/DequantizeLinear, uint8 over the full 0..255, with a range calibrated here.
    ShuffleNetGen's int8 kernels do not requantize their output (they dequantize the int32 sums straight to float);
    ONNX Runtime needs this Q to fuse DQ -> Conv -> Q into QLinearConv. Where the conv's only consumer is a Relu,
    the pair goes after the Relu with zero point 0, so ORT's ReluQuantFusion drops the Relu into the clamp.
* Everything else stays float in the file. Note that ONNX Runtime (1.32, CPU EP) then quantizes each depthwise
  convolution itself, as it sits between a DequantizeLinear (the shuffled conv1 output) and a QuantizeLinear (the conv3
  input): its WeightBiasQuantization pass gives it per-tensor int8 weights and it becomes a QLinearConv too.
--mode depthwise: also the 3x3 depthwise convolutions, here with per-channel int8 weights (input Q/DQ with the conv1
  output's parameters, which the shuffle only moves; its output pair is the following conv3's input pair).
--mode full: as depthwise, plus the stem's output (MaxPool in uint8 with units.0's input pair), every unit's output
  (the residual stream, with the next 1x1 conv's input pair, so Add/Concat + Relu become QLinearAdd /
  QLinearConcat), the shortcut AveragePools (Pad + AveragePool merged into one with count_include_pad) and the last
  unit's output. Only the stem convolution, the global pool and the classifier stay float.

The output ranges come from a float forward pass over calibration images, run in numpy on the float graph (this
script interprets the handful of ONNX ops export_onnx.py emits). The default images are the ones
`RandomWeights.Images(length, count, seed)` draws in C# (SplitMix64, uniform in [-1, 1]), which is what the bench
calibrates its int8 model on; `--images` takes any safetensors file holding one [N, C, H, W] tensor instead. As a
consistency check the script recomputes the 1x1 inputs' scales and zero points from the same pass and prints how far
they are from the calibrated file's (they match when the images are the ones the file was calibrated on). It also runs
the QDQ graph in numpy on the first image and prints its logits' distance from the float graph's.

BatchNormalization nodes after convolutions (export_onnx.py's keep_batch_norm form) are folded into the convolutions
first; the default export has them folded already. The 1x1 convolutions are matched to the calibration's
`units.N.convK` names in graph order, checked against torch's node names and against the folded weights.
"""

import argparse
import collections
import os
import re
import sys

import numpy as np
import onnx
from onnx import helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402

INPUT_SCALE = ".input_scale"
INPUT_ZERO_POINT = ".input_zero_point"
BATCH_NORM_EPSILON = 1e-5  # WeightPacker.BatchNormEpsilon
ACTIVATION_MAX = 127  # ActivationQuantization.MaxQuantized: the calibrated 1x1 inputs (7 bits)
UINT8_MAX = 255  # every activation Q/DQ pair in the file: uint8 over its full 0..255
OUTPUT_MAX = UINT8_MAX  # the requantized outputs ORT needs
ROUND_TRIP_ULPS = 2  # how far the 1x1 input scale read back from the file may be from the calibrated one


# ---------------------------------------------------------------------------------------------------------------------
# A small numpy interpreter for the ops export_onnx.py emits (plus the Q/DQ this script adds, for the self-check), and
# for those torch.onnx.export writes for torchvision's ShuffleNetV2 (Shape/Gather/Div/Mul/Slice for x.chunk, ReduceMean),
# which make_int8_fixtures.py runs on its v2 QDQ fixture as the expected output.


def _attrs(node):
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _pool_windows(x, kernel, strides, pads, fill):
    n, c, h, w = x.shape
    kh, kw = kernel
    sh, sw = strides
    pt, pl, pb, pr = pads
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)), constant_values=fill)
    ho = (h + pt + pb - kh) // sh + 1
    wo = (w + pl + pr - kw) // sw + 1
    for i in range(kh):
        for j in range(kw):
            yield xp[:, :, i : i + sh * (ho - 1) + 1 : sh, j : j + sw * (wo - 1) + 1 : sw]


def _conv(x, w, b, a):
    n, c, h, wd = x.shape
    co, cig, kh, kw = w.shape
    g = a.get("group", 1)
    sh, sw = a.get("strides", [1, 1])
    dh, dw = a.get("dilations", [1, 1])
    pt, pl, pb, pr = a.get("pads", [0, 0, 0, 0])
    if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        raise NotImplementedError("Conv auto_pad")
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    ho = (h + pt + pb - dh * (kh - 1) - 1) // sh + 1
    wo = (wd + pl + pr - dw * (kw - 1) - 1) // sw + 1
    cog = co // g
    xg = xp.reshape(n, g, cig, xp.shape[2], xp.shape[3])
    wg = w.reshape(g, cog, cig, kh, kw)
    out = np.zeros((n, g, cog, ho * wo), dtype=np.float32)
    for i in range(kh):
        for j in range(kw):
            patch = xg[:, :, :, i * dh : i * dh + sh * (ho - 1) + 1 : sh, j * dw : j * dw + sw * (wo - 1) + 1 : sw]
            patch = patch.reshape(n, g, cig, ho * wo)
            if cig == 1:  # depthwise: a broadcast multiply, not g tiny matrix products
                out += wg[None, :, :, 0, i, j, None] * patch
            else:
                out += np.matmul(wg[:, :, :, i, j], patch)
    out = out.reshape(n, co, ho, wo)
    if b is not None:
        out += b.reshape(1, co, 1, 1)
    return out


def _axis_shape(param, axis, ndim):
    if param.ndim == 0:
        return param
    shape = [1] * ndim
    shape[axis] = param.size
    return param.reshape(shape)


def _run_node(node, ins):
    op = node.op_type
    a = _attrs(node)
    if op == "Constant":
        return [numpy_helper.to_array(a["value"])]
    if op == "Identity":
        return [ins[0]]
    if op == "Conv":
        return [_conv(ins[0], ins[1], ins[2] if len(ins) > 2 else None, a)]
    if op == "Relu":
        return [np.maximum(ins[0], 0)]
    if op == "Add":
        return [ins[0] + ins[1]]
    if op == "Reshape":
        shape = [int(s) for s in ins[1]]
        if not a.get("allowzero", 0):
            shape = [ins[0].shape[k] if s == 0 else s for k, s in enumerate(shape)]
        return [ins[0].reshape(shape)]
    if op == "Transpose":
        return [np.transpose(ins[0], a["perm"])]
    if op == "Concat":
        return [np.concatenate(ins, axis=a["axis"])]
    if op == "Pad":
        if a.get("mode", b"constant") not in (b"constant", "constant"):
            raise NotImplementedError("Pad mode " + str(a["mode"]))
        pads = [int(p) for p in (ins[1] if len(ins) > 1 else a["pads"])]
        value = float(ins[2]) if len(ins) > 2 and ins[2] is not None else float(a.get("value", 0.0))
        r = ins[0].ndim
        return [np.pad(ins[0], [(pads[k], pads[k + r]) for k in range(r)], constant_values=value)]
    if op in ("AveragePool", "MaxPool"):
        if a.get("ceil_mode", 0) or a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
            raise NotImplementedError(op + " ceil_mode/auto_pad")
        kernel, strides = a["kernel_shape"], a.get("strides", [1, 1])
        pads = a.get("pads", [0, 0, 0, 0])
        if op == "MaxPool":
            return [np.maximum.reduce(list(_pool_windows(ins[0], kernel, strides, pads, -np.inf)))]
        total = sum(_pool_windows(ins[0], kernel, strides, pads, 0.0))
        if a.get("count_include_pad", 0) or not any(pads):
            return [(total / (kernel[0] * kernel[1])).astype(np.float32)]
        count = sum(_pool_windows(np.ones_like(ins[0][:1, :1]), kernel, strides, pads, 0.0))
        return [(total / count).astype(np.float32)]
    if op == "Shape":
        return [np.array(ins[0].shape, dtype=np.int64)]
    if op == "Gather":
        return [np.take(ins[0], ins[1], axis=a.get("axis", 0))]
    if op == "Unsqueeze":
        axes = [int(v) for v in (ins[1] if len(ins) > 1 else a["axes"])]
        y = ins[0]
        for axis in sorted(v % (y.ndim + len(axes)) for v in axes):
            y = np.expand_dims(y, axis)
        return [y]
    if op in ("Mul", "Div", "Sub"):
        x, y = ins
        if op == "Mul":
            return [x * y]
        if op == "Sub":
            return [x - y]
        # ONNX Div on integers truncates (torch exports the chunk sizes as int64 Div)
        return [np.trunc(x / y).astype(x.dtype) if np.issubdtype(x.dtype, np.integer) else x / y]
    if op == "Slice":
        data = ins[0]
        starts, ends = ins[1], ins[2]
        axes = ins[3] if len(ins) > 3 and ins[3] is not None else np.arange(len(starts))
        steps = ins[4] if len(ins) > 4 and ins[4] is not None else np.ones(len(starts), dtype=np.int64)
        index = [slice(None)] * data.ndim
        for start, end, axis, step in zip(starts, ends, axes, steps):
            index[int(axis)] = slice(int(start), int(min(end, np.iinfo(np.int64).max)), int(step))
        return [data[tuple(index)]]
    if op == "ReduceMean":
        axes = tuple(int(v) for v in (a["axes"] if "axes" in a else ins[1]))
        return [ins[0].mean(axis=axes, keepdims=bool(a.get("keepdims", 1)), dtype=np.float64).astype(np.float32)]
    if op == "GlobalAveragePool":
        return [ins[0].mean(axis=(2, 3), keepdims=True, dtype=np.float64).astype(np.float32)]
    if op == "Flatten":
        axis = a.get("axis", 1)
        return [ins[0].reshape(int(np.prod(ins[0].shape[:axis])), -1)]
    if op == "Gemm":
        x = ins[0].T if a.get("transA", 0) else ins[0]
        w = ins[1].T if a.get("transB", 0) else ins[1]
        y = a.get("alpha", 1.0) * (x @ w)
        if len(ins) > 2:
            y = y + a.get("beta", 1.0) * ins[2]
        return [y.astype(np.float32)]
    if op == "BatchNormalization":
        x, gamma, beta, mean, var = ins
        s = gamma / np.sqrt(var + a.get("epsilon", 1e-5))
        return [(x * s.reshape(1, -1, 1, 1) + (beta - mean * s).reshape(1, -1, 1, 1)).astype(np.float32)]
    if op == "QuantizeLinear":
        x, scale, zp = ins
        axis = a.get("axis", 1)
        info = np.iinfo(zp.dtype)
        y = np.round(x / _axis_shape(scale, axis, x.ndim)) + _axis_shape(zp, axis, x.ndim).astype(np.float64)
        return [np.clip(y, info.min, info.max).astype(zp.dtype)]
    if op == "DequantizeLinear":
        x = ins[0]
        scale = ins[1]
        zp = ins[2] if len(ins) > 2 else np.zeros((), dtype=x.dtype)
        axis = a.get("axis", 1)
        y = (x.astype(np.int64) - _axis_shape(zp, axis, x.ndim).astype(np.int64)) * _axis_shape(scale, axis, x.ndim)
        return [y.astype(np.float32)]
    raise NotImplementedError(f"op {op} (node {node.name!r})")


def run_graph(graph, feeds, observe=None):
    """Runs `graph` on `feeds` (name -> array); returns every value by name. `observe(name, value)` sees each output."""
    values = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    values.update(feeds)
    for node in graph.node:
        ins = [values[n] if n else None for n in node.input]
        outs = _run_node(node, ins)
        for name, value in zip(node.output, outs):
            values[name] = value
            if observe is not None:
                observe(name, value)
    return values


# ---------------------------------------------------------------------------------------------------------------------
# Quantization arithmetic, as ShuffleNetGen spells it.


def from_range(lo, hi, qmax):
    """ActivationQuantization.FromRange with a configurable top: (float32 scale, int zero point)."""
    lo = min(np.float32(lo), np.float32(0))
    hi = max(np.float32(hi), np.float32(0))
    if not (np.isfinite(lo) and np.isfinite(hi)):
        # As FromRange: an infinite range has no scale, and (1, 0) in its place would be written without a word.
        raise ValueError(f"activation range [{lo}, {hi}] is not finite; an infinite range has no scale")
    if hi == lo:
        return np.float32(1), 0
    scale = np.float32((float(hi) - float(lo)) / qmax)
    if not (scale > 0 and np.isfinite(scale)):
        return np.float32(1), 0
    zero = float(np.round(-float(lo) / float(scale)))  # np.round: ties to even, as Math.Round(ToEven)
    return scale, int(min(max(zero, 0), qmax))


def widen_to_uint8(scale7, zero7):
    """The uint8 (0..255) pair covering the real range of a 7-bit calibration pair (`scale7`, `zero7`).

    That range is [lo, hi] = [(0 - zero7) * scale7, (127 - zero7) * scale7]; the result is s8 = float32((hi - lo) / 255)
    (hi - lo is exact in double) and zp8 = round(-lo / s8) (ties to even, in double) clamped to 0..255. Reading the pair
    back (`narrow_from_uint8`) gives zero7 exactly and scale7 to within an ulp: zp8 is within 0.5 of zero7 * 255 / 127,
    so zp8 * 127 / 255 is within 0.25 of zero7.
    """
    scale7, zero7 = np.float32(scale7), int(zero7)
    lo = -zero7 * float(scale7)
    hi = (ACTIVATION_MAX - zero7) * float(scale7)
    s8 = np.float32((hi - lo) / UINT8_MAX)
    zp8 = float(np.round(-lo / float(s8)))
    return s8, int(min(max(zp8, 0), UINT8_MAX))


def narrow_from_uint8(s8, zp8):
    """What ShuffleNetGen makes of a uint8 pair: the real range [(0 - zp8) * s8, (255 - zp8) * s8] (each bound rounded to
    float32, as a float product is) quantized at 7 bits by ActivationQuantization.FromRange."""
    s8 = np.float32(s8)
    lo = np.float32(-int(zp8)) * s8
    hi = np.float32(UINT8_MAX - int(zp8)) * s8
    return from_range(lo, hi, ACTIVATION_MAX)


def check_round_trip(pairs):
    """For each name -> ((scale7, zero7), (s8, zp8)): reads the uint8 pair back at 7 bits and checks it gives zero7
    exactly and scale7 within ROUND_TRIP_ULPS float32 ulps. Returns (largest relative scale difference, largest in ulps,
    how many came back bit-exact); raises ValueError naming the first pair that fails."""
    worst_rel, worst_ulps, exact = 0.0, 0.0, 0
    for name, ((scale7, zero7), (s8, zp8)) in pairs.items():
        back_scale, back_zero = narrow_from_uint8(s8, zp8)
        if back_zero != int(zero7):
            raise ValueError(f"{name}: uint8 pair ({s8!r}, {zp8}) reads back as zero point {back_zero}, calibrated {zero7}")
        diff = abs(float(back_scale) - float(scale7))
        ulps = diff / float(np.spacing(np.float32(scale7)))
        if ulps > ROUND_TRIP_ULPS:
            raise ValueError(f"{name}: uint8 pair ({s8!r}, {zp8}) reads back as scale {back_scale!r}, calibrated {scale7!r}"
                             f" ({ulps:.1f} ulps apart)")
        worst_rel, worst_ulps = max(worst_rel, diff / float(scale7)), max(worst_ulps, ulps)
        exact += back_scale == np.float32(scale7)
    return worst_rel, worst_ulps, exact


def quantize_channels(w):
    """Symmetric per output channel (axis 0), as WeightPacker.QuantizeChannel: q in -127..127, scale max|w|/127."""
    flat = w.reshape(w.shape[0], -1).astype(np.float64)
    largest = np.abs(flat).max(axis=1)
    scale = np.where(largest == 0, 1.0, largest / 127)
    q = np.clip(np.round(flat / scale[:, None]), -127, 127).astype(np.int8)
    return q.reshape(w.shape), scale


def splitmix_images(length, count, seed):
    """RandomWeights.Images(length, count, seed): SplitMix64, uniform in [-1, 1], image after image."""
    golden = np.uint64(0x9E3779B97F4A7C15)
    state0 = np.uint64(0xD1B54A32D192ED03) ^ np.uint64(seed & 0xFFFFFFFF)
    with np.errstate(over="ignore"):
        z = state0 + golden * np.arange(1, length * count + 1, dtype=np.uint64)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z ^= z >> np.uint64(31)
    values = (z >> np.uint64(11)).astype(np.float64) * (2.0 / (1 << 53)) - 1.0
    return values.astype(np.float32).reshape(count, length)


# ---------------------------------------------------------------------------------------------------------------------
# Graph surgery.


def _drop_unused_initializers(graph):
    used = {n for node in graph.node for n in node.input}
    keep = [i for i in graph.initializer if i.name in used]
    del graph.initializer[:]
    graph.initializer.extend(keep)


def pointwise_names(tensors):
    """The calibrated 1x1 convolutions, in forward order (units.0.conv1, units.0.conv3, units.1.conv1, ...)."""
    names = []
    for key in tensors:
        if key.endswith(INPUT_SCALE):
            conv = key[: -len(INPUT_SCALE)]
            m = re.fullmatch(r"units\.(\d+)\.conv([13])", conv)
            if m is None:
                raise ValueError(f"calibration tensor {key!r} is not a 1x1 convolution's (units.N.conv1 / conv3)")
            if conv + INPUT_ZERO_POINT not in tensors:
                raise ValueError(f"{conv}{INPUT_SCALE} has no {conv}{INPUT_ZERO_POINT}")
            names.append((int(m.group(1)), int(m.group(2)), conv))
    if not names:
        raise ValueError("the safetensors file holds no *.input_scale tensors: calibrate it first (Int8Calibration.Calibrate)")
    return [n for _, _, n in sorted(names)]


def folded_weights(tensors, conv):
    """(w, shift) of `conv` with its batch norm folded in double, or None when the file lacks them."""
    bn = conv[: -len("conv1")] + "bn" + conv[-1]
    keys = [conv + ".weight"] + [bn + s for s in (".weight", ".bias", ".running_mean", ".running_var")]
    if not all(k in tensors for k in keys):
        return None
    w, gamma, beta, mean, var = (tensors[k].astype(np.float64) for k in keys)
    scale = gamma / np.sqrt(var + BATCH_NORM_EPSILON)
    return w * scale.reshape(-1, 1, 1, 1), beta - mean * scale


MODES = ("pointwise", "depthwise", "full")


def graph_index(graph):
    """The graph's initializers by name, each value's producing node, and how many node inputs read each value."""
    inits = {i.name: i for i in graph.initializer}
    producer = {o: n for n in graph.node for o in n.output}
    readers = collections.Counter(name for node in graph.node for name in node.input)
    return inits, producer, readers


def merge_pad_average_pool(graph):
    """Pad (constant 0, spatial only) -> AveragePool (no pads) becomes one AveragePool with count_include_pad=1."""
    inits, producer, consumers = graph_index(graph)
    constants = {n.output[0]: numpy_helper.to_array(_attrs(n)["value"]) for n in graph.node if n.op_type == "Constant"}
    merged = []
    for pool in graph.node:
        if pool.op_type != "AveragePool":
            continue
        pad = producer.get(pool.input[0])
        if pad is None or pad.op_type != "Pad" or consumers[pad.output[0]] != 1:
            continue
        a = _attrs(pad)
        if a.get("mode", b"constant") not in (b"constant", "constant") or any(_attrs(pool).get("pads", [0] * 4)):
            continue
        pads = a.get("pads")
        if pads is None:
            source = pad.input[1]
            pads = constants[source] if source in constants else numpy_helper.to_array(inits[source])
        value = 0.0
        if len(pad.input) > 2 and pad.input[2]:
            v = pad.input[2]
            value = float((constants[v] if v in constants else numpy_helper.to_array(inits[v])).reshape(-1)[0])
        pads = [int(p) for p in pads]
        if len(pads) != 8 or value != 0.0 or any(pads[k] for k in (0, 1, 4, 5)):
            continue
        pool.input[0] = pad.input[0]
        for attr in list(pool.attribute):
            if attr.name in ("pads", "count_include_pad"):
                pool.attribute.remove(attr)
        pool.attribute.extend([helper.make_attribute("pads", [pads[2], pads[3], pads[6], pads[7]]),
                               helper.make_attribute("count_include_pad", 1)])
        merged.append(pad)
    for pad in merged:
        graph.node.remove(pad)
    used = {n for node in graph.node for n in node.input}
    keep = [n for n in graph.node if n.op_type != "Constant" or n.output[0] in used]
    del graph.node[:]
    graph.node.extend(keep)
    _drop_unused_initializers(graph)
    return len(merged)


def make_qdq(model, tensors, images, mode="pointwise"):
    """Rewrites `model` in place into its QDQ form (see the module docstring for the modes); returns a report dict."""
    if mode not in MODES:
        raise ValueError(f"mode {mode!r}: expected one of {MODES}")
    graph = model.graph
    report = {"folded_batch_norms": fold_batch_norms(model)}
    if mode == "full":
        report["merged_pads"] = merge_pad_average_pool(graph)
    inits = {i.name: i for i in graph.initializer}
    consumers = collections.defaultdict(list)
    for node in graph.node:
        for name in node.input:
            consumers[name].append(node)
    producer = {o: n for n in graph.node for o in n.output}

    def weight(node):
        return numpy_helper.to_array(inits[node.input[1]])

    convs = [n for n in graph.node if n.op_type == "Conv" and n.input[1] in inits]
    pointwise = [n for n in convs if weight(n).shape[2:] == (1, 1)]
    names = pointwise_names(tensors)
    if len(pointwise) != len(names):
        raise ValueError(f"the graph has {len(pointwise)} 1x1 convolutions, the calibration {len(names)}")
    conv_of = {id(node): name for node, name in zip(pointwise, names)}

    # The mapping is by order; the node names (torch's "/units.3/conv1/Conv") and the weights confirm it.
    for node, name in zip(pointwise, names):
        path = name.replace(".conv", "/conv")
        if node.name and "units" in node.name and f"/{path}/" not in node.name + "/":
            raise ValueError(f"1x1 convolution {node.name!r} is in {name}'s place")
        ref = folded_weights(tensors, name)
        if ref is not None:
            w = weight(node).astype(np.float64)
            if ref[0].shape != w.shape or np.abs(ref[0] - w).max() > 1e-4 * np.abs(ref[0]).max() + 1e-7:
                raise ValueError(f"1x1 convolution {node.name or node.output[0]!r} does not hold {name}'s folded weights")

    depthwise = []
    if mode != "pointwise":
        for node in convs:
            w = weight(node)
            if w.shape[1] == 1 and _attrs(node).get("group", 1) == w.shape[0] > 1 and w.shape[2:] != (1, 1):
                depthwise.append(node)
    report["pointwise"], report["depthwise"] = len(pointwise), len(depthwise)

    # Calibration pass over the float graph: the range of every value.
    ranges = {}

    def observe(name, value):
        r = ranges.setdefault(name, [np.inf, -np.inf])
        r[0] = min(r[0], float(value.min()))
        r[1] = max(r[1], float(value.max()))

    input_name = graph.input[0].name
    shape = [d.dim_value for d in graph.input[0].type.tensor_type.shape.dim]
    for image in images:  # one at a time: the exported shuffle Reshapes spell out batch 1
        run_graph(graph, {input_name: image.reshape([1] + shape[1:])}, observe)

    def after_relu(tensor):
        """`tensor`, or the output of the Relu that is its only consumer (where ORT folds the Relu into the Q)."""
        users = consumers[tensor]
        if len(users) == 1 and users[0].op_type == "Relu":
            return users[0].output[0], True
        return tensor, False

    def own_params(tensor, relu):
        lo, hi = ranges[tensor]
        return from_range(0.0 if relu else lo, hi, OUTPUT_MAX)

    # The plan: tensor -> (scale, zero point, tag, readers); readers None = every consumer reads the dequantized value.
    plan = {}
    worst = 0.0
    widened = {}  # name -> ((scale7, zero7), (s8, zp8)): the calibrated 7-bit pair and the uint8 pair written
    for node, name in zip(pointwise, names):
        scale = np.float32(tensors[name + INPUT_SCALE][0])
        zero = float(tensors[name + INPUT_ZERO_POINT][0])
        if not (scale > 0 and np.isfinite(scale) and 0 <= zero <= ACTIVATION_MAX and zero == int(zero)):
            raise ValueError(f"{name}: bad calibration (scale {scale}, zero point {zero})")
        s, z = from_range(*ranges[node.input[0]], ACTIVATION_MAX)
        worst = max(worst, abs(float(s) - float(scale)) / float(scale), abs(z - zero) / ACTIVATION_MAX)
        readers = None if mode == "full" else {id(node)}
        if node.input[0] in plan:
            raise ValueError(f"{node.input[0]!r} feeds two 1x1 convolutions")
        # The file states the calibrated real range, over uint8's full 0..255 (see the module docstring).
        s8, zp8 = widen_to_uint8(scale, int(zero))
        widened[name] = ((scale, int(zero)), (s8, zp8))
        plan[node.input[0]] = (s8, zp8, f"{name}.input", readers)
    report["calibration_mismatch"] = worst
    report["round_trip"] = check_round_trip(widened)
    for node, name in zip(pointwise, names):
        tensor, relu = after_relu(node.output[0])
        if tensor not in plan:
            plan[tensor] = (*own_params(tensor, relu), f"{name}.output", None)

    dw_input_params = {}
    for node in depthwise:
        # Its input is a conv1 output moved by the shuffle (Reshape/Transpose), which keeps the values.
        src = node.input[0]
        while src not in plan and src in producer and producer[src].op_type in ("Reshape", "Transpose", "Identity"):
            src = producer[src].input[0]
        users = consumers[node.output[0]]
        if src not in plan or len(users) != 1 or id(users[0]) not in conv_of:
            raise ValueError(f"depthwise convolution {node.name!r} is not between a 1x1 conv's output and a 1x1 conv")
        tag = conv_of[id(users[0])].rsplit(".", 1)[0] + ".dw"
        scale, zero = plan[src][:2]
        dw_input_params[id(node)] = (scale, tag)
        if node.input[0] != src:
            plan[node.input[0]] = (scale, zero, f"{tag}.input", {id(node)})

    if mode == "full":
        # The stem's output (Relu -> MaxPool -> units.0's input): the MaxPool runs on uint8 with units.0's input pair.
        first = producer.get(pointwise[0].input[0])
        if first is not None and first.op_type == "MaxPool":
            scale, zero = plan[pointwise[0].input[0]][:2]
            stem_out = first.input[0]
            plan.setdefault(stem_out, (scale, zero, "stem.output", None))
        for node in graph.node:
            if node.op_type in ("AveragePool", "Add", "Concat", "MaxPool"):
                tensor, relu = after_relu(node.output[0])
                if tensor not in plan:
                    plan[tensor] = (*own_params(tensor, relu), (node.name or tensor).strip("/").replace("/", ".") + ".output", None)

    new_inits = []
    after = collections.defaultdict(list)  # producer node id (or None: a graph input) -> nodes to insert after it
    before = collections.defaultdict(list)  # conv node id -> weight/bias DequantizeLinear nodes

    def const(name, array):
        new_inits.append(numpy_helper.from_array(array, name))
        return name

    for tensor, (scale, zero, tag, readers) in plan.items():
        s = const(f"{tag}.scale", np.array(scale, dtype=np.float32))
        z = const(f"{tag}.zero_point", np.array(zero, dtype=np.uint8))
        q, dq = f"{tag}.quantized", f"{tag}.dequantized"
        origin = id(producer[tensor]) if tensor in producer else None
        after[origin].append(helper.make_node("QuantizeLinear", [tensor, s, z], [q], name=f"{tag}.QuantizeLinear"))
        after[origin].append(helper.make_node("DequantizeLinear", [q, s, z], [dq], name=f"{tag}.DequantizeLinear"))
        for user in consumers[tensor]:
            if readers is None or id(user) in readers:
                for k, n in enumerate(user.input):
                    if n == tensor:
                        user.input[k] = dq

    def quantize_conv(node, tag, ref, in_scale):
        w = weight(node)
        q, w_scale = quantize_channels(ref[0] if ref is not None else w)
        w_scale32 = w_scale.astype(np.float32)
        wq = const(f"{tag}.weight_quantized", q)
        ws = const(f"{tag}.weight_scale", w_scale32)
        wz = const(f"{tag}.weight_zero_point", np.zeros(w.shape[0], dtype=np.int8))
        wd = f"{tag}.weight_dequantized"
        before[id(node)].append(helper.make_node("DequantizeLinear", [wq, ws, wz], [wd], name=f"{tag}.weight.DequantizeLinear", axis=0))
        node.input[1] = wd
        if len(node.input) > 2 and node.input[2]:
            bias = numpy_helper.to_array(inits[node.input[2]]).astype(np.float64)
            b_scale = (np.float32(in_scale) * w_scale32).astype(np.float32)
            bq = np.clip(np.round(bias / b_scale.astype(np.float64)), -(2**31), 2**31 - 1).astype(np.int32)
            bqn, bs = const(f"{tag}.bias_quantized", bq), const(f"{tag}.bias_scale", b_scale)
            bd = f"{tag}.bias_dequantized"
            before[id(node)].append(helper.make_node("DequantizeLinear", [bqn, bs], [bd], name=f"{tag}.bias.DequantizeLinear", axis=0))
            node.input[2] = bd

    for node, name in zip(pointwise, names):
        # The bias is at the scale ORT's integer conv accumulates in: the uint8 input scale times the weight scale.
        quantize_conv(node, name, folded_weights(tensors, name), widened[name][1][0])
    for node in depthwise:
        scale, tag = dw_input_params[id(node)]
        quantize_conv(node, tag, None, scale)

    # Rebuild the node list in order: weight DQs before their conv, activation Q/DQ right after the producer.
    order = list(after[None])
    for node in graph.node:
        order.extend(before[id(node)])
        order.append(node)
        order.extend(after[id(node)])
    del graph.node[:]
    graph.node.extend(order)
    graph.initializer.extend(new_inits)
    _drop_unused_initializers(graph)
    report["quantized_tensors"] = len(plan)
    return report


def fold_batch_norms(model):
    """Folds every BatchNormalization that is a Conv's only consumer into that Conv (weights and bias); returns how many."""
    graph = model.graph
    inits, producer, consumers = graph_index(graph)
    folded = []
    for bn in graph.node:
        if bn.op_type != "BatchNormalization":
            continue
        conv = producer.get(bn.input[0])
        if conv is None or conv.op_type != "Conv" or consumers[bn.input[0]] != 1 or len([o for o in bn.output if o]) != 1:
            raise ValueError(f"BatchNormalization {bn.name!r} does not follow a Conv it can fold into")
        gamma, beta, mean, var = (numpy_helper.to_array(inits[n]).astype(np.float64) for n in bn.input[1:5])
        scale = gamma / np.sqrt(var + _attrs(bn).get("epsilon", 1e-5))
        w = numpy_helper.to_array(inits[conv.input[1]]).astype(np.float64)
        b = numpy_helper.to_array(inits[conv.input[2]]).astype(np.float64) if len(conv.input) > 2 and conv.input[2] else 0.0
        tag = conv.name or conv.output[0]
        w_name, b_name = f"{tag}.weight_bn_folded", f"{tag}.bias_bn_folded"
        graph.initializer.append(numpy_helper.from_array((w * scale.reshape(-1, 1, 1, 1)).astype(np.float32), w_name))
        graph.initializer.append(numpy_helper.from_array((beta + (b - mean) * scale).astype(np.float32), b_name))
        data = conv.input[0]
        del conv.input[:]
        conv.input.extend([data, w_name, b_name])
        conv.output[0] = bn.output[0]
        folded.append(bn)
    for bn in folded:
        graph.node.remove(bn)
    _drop_unused_initializers(graph)
    return len(folded)


def images_from_file(path, length):
    """The images of a safetensors file holding one [N, C, H, W] tensor, as [N, length] float32."""
    loaded = list(safetensors_io.load(path).values())
    if len(loaded) != 1:
        raise ValueError(f"{path}: expected one tensor of images, found {len(loaded)}")
    if loaded[0].ndim != 4 or int(np.prod(loaded[0].shape[1:])) != length:
        raise ValueError(f"{path}: images of shape {list(loaded[0].shape)}, expected [N, C, H, W] with C*H*W = {length}")
    return loaded[0].astype(np.float32).reshape(-1, length)


def input_length(onnx_path):
    """C*H*W of the float export's input."""
    shape = [d.dim_value for d in onnx.load(onnx_path).graph.input[0].type.tensor_type.shape.dim]
    return int(np.prod(shape[1:]))


def write_qdq(onnx_path, tensors, images, out_path, mode="pointwise"):
    """Builds the QDQ model of the float export `onnx_path` with the calibrated `tensors` (name -> array, as
    safetensors_io.load returns) and output ranges from `images` ([N, C*H*W]), checks it, writes it to `out_path` and
    returns the report lines main() prints."""
    model = onnx.load(onnx_path)
    float_graph = onnx.load(onnx_path).graph
    shape = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    report = make_qdq(model, tensors, images, mode=mode)
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, out_path + ".tmp")
    os.replace(out_path + ".tmp", out_path)

    # Self-check: the float graph and the QDQ graph (integer semantics simulated in numpy) on the first image.
    x = images[:1].reshape([1] + shape[1:])
    out = model.graph.output[0].name
    ref = run_graph(float_graph, {model.graph.input[0].name: x})[out][0]
    got = run_graph(model.graph, {model.graph.input[0].name: x})[out][0]
    ops = collections.Counter(node.op_type for node in model.graph.node)
    worst_rel, worst_ulps, exact = report["round_trip"]
    return [
        f"wrote {out_path} ({os.path.getsize(out_path)} bytes); checker OK",
        f"mode {mode}: {report['pointwise']} 1x1 and {report['depthwise']} depthwise convolutions with int8 weights,"
        f" {report['quantized_tensors']} activation tensors with Q/DQ; batch norms folded here: {report['folded_batch_norms']}"
        + (f"; Pad+AveragePool merged: {report['merged_pads']}" if "merged_pads" in report else ""),
        f"calibration check: recomputed 1x1 input scales/zero points differ from the file's by at most"
        f" {report['calibration_mismatch']:.2e} (relative; a few float32 ulps when the file holds a MinMax calibration on these images)",
        f"uint8 round trip: the {report['pointwise']} 1x1 input pairs read back at 7 bits (FromRange) give the calibrated"
        f" zero points exactly and scales within {worst_rel:.2e} relative ({worst_ulps:.0f} ulp at most,"
        f" {exact}/{report['pointwise']} bit-exact)",
        f"numpy QDQ vs float on image 0: max |dlogit| {np.abs(got - ref).max():.3e} (largest |logit| {np.abs(ref).max():.3e}),"
        f" top-1 {'same' if got.argmax() == ref.argmax() else 'DIFFERENT'}",
        "node op types: " + ", ".join(f"{op} x{n}" for op, n in sorted(ops.items())),
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--onnx", required=True, help="float model from export_onnx.py")
    parser.add_argument("--calibrated", required=True, help="safetensors: float weights + {conv}.input_scale / .input_zero_point")
    parser.add_argument("--out", required=True, help="output QDQ .onnx path")
    parser.add_argument("--mode", choices=MODES, default="pointwise",
                        help="what to quantize: the 1x1 convolutions (default), also the depthwise ones, or every unit op")
    parser.add_argument("--images", help="safetensors with one [N,C,H,W] tensor of calibration images")
    parser.add_argument("--calibration-seed", type=int, default=2024, help="RandomWeights.Images seed (default 2024)")
    parser.add_argument("--calibration-count", type=int, default=8, help="RandomWeights.Images count (default 8)")
    args = parser.parse_args()

    tensors = safetensors_io.load(args.calibrated)
    length = input_length(args.onnx)
    if args.images:
        try:
            images = images_from_file(args.images, length)
        except ValueError as e:
            raise SystemExit(str(e))
    else:
        images = splitmix_images(length, args.calibration_count, args.calibration_seed)
    for line in write_qdq(args.onnx, tensors, images, args.out, mode=args.mode):
        print(line)


if __name__ == "__main__":
    main()
