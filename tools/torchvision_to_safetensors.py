"""Convert a torchvision ShuffleNetV2 checkpoint to safetensors and print the matching C# declaration.

Usage:
  /usr/bin/python3 tools/torchvision_to_safetensors.py CHECKPOINT.pth [--out model.safetensors]
      [--height 224] [--width 224] [--class-name MyNet]

CHECKPOINT is what torch.save wrote for a torchvision.models.ShuffleNetV2: its state_dict (e.g. torchvision's
shufflenetv2_x1-5666bf0f80.pth), a dict holding one under 'state_dict' or 'model', or the whole model pickled; a
'module.' prefix (DataParallel) is removed. The output keeps torchvision's tensor names and order unchanged, float
tensors as F32 (float16/float64 are converted) and num_batches_tracked as I64, as torch holds them (the ShuffleNetGen
loader skips those).

The architecture is read from the tensor shapes: input channels and stem width (conv1.0.weight), the stages
(stage2, stage3, ... present, units per stage), each stage's width (twice branch2's width), conv5's width and the
classes (fc.weight). Every tensor is then checked against the layout that architecture implies, so a file that is not
a ShuffleNetV2 state_dict stops with a one-line error (exit status 2), never a traceback. Input height and width
cannot be read from weights: give them with --height/--width (default 224).

Prints, for a torchvision width multiplier (stem 24, torchvision's stage and conv5 widths, 3 input channels):
  [ShuffleNetV2(Scale = 1.0, Classes = 1000, InputHeight = 224, InputWidth = 224)] public partial class MyNet;
otherwise StemChannels, StageChannels, FinalChannels (and InputChannels when not 3); Stages when not { 4, 8, 4 }.
"""

import argparse
import os
import re
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402
import torchvision_v2 as tv2  # noqa: E402


class ConvertError(Exception):
    """A one-line reason the input cannot be converted."""


def load_checkpoint(path):
    import torch

    if not os.path.isfile(path):
        raise ConvertError(f"{path}: no such file")
    try:
        state = torch.load(path, map_location="cpu")
    except Exception as e:  # torch.load raises many types for a file that is not a checkpoint
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ConvertError(f"{path}: not a PyTorch checkpoint torch.load can read ({type(e).__name__}: {first})") from None
    return unwrap(state, path)


def unwrap(state, path="checkpoint"):
    import torch

    if isinstance(state, torch.nn.Module):
        state = state.state_dict()
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and key in state and isinstance(state[key], (dict, torch.nn.Module)):
            state = state[key]
            if isinstance(state, torch.nn.Module):
                state = state.state_dict()
    if not isinstance(state, dict) or not state:
        raise ConvertError(f"{path}: holds {type(state).__name__}, not a state_dict (a dict of tensors) or a model")
    out = {}
    for k, v in state.items():
        if not isinstance(k, str) or not isinstance(v, torch.Tensor):
            raise ConvertError(f"{path}: entry {k!r} is {type(v).__name__}, not a tensor; not a state_dict")
        out[k[len("module."):] if k.startswith("module.") else k] = v
    return out


def _shape(state, name):
    if name not in state:
        raise ConvertError(f"not a torchvision ShuffleNetV2 state_dict: no '{name}'")
    return list(state[name].shape)


def infer_config(state):
    """The architecture (torchvision_v2 config, input size left at 224) implied by the tensor shapes."""
    conv1 = _shape(state, "conv1.0.weight")
    if len(conv1) != 4 or conv1[2:] != [3, 3]:
        raise ConvertError(f"not a torchvision ShuffleNetV2 state_dict: conv1.0.weight has shape {conv1}, expected [stem, in, 3, 3]")
    units = {}
    for name in state:
        m = re.match(r"stage(\d+)\.(\d+)\.", name)
        if m:
            units.setdefault(int(m.group(1)), set()).add(int(m.group(2)))
    if not units:
        raise ConvertError("not a torchvision ShuffleNetV2 state_dict: no stage2.* tensors")
    stage_numbers = sorted(units)
    if stage_numbers != list(range(2, 2 + len(stage_numbers))):
        raise ConvertError(f"not a torchvision ShuffleNetV2 state_dict: stages {['stage%d' % s for s in stage_numbers]} are not stage2, stage3, ... in sequence")
    if len(stage_numbers) > 4:
        raise ConvertError(f"{len(stage_numbers)} stages; ShuffleNetGen's ShuffleNetV2 has 1 to 4")
    widths, repeats = [], []
    for s in stage_numbers:
        u = sorted(units[s])
        if u != list(range(len(u))):
            raise ConvertError(f"not a torchvision ShuffleNetV2 state_dict: stage{s} has units {u}, not 0, 1, ... in sequence")
        half = _shape(state, f"stage{s}.0.branch1.2.weight")[0]
        widths.append(2 * half)
        repeats.append(len(u))
    conv5 = _shape(state, "conv5.0.weight")
    fc = _shape(state, "fc.weight")
    if len(conv5) != 4 or len(fc) != 2:
        raise ConvertError(f"not a torchvision ShuffleNetV2 state_dict: conv5.0.weight {conv5}, fc.weight {fc}")
    return {
        "stem_channels": conv1[0],
        "stage_channels": widths,
        "stage_repeats": repeats,
        "final_channels": conv5[0],
        "input_channels": conv1[1],
        "input_height": 224,
        "input_width": 224,
        # From the bias when there is one, so that a mis-shaped fc.weight is reported as such.
        "classes": _shape(state, "fc.bias")[0] if "fc.bias" in state and len(_shape(state, "fc.bias")) == 1 else fc[0],
    }


