"""Tests for tools/megvii_convert.py: networks in the official megvii layout and their conversions compute the same logits.

Run: /usr/bin/python3 tools/test_megvii_convert.py   (or: /usr/bin/python3 -m unittest discover -s tools -p 'test_*.py')
The C# suite runs it too (MegviiConvertScriptTests) when /usr/bin/python3 can import torch, and reports it skipped
otherwise.

OfficialShuffleNetV1 below is written from the structure of megvii-model/ShuffleNet-Series ShuffleNetV1/blocks.py and
network.py, so the test needs neither their code nor a checkpoint: module names and shapes as theirs (first_conv,
features.N.branch_main_1 = pointwise group conv, BN, ReLU, depthwise conv, BN; branch_main_2 = pointwise group conv, BN;
classifier.0 without bias), the first unit's pointwise conv ungrouped, the channel shuffle after branch_main_1 as
reshape [C/g, g] + permute (only when g > 1), ReLU after the residual add or on the stride-2 branch before the concat.
Their globalpool is AvgPool2d(7), global for 224x224 input; here it is AvgPool2d(final map size) so that small inputs
keep the test fast.
"""

import os
import sys
import unittest

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from megvii_convert import convert, unit_permutation  # noqa: E402
from shufflenet import ShuffleNetV1, channel_shuffle, load_weights, official_channel_shuffle  # noqa: E402


