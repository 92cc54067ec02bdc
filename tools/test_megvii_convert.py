"""Tests for tools/megvii_convert.py: a tiny network in the megvii layout and its conversion compute the same logits.

Run: /usr/bin/python3 tools/test_megvii_convert.py   (or: /usr/bin/python3 -m unittest discover -s tools -p 'test_*.py')

The megvii network below is written from the structure of megvii-model/ShuffleNet-Series ShuffleNetV1/blocks.py and
network.py (module names, shuffle after the depthwise BN as reshape [C/g, g] + permute, relu only on the stride-2
branch, bias-free classifier, AvgPool2d(7) head), so the test needs neither their code nor a checkpoint.
"""

import os
import sys
import unittest

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from megvii_convert import convert, unit_permutation  # noqa: E402
from shufflenet import ShuffleNetV1, load_weights  # noqa: E402


class MegviiBlock(nn.Module):
    def __init__(self, inp, oup, group, first_group, stride):
        super().__init__()
        self.stride, self.group = stride, group
        mid = oup // 4
        outputs = oup - inp if stride == 2 else oup
        self.branch_main_1 = nn.Sequential(
            nn.Conv2d(inp, mid, 1, 1, 0, groups=1 if first_group else group, bias=False),
            nn.BatchNorm2d(mid),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid, mid, 3, stride, 1, groups=mid, bias=False),
            nn.BatchNorm2d(mid),
        )
        self.branch_main_2 = nn.Sequential(nn.Conv2d(mid, outputs, 1, 1, 0, groups=group, bias=False), nn.BatchNorm2d(outputs))
        if stride == 2:
            self.branch_proj = nn.AvgPool2d(kernel_size=3, stride=2, padding=1)

    def shuffle(self, x):
        n, c, h, w = x.shape
        return x.reshape(n, c // self.group, self.group, h, w).permute(0, 2, 1, 3, 4).reshape(n, c, h, w)

    def forward(self, old_x):
        x = self.branch_main_1(old_x)
        if self.group > 1:
            x = self.shuffle(x)
        x = self.branch_main_2(x)
        if self.stride == 1:
            return F.relu(x + old_x)
        return torch.cat((self.branch_proj(old_x), F.relu(x)), 1)


class MegviiNet(nn.Module):
    def __init__(self, group, stage_out_channels, stage_repeats, n_class):
        super().__init__()
        self.stage_out_channels = stage_out_channels
        inp = stage_out_channels[1]
        self.first_conv = nn.Sequential(nn.Conv2d(3, inp, 3, 2, 1, bias=False), nn.BatchNorm2d(inp), nn.ReLU(inplace=True))
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        features = []
        for s, repeats in enumerate(stage_repeats):
            out = stage_out_channels[s + 2]
            for i in range(repeats):
                features.append(MegviiBlock(inp, out, group, s == 0 and i == 0, 2 if i == 0 else 1))
                inp = out
        self.features = nn.Sequential(*features)
        self.globalpool = nn.AvgPool2d(7)
        self.classifier = nn.Sequential(nn.Linear(stage_out_channels[-1], n_class, bias=False))

    def forward(self, x):
        x = self.features(self.maxpool(self.first_conv(x)))
        x = self.globalpool(x).contiguous().view(-1, self.stage_out_channels[-1])
        return self.classifier(x)


def randomize(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * (2.0 / fan_in) ** 0.5)
            elif isinstance(m, nn.BatchNorm2d):
                c = m.num_features
                m.weight.copy_(torch.rand(c, generator=g) + 0.5)
                m.bias.copy_(torch.rand(c, generator=g) * 0.4 - 0.2)
                m.running_mean.copy_(torch.rand(c, generator=g) * 0.4 - 0.2)
                m.running_var.copy_(torch.rand(c, generator=g) + 0.5)


class MegviiConvertTest(unittest.TestCase):
    CASES = {
        # group: (stage_out_channels as in network.py, with -1 first), repeats
        1: ([-1, 12, 72, 144, 288], [2, 2, 2]),
        2: ([-1, 12, 96, 192, 384], [2, 3, 2]),
        3: ([-1, 12, 120, 240, 480], [2, 3, 2]),  # the official 0.5x widths
        4: ([-1, 16, 128, 256, 512], [2, 2, 2]),
        # g = 8 converts only for bottlenecks of n channels per group with n % 8 in (0, 1, 7); see megvii_convert.py.
        8: ([-1, 16, 256, 512, 1024], [2, 2, 1]),
    }

    def test_converted_network_matches_megvii_logits(self):
        torch.set_num_threads(1)
        for group, (channels, repeats) in self.CASES.items():
            with self.subTest(group=group):
                megvii = MegviiNet(group, channels, repeats, n_class=11)
                randomize(megvii, 100 + group)
                megvii.eval()
                # As saved by a DataParallel training run, inside a checkpoint dict.
                checkpoint = {"state_dict": {"module." + k: v for k, v in megvii.state_dict().items()}, "epoch": 1}
                tensors, config = convert(checkpoint)
                self.assertEqual(config["groups"], group)
                self.assertEqual(config["stage_channels"], channels[2:])
                self.assertEqual(config["stage_repeats"], repeats)
                ours = load_weights(ShuffleNetV1.from_config(config), tensors).eval()
                x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(group))
                with torch.no_grad():
                    expected = megvii.double()(x.double())
                    got = ours.double()(x.double())
                scale = expected.abs().max().item()
                self.assertGreater(scale, 1e-3)
                err = (expected - got).abs().max().item() / scale
                self.assertLess(err, 1e-10, f"g={group}: relative error {err}")

    def test_official_g8_widths_are_rejected_with_a_reason(self):
        megvii = MegviiNet(8, [-1, 16, 192, 384, 768], [1, 1, 1], n_class=5)
        with self.assertRaisesRegex(ValueError, "no channel relabeling"):
            convert(megvii.state_dict())

    def test_permutation_exists_for_every_width_with_up_to_three_groups(self):
        for groups in (1, 2, 3):
            for per_group in range(1, 40):
                mid = groups * per_group
                for conv1_groups in (1, groups):
                    sigma, position = unit_permutation(mid, groups, conv1_groups)
                    self.assertEqual(sorted(sigma), list(range(mid)))
                    self.assertEqual(sorted(position), list(range(mid)))
                    n1 = mid // conv1_groups
                    self.assertTrue(all(sigma[c] // n1 == c // n1 for c in range(mid)), "sigma must stay within conv1 groups")


if __name__ == "__main__":
    unittest.main()