def convert(state):
    """(tensors in torchvision order as numpy, config). Raises ConvertError when the tensors do not fit a ShuffleNetV2."""
    import torch

    config = infer_config(state)
    try:
        expected = tv2.layout(config)
    except ValueError as e:
        raise ConvertError(f"not a ShuffleNetV2 ShuffleNetGen can declare: {e}") from None
    names = {n for n, _, _ in expected}
    extra = [k for k in state if k not in names]
    if extra:
        raise ConvertError(f"not a torchvision ShuffleNetV2 state_dict: unexpected tensor '{extra[0]}'"
                           + (f" and {len(extra) - 1} more" if len(extra) > 1 else ""))
    tensors = {}
    for name, shape, dtype in expected:
        if name not in state:
            if name.endswith(".num_batches_tracked"):
                continue  # bookkeeping some checkpoints leave out: nothing to keep
            raise ConvertError(f"not a torchvision ShuffleNetV2 state_dict: '{name}' is missing")
        t = state[name]
        if list(t.shape) != shape:
            raise ConvertError(f"'{name}' has shape {list(t.shape)}, expected {shape} for {describe(config)}")
        if dtype == "I64":
            if t.is_floating_point() or t.numel() != 1:
                raise ConvertError(f"'{name}' is {t.dtype} with {t.numel()} values, expected one int64 counter")
            tensors[name] = t.detach().cpu().to(torch.int64).numpy().copy()
        else:
            if not t.is_floating_point():
                raise ConvertError(f"'{name}' is {t.dtype}, expected a floating-point tensor")
            a = t.detach().cpu().float().numpy().copy()
            if not np.all(np.isfinite(a)):
                raise ConvertError(f"'{name}' holds non-finite values")
            tensors[name] = a
    return tensors, config


def describe(config):
    return (f"stem {config['stem_channels']}, stages {config['stage_channels']} x {config['stage_repeats']}, "
            f"conv5 {config['final_channels']}, {config['input_channels']} input channels, {config['classes']} classes")


def declaration(config, class_name="MyNet"):
    scale = tv2.matching_scale(config)
    parts = []
    if scale is not None:
        parts.append(f"Scale = {scale:.1f}")
    else:
        parts.append(f"StemChannels = {config['stem_channels']}")
        parts.append("StageChannels = new[] { " + ", ".join(map(str, config["stage_channels"])) + " }")
        parts.append(f"FinalChannels = {config['final_channels']}")
    if list(config["stage_repeats"]) != tv2.TORCHVISION_REPEATS:
        parts.append("Stages = new[] { " + ", ".join(map(str, config["stage_repeats"])) + " }")
    if config["input_channels"] != 3:
        parts.append(f"InputChannels = {config['input_channels']}")
    parts.append(f"Classes = {config['classes']}")
    parts.append(f"InputHeight = {config['input_height']}")
    parts.append(f"InputWidth = {config['input_width']}")
    return f"[ShuffleNetV2({', '.join(parts)})] public partial class {class_name};"


def verify(tensors, config, path):
    """Reads the written file back and runs torchvision's network on it once at the declared size."""
    import torch

    back = safetensors_io.load(path)
    if list(back) != list(tensors) or any(back[k].dtype != tensors[k].dtype or not np.array_equal(back[k], tensors[k]) for k in tensors):
        raise ConvertError(f"{path}: the written file does not read back as written")
    model = tv2.build(config)
    missing, unexpected = model.load_state_dict({k: torch.from_numpy(v) for k, v in back.items()}, strict=False)
    if unexpected or any(not k.endswith(".num_batches_tracked") for k in missing):
        raise ConvertError(f"torchvision's network does not take the tensors: missing {missing}, unexpected {unexpected}")
    with torch.no_grad():
        out = model.eval()(torch.zeros(1, config["input_channels"], config["input_height"], config["input_width"]))
    if list(out.shape) != [1, config["classes"]] or not torch.all(torch.isfinite(out)):
        raise ConvertError("torchvision's network gives no finite logits with these weights")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", help="torchvision ShuffleNetV2 .pth (state_dict or pickled model)")
    parser.add_argument("--out", help="output .safetensors (default: CHECKPOINT with .safetensors)")
    parser.add_argument("--height", type=int, default=224, help="input height to declare (default 224)")
    parser.add_argument("--width", type=int, default=224, help="input width to declare (default 224)")
    parser.add_argument("--class-name", default="MyNet", help="class name in the printed declaration")
    args = parser.parse_args(argv)
    out = args.out or os.path.splitext(args.checkpoint)[0] + ".safetensors"
    try:
        if args.height < 1 or args.width < 1:
            raise ConvertError(f"input size {args.height}x{args.width}: both must be at least 1")
        state = load_checkpoint(args.checkpoint)
        tensors, config = convert(state)
        config["input_height"], config["input_width"] = args.height, args.width
        safetensors_io.save_state_dict(tensors, out)
        verify(tensors, config, out)
    except ConvertError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # anything unforeseen still ends in one line, not a traceback
        text = str(e).strip().splitlines()
        print(f"error: {args.checkpoint}: {type(e).__name__}: {text[0] if text else ''}", file=sys.stderr)
        return 2
    n_int = sum(1 for v in tensors.values() if v.dtype == np.int64)
    print(f"wrote {out}: {len(tensors)} tensors ({len(tensors) - n_int} float32, {n_int} int64 num_batches_tracked), "
          f"{sum(v.size for v in tensors.values() if v.dtype == np.float32)} float values; {describe(config)}")
    print(declaration(config, args.class_name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