class ShuffleV1Block(nn.Module):
    def __init__(self, inp, oup, *, group, first_group, mid_channels, ksize, stride):
        super().__init__()
        self.stride, self.group = stride, group
        outputs = oup - inp if stride == 2 else oup
        self.branch_main_1 = nn.Sequential(
            nn.Conv2d(inp, mid_channels, 1, 1, 0, groups=1 if first_group else group, bias=False),
            nn.BatchNorm2d(mid_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid_channels, mid_channels, ksize, stride, ksize // 2, groups=mid_channels, bias=False),
            nn.BatchNorm2d(mid_channels),
        )
        self.branch_main_2 = nn.Sequential(
            nn.Conv2d(mid_channels, outputs, 1, 1, 0, groups=group, bias=False), nn.BatchNorm2d(outputs))
        if stride == 2:
            self.branch_proj = nn.AvgPool2d(kernel_size=3, stride=2, padding=1)

    def channel_shuffle(self, x):
        batchsize, num_channels, height, width = x.shape
        assert num_channels % self.group == 0
        group_channels = num_channels // self.group
        x = x.reshape(batchsize, group_channels, self.group, height, width)
        x = x.permute(0, 2, 1, 3, 4)
        return x.reshape(batchsize, num_channels, height, width)

    def forward(self, old_x):
        x = self.branch_main_1(old_x)
        if self.group > 1:
            x = self.channel_shuffle(x)
        x = self.branch_main_2(x)
        if self.stride == 1:
            return F.relu(x + old_x)
        return torch.cat((self.branch_proj(old_x), F.relu(x)), 1)


class OfficialShuffleNetV1(nn.Module):
    def __init__(self, group, stage_out_channels, stage_repeats, n_class, input_size):
        super().__init__()
        self.stage_out_channels = stage_out_channels
        inp = stage_out_channels[1]
        self.first_conv = nn.Sequential(nn.Conv2d(3, inp, 3, 2, 1, bias=False), nn.BatchNorm2d(inp), nn.ReLU(inplace=True))
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        features = []
        for s, repeats in enumerate(stage_repeats):
            out = stage_out_channels[s + 2]
            for i in range(repeats):
                features.append(ShuffleV1Block(inp, out, group=group, first_group=(s == 0 and i == 0),
                                               mid_channels=out // 4, ksize=3, stride=2 if i == 0 else 1))
                inp = out
        self.features = nn.Sequential(*features)
        final = input_size
        for _ in range(2 + len(stage_repeats)):
            final = (final - 1) // 2 + 1
        self.globalpool = nn.AvgPool2d(final)
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


def official_model(group, channels, repeats, n_class, input_size, seed):
    model = OfficialShuffleNetV1(group, channels, repeats, n_class, input_size)
    randomize(model, seed)
    return model.eval()


def checkpoint_of(model):
    """As a DataParallel training run saves it, inside a checkpoint dict (what megvii's train.py writes)."""
    return {"state_dict": {"module." + k: v for k, v in model.state_dict().items()}, "epoch": 1}


def errors(expected, got):
    """(max abs error, max abs error relative to the largest |expected| logit)."""
    scale = expected.abs().max().item()
    err = (expected - got).abs().max().item()
    return err, err / scale


INPUT_SIZE = 64

# group: (stage_out_channels as in network.py, with -1 first), repeats. g = 3 and 8 have the official 0.5x widths
# (network.py); g = 1, 2, 4 have no official model and take Table 1-like widths. g = 4's 160 gives a 40-channel
# bottleneck (10 per group), one of the widths the paper order cannot take (see PaperOrderTest).
CASES = {
    1: ([-1, 12, 72, 144, 288], [2, 2, 2]),
    2: ([-1, 12, 96, 192, 384], [2, 3, 2]),
    3: ([-1, 12, 120, 240, 480], [2, 3, 2]),
    4: ([-1, 16, 160, 320, 640], [2, 2, 2]),
    8: ([-1, 16, 192, 384, 768], [2, 2, 2]),
}


class OfficialOrderTest(unittest.TestCase):
    def test_every_group_count_converts_exactly(self):
        torch.set_num_threads(1)
        for group, (channels, repeats) in CASES.items():
            with self.subTest(group=group):
                official = official_model(group, channels, repeats, 11, INPUT_SIZE, 100 + group)
                tensors, config = convert(checkpoint_of(official), input_size=INPUT_SIZE)
                self.assertEqual(config["groups"], group)
                self.assertEqual(config["shuffle_order"], "official")
                self.assertEqual(config["stage_channels"], channels[2:])
                self.assertEqual(config["stage_repeats"], repeats)
                ours = load_weights(ShuffleNetV1.from_config(config), tensors).eval()
                x = torch.randn(2, 3, INPUT_SIZE, INPUT_SIZE, generator=torch.Generator().manual_seed(group))
                with torch.no_grad():
                    expected = official.double()(x.double())
                    got = ours.double()(x.double())
                absolute, relative = errors(expected, got)
                print(f"official order g={group}: max |logit| {expected.abs().max().item():.4g}, "
                      f"max abs error {absolute:.3e}, max rel error {relative:.3e}", file=sys.stderr)
                self.assertGreater(expected.abs().max().item(), 1e-3)
                self.assertLess(relative, 1e-10, f"g={group}: relative error {relative}")

    def test_the_order_matters(self):
        """Official weights in a paper-order model are wrong for g > 1: the test above could fail."""
        channels, repeats = CASES[8]
        official = official_model(8, channels, repeats, 11, INPUT_SIZE, 7)
        tensors, config = convert(official.state_dict(), input_size=INPUT_SIZE)
        paper = load_weights(ShuffleNetV1.from_config(dict(config, shuffle_order="paper")), tensors).eval()
        x = torch.randn(1, 3, INPUT_SIZE, INPUT_SIZE, generator=torch.Generator().manual_seed(3))
        with torch.no_grad():
            _, relative = errors(official.double()(x.double()), paper.double()(x.double()))
        self.assertGreater(relative, 1e-3)

    def test_official_shuffle_is_the_inverse_of_the_paper_shuffle(self):
        for groups, channels in ((2, 6), (3, 12), (4, 40), (8, 48), (8, 64)):
            x = torch.arange(channels, dtype=torch.float64).reshape(1, channels, 1, 1)
            self.assertTrue(torch.equal(official_channel_shuffle(channel_shuffle(x, groups), groups), x))
            self.assertTrue(torch.equal(channel_shuffle(official_channel_shuffle(x, groups), groups), x))
            block = ShuffleV1Block(channels * 4, channels * 4, group=groups, first_group=False, mid_channels=channels,
                                   ksize=3, stride=1)
            self.assertTrue(torch.equal(block.channel_shuffle(x), official_channel_shuffle(x, groups)))
            if channels != groups * groups:  # a square reshape makes both orders one permutation
                self.assertFalse(torch.equal(channel_shuffle(x, groups), official_channel_shuffle(x, groups)))


class PaperOrderTest(unittest.TestCase):
    def test_groups_up_to_three_convert_to_the_paper_order(self):
        torch.set_num_threads(1)
        for group in (1, 2, 3):
            channels, repeats = CASES[group]
            with self.subTest(group=group):
                official = official_model(group, channels, repeats, 11, INPUT_SIZE, 200 + group)
                tensors, config = convert(checkpoint_of(official), input_size=INPUT_SIZE, order="paper")
                self.assertEqual(config["shuffle_order"], "paper")
                ours = load_weights(ShuffleNetV1.from_config(config), tensors).eval()
                x = torch.randn(2, 3, INPUT_SIZE, INPUT_SIZE, generator=torch.Generator().manual_seed(group))
                with torch.no_grad():
                    _, relative = errors(official.double()(x.double()), ours.double()(x.double()))
                self.assertLess(relative, 1e-10, f"g={group}: relative error {relative}")

    def test_widths_without_a_relabeling_are_refused_with_a_reason(self):
        for group in (4, 8):
            channels, _ = CASES[group]
            # Stride-1 units too: the first unit's ungrouped conv1 is free to relabel, so it never fails.
            official = official_model(group, channels, [2, 2, 1], 5, INPUT_SIZE, 1)
            with self.subTest(group=group), self.assertRaisesRegex(ValueError, "no channel relabeling"):
                convert(official.state_dict(), order="paper")

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
