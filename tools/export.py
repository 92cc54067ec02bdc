"""Export a trained ShuffleNet v1 (tools/shufflenet.py) for ShuffleNetGen: safetensors and/or ONNX.

Usage:
  /usr/bin/python3 tools/export.py --config CONFIG.json --checkpoint model.pt \\
      [--safetensors out.safetensors] [--onnx out.onnx] [--opset 13] [--keep-batch-norm]

--checkpoint is what torch.save wrote: a state_dict of ShuffleNetV1, or a dict holding one under 'state_dict' or
'model' (a 'module.' prefix from DataParallel is removed); a .safetensors file is accepted too.
The safetensors file has the canonical names and shapes (README, "Weights"), F32, without num_batches_tracked.
The ONNX file has a fixed [1, C, H, W] input named `input` and output `logits`; batch norm is folded into the convs
unless --keep-batch-norm. The script prints the matching C# declaration and checks the written safetensors file
reproduces the checkpoint's logits.
"""

import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402
from export_onnx import export as export_onnx  # noqa: E402
from shufflenet import ShuffleNetV1, load_weights, weights_to_numpy  # noqa: E402


def load_checkpoint(path):
    if path.endswith(".safetensors"):
        return {k: torch.as_tensor(v) for k, v in safetensors_io.load(path).items()}
    state = torch.load(path, map_location="cpu")
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    return {(k[len("module."):] if k.startswith("module.") else k): v for k, v in state.items()}


def declaration(config):
    stages = ", ".join(map(str, config["stage_repeats"]))
    widths = ", ".join(map(str, config["stage_channels"]))
    return (f"[ShuffleNet(Groups = {config['groups']}, StemChannels = {config['stem_channels']}, "
            f"StageChannels = new[] {{ {widths} }}, Stages = new[] {{ {stages} }}, InputChannels = {config['input_channels']}, "
            f"InputHeight = {config['input_height']}, InputWidth = {config['input_width']}, Classes = {config['classes']}, "
            f"StemStride = {config['stem_stride']}, StemMaxPool = {str(bool(config['stem_max_pool'])).lower()})]")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True)
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--safetensors")
    parser.add_argument("--onnx")
    parser.add_argument("--opset", type=int, default=13)
    parser.add_argument("--keep-batch-norm", action="store_true")
    args = parser.parse_args()
    if not args.safetensors and not args.onnx:
        parser.error("give --safetensors and/or --onnx")

    with open(args.config, encoding="utf-8") as f:
        config = json.load(f)
    state = load_checkpoint(args.checkpoint)
    state = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    model = load_weights(ShuffleNetV1.from_config(config), state).eval()
    weights = weights_to_numpy(model)

    if args.safetensors:
        safetensors_io.save(weights, args.safetensors)
        # Round trip: the file alone must reproduce the checkpoint's logits.
        x = torch.randn(2, config["input_channels"], config["input_height"], config["input_width"], generator=torch.Generator().manual_seed(0))
        again = load_weights(ShuffleNetV1.from_config(config), safetensors_io.load(args.safetensors)).eval()
        with torch.no_grad():
            if not torch.equal(model(x), again(x)):
                raise RuntimeError("the written safetensors file does not reproduce the checkpoint's logits")
        print(f"wrote {args.safetensors} ({len(weights)} tensors, {os.path.getsize(args.safetensors)} bytes)")
    if args.onnx:
        export_onnx(config, weights, args.onnx, args.opset, keep_batch_norm=args.keep_batch_norm)
        print(f"wrote {args.onnx} (opset {args.opset}, batch norm {'kept' if args.keep_batch_norm else 'folded'}; onnx.checker OK)")
    print("C# declaration: " + declaration(config))


if __name__ == "__main__":
    main()
