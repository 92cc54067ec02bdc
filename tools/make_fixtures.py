"""Generate PyTorch reference fixtures for the ShuffleNetGen tests.

For each config NAME writes NAME.json, NAME.safetensors (weights) and
NAME.io.safetensors (input [C,H,W] + reference logits [classes]).

Run with /usr/bin/python3 from anywhere; output is reproducible byte for byte.
"""

import argparse
import json
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402
from shufflenet import ShuffleNetV1, load_weights, weights_to_numpy  # noqa: E402

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUT = os.path.join(REPO_ROOT, "tests", "ShuffleNetGen.Tests", "Fixtures", "pytorch")
SIZE_BUDGET = 5 * 1024 * 1024

CONFIGS = {
    "g3_small_64": {
        "groups": 3,
        "stem_channels": 12,
        "stage_channels": [60, 120, 240],
        "stage_repeats": [2, 3, 2],
        "input_channels": 3,
        "input_height": 64,
        "input_width": 64,
        "classes": 10,
        "stem_stride": 2,
        "stem_max_pool": True,
    },
    "g8_gray_48x40": {
        "groups": 8,
        "stem_channels": 16,
        "stage_channels": [64, 128],
        "stage_repeats": [2, 2],
        "input_channels": 1,
        "input_height": 48,
        "input_width": 40,
        "classes": 7,
        "stem_stride": 1,
        "stem_max_pool": False,
    },
    "g2_odd_33": {
        "groups": 2,
        "stem_channels": 24,
        "stage_channels": [48, 96, 192, 384],
        "stage_repeats": [1, 2, 2, 1],
        "input_channels": 3,
        "input_height": 33,
        "input_width": 33,
        "classes": 5,
        "stem_stride": 2,
        "stem_max_pool": True,
    },
}

# Distinct seeds per config so fixtures do not share weight prefixes by accident.
SEEDS = {"g3_small_64": 1001, "g8_gray_48x40": 2002, "g2_odd_33": 3003}
INPUT_SEED_OFFSET = 500_000


def init_weights(model):
    # Fresh BN (gamma 1, beta 0, mean 0, var 1) would make a BN folding or
    # mean/var mix-up in the generator invisible; random statistics expose it.
    with torch.no_grad():
        for name, module in model.named_modules():
            if isinstance(module, torch.nn.Conv2d):
                fan_in = module.in_channels // module.groups * module.kernel_size[0] * module.kernel_size[1]
                module.weight.normal_(0.0, math.sqrt(2.0 / fan_in))
            elif isinstance(module, torch.nn.BatchNorm2d):
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.2, 0.2)
                module.running_mean.uniform_(-0.2, 0.2)
                module.running_var.uniform_(0.5, 1.5)
            elif isinstance(module, torch.nn.Linear):
                bound = 1.0 / math.sqrt(module.in_features)
                module.weight.uniform_(-bound, bound)
                module.bias.uniform_(-0.1, 0.1)


def reference_logits(config, weights, x):
    """Float64 forward from the float32 weights, so the reference carries no float32 rounding of its own."""
    model = ShuffleNetV1.from_config(config)
    load_weights(model, weights)
    model.double().eval()
    with torch.no_grad():
        return model(torch.as_tensor(x).double().unsqueeze(0))[0]


def conv_out(size):
    # 3x3, padding 1, stride 2 (convs and both pools).
    return (size - 1) // 2 + 1


def check_spatial_sizes(config, weights, x):
    model = ShuffleNetV1.from_config(config)
    load_weights(model, weights)
    model.eval()
    seen = []
    hooks = [model.bn1.register_forward_hook(lambda m, i, o: seen.append(("stem", tuple(o.shape[2:]))))]
    if model.maxpool is not None:
        hooks.append(model.maxpool.register_forward_hook(lambda m, i, o: seen.append(("maxpool", tuple(o.shape[2:])))))
    for k, unit in enumerate(model.units):
        hooks.append(unit.register_forward_hook(lambda m, i, o, k=k: seen.append((f"units.{k}", tuple(o.shape[2:])))))
    with torch.no_grad():
        model(torch.as_tensor(x).unsqueeze(0))
    for h in hooks:
        h.remove()

    h, w = config["input_height"], config["input_width"]
    if config["stem_stride"] == 2:
        h, w = conv_out(h), conv_out(w)
    expected = [("stem", (h, w))]
    if config["stem_max_pool"]:
        h, w = conv_out(h), conv_out(w)
        expected.append(("maxpool", (h, w)))
    k = 0
    for repeats in config["stage_repeats"]:
        for r in range(repeats):
            if r == 0:
                h, w = conv_out(h), conv_out(w)
            expected.append((f"units.{k}", (h, w)))
            k += 1
    assert seen == expected, f"spatial sizes differ:\n  got      {seen}\n  expected {expected}"
    return expected[-1][1]


