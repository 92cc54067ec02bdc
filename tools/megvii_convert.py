"""Convert an official megvii ShuffleNetV1 checkpoint (megvii-model/ShuffleNet-Series, ShuffleNetV1/) to ShuffleNetGen's
canonical layout (tools/shufflenet.py names), writing safetensors + a config JSON.

Usage:
  /usr/bin/python3 tools/megvii_convert.py CHECKPOINT.pth.tar --out shufflenet_g8_1x.safetensors [--config-out cfg.json]
      [--input-size 224] [--order official|paper]

--order official (the default) targets a model declared with ShuffleOrder = ShuffleOrder.Official (JSON
"shuffleOrder": "official"), whose shuffle is megvii's own permutation: the conversion is exact for every group count
and width (g = 1, 2, 3, 4, 8). --order paper targets the default ShuffleOrder.Paper declaration by relabeling channels,
which exists only for some widths (every width for g <= 3; the official g = 8 widths cannot be mapped) and raises
otherwise.

What differs in the megvii code (ShuffleNetV1/blocks.py, network.py) and how it is mapped:
  * Names: first_conv.0/1 -> conv1/bn1; features.N.branch_main_1.{0,1,3,4} -> units.N.{conv1,bn1,dw,bn2};
    features.N.branch_main_2.{0,1} -> units.N.{conv3,bn3}; classifier.0 -> fc. A `module.` prefix (DataParallel)
    and a {'state_dict': ...} wrapper are removed.
  * The classifier has no bias (Linear(..., bias=False)): fc.bias is written as zeros.
  * The channel shuffle sits AFTER the depthwise conv + BN (between branch_main_1 and branch_main_2), and it is
    reshape(N, C/g, g, H, W).permute(0, 2, 1, 3, 4): the inverse of the paper's shuffle, which ShuffleNetGen (like
    tools/shufflenet.py) applies right after the first pointwise conv's ReLU as reshape(N, g, C/g, H, W).transpose.
    Depthwise conv and BN act per channel, so a permutation commutes with them once their per-channel parameters
    are permuted too.
    --order official: ShuffleNetGen's official order applies megvii's permutation t(c) = (c % g)*(C/g) + c // g right
    after the first pointwise conv; moving it ahead of the depthwise conv only moves megvii's depthwise/BN2 channel c
    to position t(c). Nothing else changes.
    --order paper: what remains is to relabel channels so that each first-pointwise output channel reaches a
    channel of the same second-pointwise group in both networks: `unit_permutation` finds, within each group of the
    first pointwise conv (free for the ungrouped first unit), a permutation sigma of its output channels, and from it
    the permutation of the depthwise/BN2 channels and of the second pointwise conv's input channels (within each of
    its groups). It exists when, for every pair (conv1 group a, conv3 group b), both shuffles send the same number of
    channels from a to b, which holds for every ShuffleNet v1 width; the code checks it and raises otherwise.
  * The stride-2 unit returns cat(avgpool(x), relu(branch)) instead of relu(cat(...)): equal, as x is the output of a
    ReLU (or of the max pool after one), so its average is already non-negative.
  * globalpool is AvgPool2d(7): the global average pool for 224x224 input (the --input-size default).
"""

import argparse
import json
import os
import re
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402

BN_KEYS = ("weight", "bias", "running_mean", "running_var")


def megvii_shuffle_target(c, channels, groups):
    """Position channel c takes after the megvii shuffle (reshape [C/g, g] -> permute)."""
    n = channels // groups
    return (c % groups) * n + c // groups


def paper_shuffle_target(c, channels, groups):
    """Position channel c takes after ShuffleNetGen's shuffle (reshape [g, C/g] -> transpose)."""
    n = channels // groups
    return (c % n) * groups + c // n


