"""torchvision's ShuffleNet v2 as the ground truth for ShuffleNetGen's v2 tests: building it, naming its tensors,
seeding its weights and counting its multiply-adds.

Networks are built with torchvision.models.shufflenetv2.ShuffleNetV2 itself (and its InvertedResidual units), never a
re-implementation. torchvision fixes three stages and three input channels; `build` reaches the other shapes the
ShuffleNetGen reference supports by swapping whole torchvision modules, and says so in `describe`:
  - input channels != 3: conv1.0 is replaced by a Conv2d(input_channels, stem, 3, stride 2, pad 1, no bias);
  - 1 or 2 stages: the unused stageN attributes become empty nn.Sequential (identity; their tensors vanish from the
    state_dict) and conv5.0 is rebuilt for the last stage's width;
  - 4 stages: a subclass adds `stage5` (torchvision InvertedResidual units, same pattern) and calls it after stage4.
Tensor names stay torchvision's (stage5 extends stage2..stage4).

A config is a dict with keys stem_channels, stage_channels, stage_repeats, final_channels, input_channels,
input_height, input_width, classes.

Seeded weights (`seeded_state_dict`): SplitMix64 stream, one double per value in `layout` order, the same algorithm
the C# test helper V2Fixture uses to rebuild the large fixtures' weights without committing them:
  state0 = 0x9E3779B97F4A7C15 ^ seed; value k (counted across all tensors, from 0): state = state0 + (k+1)*golden,
  z = SplitMix64 finalizer(state), u = (z >> 11) * 2^-53, x = float32(lo + (hi - lo) * u) with per tensor
  [lo, hi] = conv weight +-sqrt(6 / fan_in) (fan_in = numel / out_channels), BN weight [0.5, 1.5], BN bias
  [-0.2, 0.2], running_mean [-0.2, 0.2], running_var [0.5, 1.5], fc.weight +-1/sqrt(in_features), fc.bias
  [-0.1, 0.1]; num_batches_tracked is int64 0 (as a fresh torch module has it) and draws nothing.
"""

import hashlib
import math

import numpy as np
import torch
import torch.nn as nn
from torchvision.models.shufflenetv2 import InvertedResidual, ShuffleNetV2

# torchvision's _stage_out_channels per width multiplier: stem, stage2, stage3, stage4, conv5.
SCALES = {
    0.5: [24, 48, 96, 192, 1024],
    1.0: [24, 116, 232, 464, 1024],
    1.5: [24, 176, 352, 704, 1024],
    2.0: [24, 244, 488, 976, 2048],
}
TORCHVISION_REPEATS = [4, 8, 4]
BN_SUFFIXES = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
GOLDEN = 0x9E3779B97F4A7C15
MASK64 = (1 << 64) - 1


def scale_config(scale, input_height=224, input_width=224, classes=1000, stage_repeats=None):
    w = SCALES[scale]
    return {
        "stem_channels": w[0],
        "stage_channels": list(w[1:4]),
        "stage_repeats": list(stage_repeats or TORCHVISION_REPEATS),
        "final_channels": w[4],
        "input_channels": 3,
        "input_height": input_height,
        "input_width": input_width,
        "classes": classes,
    }


def matching_scale(config):
    """The torchvision width multiplier whose widths the config has (stage repeats and classes aside), else None."""
    if config["input_channels"] != 3 or len(config["stage_channels"]) != 3:
        return None
    widths = [config["stem_channels"], *config["stage_channels"], config["final_channels"]]
    for scale, w in SCALES.items():
        if widths == w:
            return scale
    return None


def check_config(config):
    stages, repeats = config["stage_channels"], config["stage_repeats"]
    if not 1 <= len(stages) <= 4 or len(stages) != len(repeats):
        raise ValueError(f"1 to 4 stages, as many repeats as widths: got widths {stages}, repeats {repeats}")
    if any(c <= 0 or c % 2 for c in stages):
        raise ValueError(f"stage widths must be positive and even (two halves): {stages}")
    if any(r < 1 for r in repeats):
        raise ValueError(f"every stage has at least its stride-2 unit: repeats {repeats}")


