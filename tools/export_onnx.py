"""Export a ShuffleNet (config JSON + safetensors weights) to ONNX: v1 through tools/shufflenet.py, v2 (a config with
"version": 2 and final_channels, weights in torchvision's names) through torchvision's own ShuffleNetV2
(tools/torchvision_v2.py).

Usage: /usr/bin/python3 tools/export_onnx.py --config NAME.json --weights NAME.safetensors --out model.onnx [--opset 13]

The graph has a fixed input shape [1, C, H, W] named `input` and output `logits`.
"""

import argparse
import collections
import json
import os
import sys

import onnx
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402
from shufflenet import ShuffleNetV1, load_weights  # noqa: E402


def export(config, weights, out_path, opset=13, keep_batch_norm=False):
    """Exports in eval mode. By default the exporter folds each BN into the conv before it; keep_batch_norm=True
    (training=PRESERVE on the eval model) writes separate BatchNormalization nodes instead. ShuffleNetGen's ONNX
    importer (ShuffleNetGen.Onnx) reads both."""
    if config.get("version", 1) == 2:
        import numpy as np
        import torchvision_v2

        model = torchvision_v2.build(config)
        # A file written by ShuffleNetGen's Safetensors.Write holds F32 tensors only: the batch counters torch keeps
        # (num_batches_tracked, unused in eval mode) are taken from the fresh model.
        state = torchvision_v2.state_dict_numpy(model)
        missing = [k for k in state if k not in weights and not k.endswith("num_batches_tracked")]
        extra = [k for k in weights if k not in state]
        if missing or extra:
            raise SystemExit(f"error: the weights do not fit the v2 config: missing {missing[:3]}, unexpected {extra[:3]}")
        state.update({k: np.asarray(v) for k, v in weights.items()})
        model = torchvision_v2.load_numpy(model, state)
    else:
        model = load_weights(ShuffleNetV1.from_config(config), weights)
    # Eval mode matters twice: BN uses the stored running statistics, and the
    # exporter folds those BNs into the preceding convs (unless keep_batch_norm).
    model.eval()
    dummy = torch.zeros(1, config["input_channels"], config["input_height"], config["input_width"])
    with torch.no_grad():
        torch.onnx.export(
            model,
            dummy,
            out_path,
            input_names=["input"],
            output_names=["logits"],
            opset_version=opset,
            do_constant_folding=True,
            training=torch.onnx.TrainingMode.PRESERVE if keep_batch_norm else torch.onnx.TrainingMode.EVAL,
        )
    onnx_model = onnx.load(out_path)
    onnx.checker.check_model(onnx_model, full_check=True)
    return onnx_model


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="NAME.json config")
    parser.add_argument("--weights", required=True, help="NAME.safetensors weights")
    parser.add_argument("--out", required=True, help="output .onnx path")
    parser.add_argument("--opset", type=int, default=13)
    args = parser.parse_args()

    with open(args.config, encoding="utf-8") as f:
        config = json.load(f)
    weights = safetensors_io.load(args.weights)
    onnx_model = export(config, weights, args.out, args.opset)

    ops = collections.Counter(node.op_type for node in onnx_model.graph.node)
    print(f"wrote {args.out} ({os.path.getsize(args.out)} bytes, opset {args.opset}); checker OK")
    print("node op types: " + ", ".join(f"{op} x{n}" for op, n in sorted(ops.items())))


if __name__ == "__main__":
    main()