def unit_permutation(mid, groups, conv1_groups):
    """For one unit with `mid` bottleneck channels: (sigma, position) where our conv1 output channel sigma[c] takes
    megvii conv1 output channel c, and position[c] is where that channel sits after our shuffle (= our depthwise
    channel index). megvii's depthwise channel c and conv3 input megvii_shuffle_target(c) map to those."""
    n1 = mid // conv1_groups  # conv1 output channels per conv1 group
    n3 = mid // groups        # conv3 input channels per conv3 group
    if groups == 1:
        ident = list(range(mid))
        return ident, ident
    sigma = [None] * mid
    for a in range(conv1_groups):
        block = range(a * n1, (a + 1) * n1)
        buckets_ours = {}
        for c in block:
            buckets_ours.setdefault(paper_shuffle_target(c, mid, groups) // n3, []).append(c)
        buckets_megvii = {}
        for c in block:
            buckets_megvii.setdefault(megvii_shuffle_target(c, mid, groups) // n3, []).append(c)
        for b, theirs in buckets_megvii.items():
            ours = buckets_ours.get(b, [])
            if len(ours) != len(theirs):
                raise ValueError(
                    f"mid={mid}, groups={groups}: conv1 group {a} sends {len(theirs)} channels to conv3 group {b} in the "
                    f"megvii network but {len(ours)} in ShuffleNetGen's; no channel relabeling maps one onto the other")
            for c_m, c_o in zip(theirs, ours):
                sigma[c_m] = c_o
    position = [paper_shuffle_target(sigma[c], mid, groups) for c in range(mid)]
    return sigma, position


def strip(state):
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    out = {}
    for k, v in state.items():
        if k.startswith("module."):
            k = k[len("module."):]
        out[k] = np.asarray(v.detach().cpu().float().numpy() if hasattr(v, "detach") else v, dtype=np.float32)
    return out


def convert(state, input_size=224, order="official"):
    """megvii state_dict (name -> array) -> (canonical tensors, config dict) for a model with shuffle order `order`."""
    if order not in ("official", "paper"):
        raise ValueError(f"order must be 'official' or 'paper', got {order!r}")
    s = strip(state)
    unit_ids = sorted({int(m.group(1)) for k in s for m in [re.match(r"features\.(\d+)\.", k)] if m})
    if not unit_ids or unit_ids != list(range(len(unit_ids))):
        raise KeyError("no features.N.* units found: not a megvii ShuffleNetV1 state_dict")

    out = {"conv1.weight": s["first_conv.0.weight"]}
    for k in BN_KEYS:
        out[f"bn1.{k}"] = s[f"first_conv.1.{k}"]
    stem = out["conv1.weight"].shape[0]
    width = stem
    stage_channels, stage_repeats, groups = [], [], None
    for u in unit_ids:
        p = f"features.{u}."
        w1 = s[p + "branch_main_1.0.weight"]
        w3 = s[p + "branch_main_2.0.weight"]
        mid = w1.shape[0]
        conv1_groups = width // w1.shape[1]
        unit_groups = mid // w3.shape[1]
        if groups is None:
            groups = unit_groups
        elif unit_groups != groups:
            raise ValueError(f"unit {u}: groups {unit_groups} differ from {groups}")
        branch_out = w3.shape[0]
        stride2 = branch_out != 4 * mid  # a stride-2 unit's branch is narrower than its output
        out_width = width + branch_out if stride2 else branch_out
        if stride2:
            stage_channels.append(out_width)
            stage_repeats.append(1)
        else:
            stage_repeats[-1] += 1

        q = f"units.{u}."
        # Each order is a relabeling: conv1/BN1 output channels, depthwise/BN2 channels, and conv3's weights.
        if order == "official":
            # Our depthwise channel megvii_shuffle_target(c) is megvii's depthwise channel c (identity when g = 1);
            # the pointwise convs keep megvii's channel order.
            conv1_perm = np.arange(mid)
            dw_perm = np.argsort([megvii_shuffle_target(c, mid, groups) for c in range(mid)])
            w3_ours = w3
        else:
            sigma, position = unit_permutation(mid, groups, conv1_groups)
            conv1_perm = np.argsort(sigma)
            dw_perm = np.argsort(position)
            # conv3 input: megvii position megvii_shuffle_target(c) holds what our position position[c] holds.
            n3 = mid // groups
            w3_ours = np.empty_like(w3)
            per_out = branch_out // groups
            for c in range(mid):
                src, dst = megvii_shuffle_target(c, mid, groups), position[c]
                assert src // n3 == dst // n3
                b = src // n3
                w3_ours[b * per_out:(b + 1) * per_out, dst % n3] = w3[b * per_out:(b + 1) * per_out, src % n3]
        out[q + "conv1.weight"] = w1[conv1_perm]
        for k in BN_KEYS:
            out[q + f"bn1.{k}"] = s[p + f"branch_main_1.1.{k}"][conv1_perm]
        out[q + "dw.weight"] = s[p + "branch_main_1.3.weight"][dw_perm]
        for k in BN_KEYS:
            out[q + f"bn2.{k}"] = s[p + f"branch_main_1.4.{k}"][dw_perm]
        out[q + "conv3.weight"] = w3_ours
        for k in BN_KEYS:
            out[q + f"bn3.{k}"] = s[p + f"branch_main_2.1.{k}"]
        width = out_width

    fc = s["classifier.0.weight"]
    out["fc.weight"] = fc
    out["fc.bias"] = s.get("classifier.0.bias", np.zeros(fc.shape[0], dtype=np.float32))
    config = {
        "groups": groups,
        "stem_channels": stem,
        "stage_channels": stage_channels,
        "stage_repeats": stage_repeats,
        "input_channels": int(out["conv1.weight"].shape[1]),
        "input_height": input_size,
        "input_width": input_size,
        "classes": int(fc.shape[0]),
        "stem_stride": 2,
        "stem_max_pool": True,
        "shuffle_order": order,
    }
    return out, config


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", help="megvii checkpoint (.pth.tar / .pth), loaded with torch.load on CPU")
    parser.add_argument("--out", required=True, help="output .safetensors")
    parser.add_argument("--config-out", help="output config JSON (default: OUT with .json)")
    parser.add_argument("--input-size", type=int, default=224)
    parser.add_argument("--order", choices=("official", "paper"), default="official",
                        help="shuffle order of the target declaration (default: official, exact for every group count)")
    args = parser.parse_args()

    import torch

    state = torch.load(args.checkpoint, map_location="cpu")
    tensors, config = convert(state, args.input_size, args.order)
    safetensors_io.save(tensors, args.out)
    config_path = args.config_out or os.path.splitext(args.out)[0] + ".json"
    with open(config_path, "w", encoding="utf-8", newline="\n") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    print(f"wrote {args.out} ({len(tensors)} tensors) and {config_path}: {json.dumps(config)}")
    print("[ShuffleNet(Groups = {groups}, StemChannels = {stem_channels}, StageChannels = new[] {{ {sc} }}, "
          "Stages = new[] {{ {sr} }}, InputChannels = {input_channels}, InputHeight = {input_height}, "
          "InputWidth = {input_width}, Classes = {classes}{order})]".format(
              sc=", ".join(map(str, config["stage_channels"])), sr=", ".join(map(str, config["stage_repeats"])),
              order=", ShuffleOrder = ShuffleOrder.Official" if args.order == "official" else "", **config))


if __name__ == "__main__":
    main()
