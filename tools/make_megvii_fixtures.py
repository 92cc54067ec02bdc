"""Fixtures for loading official megvii ShuffleNetV1 weights into models declared with ShuffleOrder.Official.

For each case NAME, writes into tests/ShuffleNetGen.Tests/Fixtures/pytorch/ (next to make_fixtures.py's, same format):
  NAME.json               config (tools/shufflenet.py keys, with "shuffle_order": "official")
  NAME.safetensors        the weights, converted by megvii_convert.convert from a checkpoint in megvii's layout
  NAME.io.safetensors     input [3, H, W] and logits [classes]: the official network's forward (the re-implementation in
                          test_megvii_convert.py) in float64 over the same float32 weights

The logits come from the megvii-layout network, not from the converted one: the C# tests that load these fixtures
(GeneratedVsPyTorchTests, ReferenceVsPyTorchTests) check conversion, declaration and generated code against it in one
step. g = 8 has the official 0.5x widths, which the paper order cannot take; g = 4 a width the paper order cannot take.

Run: /usr/bin/python3 tools/make_megvii_fixtures.py  (seeded: weights and input are the same on every run)
"""

import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402
from megvii_convert import convert  # noqa: E402
from shufflenet import ShuffleNetV1, load_weights  # noqa: E402
from test_megvii_convert import checkpoint_of, errors, official_model  # noqa: E402

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(REPO_ROOT, "tests", "ShuffleNetGen.Tests", "Fixtures", "pytorch")

# name: (groups, stage_out_channels as in network.py, repeats, input size, classes, seed)
CASES = {
    "megvii_g8_official_48": (8, [-1, 16, 192, 384, 768], [2, 2, 2], 48, 10, 8008),
    "megvii_g4_official_48": (4, [-1, 16, 160, 320, 640], [2, 2, 2], 48, 10, 4004),
}


def main():
    torch.set_num_threads(1)
    for name, (group, channels, repeats, size, classes, seed) in CASES.items():
        official = official_model(group, channels, repeats, classes, size, seed)
        tensors, config = convert(checkpoint_of(official), input_size=size)
        assert config["shuffle_order"] == "official"
        x = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(seed + 1)) * 2 - 1
        with torch.no_grad():
            logits = official.double()(x.double())[0]
            ours = load_weights(ShuffleNetV1.from_config(config), tensors).eval().double()(x.double())[0]
        absolute, relative = errors(logits, ours)
        # Written as float32 (the only type the C# tests read); the float64 logits round once, here.
        with open(os.path.join(OUT, name + ".json"), "w", encoding="utf-8", newline="\n") as f:
            json.dump(config, f, indent=2)
            f.write("\n")
        safetensors_io.save(tensors, os.path.join(OUT, name + ".safetensors"))
        safetensors_io.save({"input": x[0].numpy(), "logits": logits.numpy().astype(np.float32)},
                            os.path.join(OUT, name + ".io.safetensors"))
        print(f"{name}: g={group}, widths {channels[1:]}, repeats {repeats}, {size}x{size}; converted vs official "
              f"(float64): max abs error {absolute:.3e}, max rel error {relative:.3e}")


if __name__ == "__main__":
    main()