class _FourStages(ShuffleNetV2):
    """torchvision's ShuffleNetV2 with a fourth stage `stage5`, built from the same InvertedResidual units."""

    def _forward_impl(self, x):
        # torchvision's _forward_impl with stage5 after stage4.
        x = self.conv1(x)
        x = self.maxpool(x)
        x = self.stage2(x)
        x = self.stage3(x)
        x = self.stage4(x)
        x = self.stage5(x)
        x = self.conv5(x)
        x = x.mean([2, 3])
        x = self.fc(x)
        return x


def build(config):
    """A torchvision ShuffleNetV2 for `config` (see the module docstring for the shapes torchvision lacks), eval mode."""
    check_config(config)
    stem, stages, repeats = config["stem_channels"], list(config["stage_channels"]), list(config["stage_repeats"])
    final, classes = config["final_channels"], config["classes"]
    n = len(stages)
    # The first three stages are always torchvision's own; missing ones are built and then emptied.
    tv_stages = (stages + [stages[-1]] * 3)[:3]
    tv_repeats = (repeats + [1] * 3)[:3]
    cls = _FourStages if n == 4 else ShuffleNetV2
    model = cls(tv_repeats, [stem, *tv_stages, final], num_classes=classes)
    if config["input_channels"] != 3:
        model.conv1[0] = nn.Conv2d(config["input_channels"], stem, 3, 2, 1, bias=False)
    if n < 3:
        for k in range(n, 3):
            setattr(model, f"stage{k + 2}", nn.Sequential())
        model.conv5[0] = nn.Conv2d(stages[-1], final, 1, 1, 0, bias=False)
    if n == 4:
        seq = [InvertedResidual(stages[2], stages[3], 2)] + [InvertedResidual(stages[3], stages[3], 1) for _ in range(repeats[3] - 1)]
        # Registered between stage4 and conv5 so the state_dict keeps the network's order.
        conv5, fc = model.conv5, model.fc
        del model.conv5, model.fc
        model.stage5 = nn.Sequential(*seq)
        model.conv5 = conv5
        model.fc = fc
        model.conv5[0] = nn.Conv2d(stages[3], final, 1, 1, 0, bias=False)
    return model.eval()


def describe(config):
    """How `build` made the network, for the fixture's json."""
    stages = config["stage_channels"]
    n = len(stages)
    tv_stages = (list(stages) + [stages[-1]] * 3)[:3]
    tv_repeats = (list(config["stage_repeats"]) + [1] * 3)[:3]
    text = (f"torchvision.models.shufflenetv2.ShuffleNetV2(stages_repeats={tv_repeats}, "
            f"stages_out_channels={[config['stem_channels'], *tv_stages, config['final_channels']]}, num_classes={config['classes']})")
    changes = []
    if config["input_channels"] != 3:
        changes.append(f"conv1.0 replaced by Conv2d({config['input_channels']}, {config['stem_channels']}, 3, stride 2, pad 1, no bias)")
    if n < 3:
        changes.append(f"{', '.join(f'stage{k + 2}' for k in range(n, 3))} replaced by empty nn.Sequential, conv5.0 rebuilt for {stages[-1]} inputs")
    if n == 4:
        changes.append(f"stage5 added ({config['stage_repeats'][3]} torchvision InvertedResidual units to width {stages[3]}) and run after stage4; conv5.0 rebuilt")
    return text + ("; " + "; ".join(changes) if changes else "")