def make_fixture(name, config, out_dir):
    torch.manual_seed(SEEDS[name])
    model = ShuffleNetV1.from_config(config)
    init_weights(model)
    weights = weights_to_numpy(model)

    torch.manual_seed(SEEDS[name] + INPUT_SEED_OFFSET)
    x = torch.randn(config["input_channels"], config["input_height"], config["input_width"]).numpy()

    logits64 = reference_logits(config, weights, x)
    logits = logits64.to(torch.float32).numpy()
    max_abs = float(np.abs(logits).max())
    if not np.all(np.isfinite(logits)) or not (1e-2 < max_abs < 1e4):
        raise RuntimeError(f"{name}: logits out of the useful range (max |logit| = {max_abs})")

    base = os.path.join(out_dir, name)
    with open(base + ".json", "w", encoding="utf-8", newline="\n") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    safetensors_io.save(weights, base + ".safetensors")
    safetensors_io.save({"input": x, "logits": logits}, base + ".io.safetensors")

    # Round-trip through the files alone, as a consumer would.
    with open(base + ".json", encoding="utf-8") as f:
        config_rt = json.load(f)
    assert config_rt == config
    weights_rt = safetensors_io.load(base + ".safetensors")
    assert list(weights_rt) == list(weights), "tensor order changed on reload"
    assert not any(k.endswith("num_batches_tracked") for k in weights_rt)
    for k in weights:
        assert weights_rt[k].dtype == np.float32 and np.array_equal(weights_rt[k], weights[k]), k
    io_rt = safetensors_io.load(base + ".io.safetensors")
    assert list(io_rt) == ["input", "logits"]
    assert np.array_equal(io_rt["input"], x)
    again = reference_logits(config_rt, weights_rt, io_rt["input"]).to(torch.float32).numpy()
    assert np.array_equal(again, io_rt["logits"]), f"{name}: reloaded model does not reproduce the logits"

    # How far a plain float32 forward lands from the float64 reference: a hint for test tolerances.
    model32 = load_weights(ShuffleNetV1.from_config(config_rt), weights_rt).eval()
    with torch.no_grad():
        out32 = model32(torch.as_tensor(io_rt["input"]).unsqueeze(0))[0].numpy()
    f32_err = float(np.abs(out32.astype(np.float64) - logits64.numpy()).max())

    final_hw = check_spatial_sizes(config_rt, weights_rt, io_rt["input"])

    sizes = {ext: os.path.getsize(base + ext) for ext in (".json", ".safetensors", ".io.safetensors")}
    n_params = sum(v.size for v in weights.values())
    print(
        f"{name}: max|logit|={max_abs:.4f} logits={np.array2string(logits, precision=3, max_line_width=200)} "
        f"params={n_params} final_hw={final_hw} float32_vs_float64_max_err={f32_err:.3e} "
        f"bytes json={sizes['.json']} weights={sizes['.safetensors']} io={sizes['.io.safetensors']}"
    )
    return sum(sizes.values())


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=DEFAULT_OUT, help="output directory (default: %(default)s)")
    args = parser.parse_args()

    # Keep the reference independent of the machine's thread count and BLAS choices where possible.
    torch.set_num_threads(1)
    os.makedirs(args.out, exist_ok=True)
    total = sum(make_fixture(name, config, args.out) for name, config in CONFIGS.items())
    print(f"total fixture bytes: {total}")
    if total > SIZE_BUDGET:
        raise RuntimeError(f"fixtures take {total} bytes, over the {SIZE_BUDGET} byte budget")


if __name__ == "__main__":
    main()