def layout(config):
    """Every state_dict tensor in network order: (name, shape, dtype) with dtype 'F32' or 'I64' (num_batches_tracked)."""
    check_config(config)
    out = []

    def conv(name, shape):
        out.append((name + ".weight", list(shape), "F32"))

    def bn(prefix, channels):
        for s in BN_SUFFIXES:
            out.append((f"{prefix}.{s}", [] if s == "num_batches_tracked" else [channels], "I64" if s == "num_batches_tracked" else "F32"))

    stem = config["stem_channels"]
    conv("conv1.0", [stem, config["input_channels"], 3, 3])
    bn("conv1.1", stem)
    inp = stem
    for s, (width, repeats) in enumerate(zip(config["stage_channels"], config["stage_repeats"])):
        half = width // 2
        for u in range(repeats):
            p = f"stage{s + 2}.{u}"
            if u == 0:
                conv(f"{p}.branch1.0", [inp, 1, 3, 3])
                bn(f"{p}.branch1.1", inp)
                conv(f"{p}.branch1.2", [half, inp, 1, 1])
                bn(f"{p}.branch1.3", half)
            conv(f"{p}.branch2.0", [half, inp if u == 0 else half, 1, 1])
            bn(f"{p}.branch2.1", half)
            conv(f"{p}.branch2.3", [half, 1, 3, 3])
            bn(f"{p}.branch2.4", half)
            conv(f"{p}.branch2.5", [half, half, 1, 1])
            bn(f"{p}.branch2.6", half)
            inp = width
    conv("conv5.0", [config["final_channels"], inp, 1, 1])
    bn("conv5.1", config["final_channels"])
    out.append(("fc.weight", [config["classes"], config["final_channels"]], "F32"))
    out.append(("fc.bias", [config["classes"]], "F32"))
    return out


def _bounds(name, shape):
    if name == "fc.weight":
        b = 1.0 / math.sqrt(shape[1])
        return -b, b
    if name == "fc.bias":
        return -0.1, 0.1
    if len(shape) == 4:
        b = math.sqrt(6.0 / (int(np.prod(shape)) // shape[0]))
        return -b, b
    suffix = name.rsplit(".", 1)[1]
    return {"weight": (0.5, 1.5), "bias": (-0.2, 0.2), "running_mean": (-0.2, 0.2), "running_var": (0.5, 1.5)}[suffix]


def _splitmix_uniform(seed, start, count):
    """u in [0, 1) for stream positions start .. start+count-1 (see the module docstring)."""
    with np.errstate(over="ignore"):
        state0 = np.uint64((GOLDEN ^ (seed & 0xFFFFFFFF)) & MASK64)
        k = np.arange(start + 1, start + count + 1, dtype=np.uint64)
        z = state0 + k * np.uint64(GOLDEN)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def seeded_state_dict(config, seed):
    """name -> numpy array (float32, or int64 0 for num_batches_tracked), in layout order."""
    tensors = {}
    position = 0
    for name, shape, dtype in layout(config):
        if dtype == "I64":
            tensors[name] = np.zeros(shape, dtype=np.int64)
            continue
        count = int(np.prod(shape, dtype=np.int64))
        lo, hi = _bounds(name, shape)
        u = _splitmix_uniform(seed, position, count)
        tensors[name] = (lo + (hi - lo) * u).astype(np.float32).reshape(shape)
        position += count
    return tensors


def layout_sha256(tensors):
    """SHA-256 of one line per tensor, 'name DTYPE d0,d1,...\\n', in order (an empty shape gives an empty list)."""
    text = "".join(f"{name} {_dtype_name(a)} {','.join(str(d) for d in a.shape)}\n" for name, a in tensors.items())
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def data_sha256(tensors):
    """SHA-256 of the tensors' little-endian bytes, concatenated in order."""
    h = hashlib.sha256()
    for a in tensors.values():
        h.update(np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<")).tobytes())
    return h.hexdigest()


def _dtype_name(a):
    return {np.dtype("float32"): "F32", np.dtype("int64"): "I64"}[a.dtype]


def state_dict_numpy(model):
    """The model's state_dict as numpy, every entry kept (num_batches_tracked included, int64)."""
    return {k: v.detach().cpu().numpy().copy() for k, v in model.state_dict().items()}


def load_numpy(model, tensors):
    """Loads name -> numpy tensors with strict=True: every name must be the model's and no name may be missing."""
    model.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in tensors.items()}, strict=True)
    return model


def count_macs(model, input_channels, height, width):
    """Multiply-adds of one image through `model` (Conv2d and Linear only), counted with forward hooks."""
    total = [0]

    def conv_hook(m, i, o):
        total[0] += (o.numel() // o.shape[0]) * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]

    def linear_hook(m, i, o):
        total[0] += m.in_features * m.out_features

    hooks = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            hooks.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            hooks.append(m.register_forward_hook(linear_hook))
    with torch.no_grad():
        model.eval()(torch.zeros(1, input_channels, height, width))
    for h in hooks:
        h.remove()
    return total[0]
