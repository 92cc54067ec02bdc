"""ShuffleNet v1 (Zhang et al. 2017) as the reference for ShuffleNetGen.

Module names are part of the contract: `state_dict()` keys are the canonical
tensor names the C# generator looks up (conv1/bn1, units.{i}.conv1/bn1/dw/bn2/conv3/bn3, fc).
Widths are explicit rather than derived from the paper's tables so that test
configs can use small, odd or non-standard sizes.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

CONFIG_KEYS = (
    "groups",
    "stem_channels",
    "stage_channels",
    "stage_repeats",
    "input_channels",
    "input_height",
    "input_width",
    "classes",
    "stem_stride",
    "stem_max_pool",
)

# Optional config key: "paper" (default) or "official" (megvii's order, see official_channel_shuffle).
SHUFFLE_ORDERS = ("paper", "official")

BN_EPS = 1e-5


def channel_shuffle(x, groups):
    n, c, h, w = x.shape
    # Channel k of group i moves to position i + k*groups: the (g, n) -> (n, g) transpose.
    return x.view(n, groups, c // groups, h, w).transpose(1, 2).reshape(n, c, h, w)


def official_channel_shuffle(x, groups):
    """megvii's ShuffleNetV1 shuffle: view as (C/g, g), swap the axes. The inverse of `channel_shuffle`: channel
    i*g + j moves to j*(C/g) + i. The generator's ShuffleOrder.Official."""
    n, c, h, w = x.shape
    return x.reshape(n, c // groups, groups, h, w).permute(0, 2, 1, 3, 4).reshape(n, c, h, w)


class ShuffleUnit(nn.Module):
    def __init__(self, in_channels, out_channels, groups, stride, first_unit, shuffle_order="paper"):
        super().__init__()
        if shuffle_order not in SHUFFLE_ORDERS:
            raise ValueError(f"shuffle_order must be one of {SHUFFLE_ORDERS}, got {shuffle_order!r}")
        if stride not in (1, 2):
            raise ValueError(f"stride must be 1 or 2, got {stride}")
        if stride == 1 and in_channels != out_channels:
            raise ValueError("a stride-1 unit needs equal input and output widths")
        mid = out_channels // 4
        branch_out = out_channels - in_channels if stride == 2 else out_channels
        # The stem output is too narrow to be worth grouping (paper, sec. 3.3).
        conv1_groups = 1 if first_unit else groups
        for what, value, div in (
            ("input width", in_channels, conv1_groups),
            ("bottleneck width (out/4)", mid, groups),
            ("branch output width", branch_out, groups),
        ):
            if value <= 0 or value % div:
                raise ValueError(
                    f"unit {in_channels}->{out_channels} (stride {stride}): "
                    f"{what} {value} is not a positive multiple of {div}"
                )

        self.groups = groups
        self.stride = stride
        self.shuffle = official_channel_shuffle if shuffle_order == "official" else channel_shuffle
        self.conv1 = nn.Conv2d(in_channels, mid, 1, groups=conv1_groups, bias=False)
        self.bn1 = nn.BatchNorm2d(mid, eps=BN_EPS)
        self.dw = nn.Conv2d(mid, mid, 3, stride=stride, padding=1, groups=mid, bias=False)
        self.bn2 = nn.BatchNorm2d(mid, eps=BN_EPS)
        self.conv3 = nn.Conv2d(mid, branch_out, 1, groups=groups, bias=False)
        self.bn3 = nn.BatchNorm2d(branch_out, eps=BN_EPS)

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        # Shuffle even after an ungrouped conv1: the generator mirrors this, so the
        # permutation must be present in the reference whenever g > 1.
        if self.groups > 1:
            y = self.shuffle(y, self.groups)
        # No ReLU after the depthwise conv (paper, sec. 3.2).
        y = self.bn2(self.dw(y))
        y = self.bn3(self.conv3(y))
        if self.stride == 1:
            return F.relu(y + x)
        # count_include_pad=True: border windows always divide by 9, which the C# side relies on.
        shortcut = F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=True)
        return F.relu(torch.cat([shortcut, y], dim=1))


class ShuffleNetV1(nn.Module):
    def __init__(
        self,
        groups,
        stem_channels,
        stage_channels,
        stage_repeats,
        in_channels,
        classes,
        stem_stride=2,
        stem_max_pool=True,
        shuffle_order="paper",
    ):
        super().__init__()
        if len(stage_channels) != len(stage_repeats) or not stage_channels:
            raise ValueError("stage_channels and stage_repeats must be non-empty and equally long")
        if any(r < 1 for r in stage_repeats):
            raise ValueError("every stage needs at least its stride-2 unit")

        self.groups = groups
        self.shuffle_order = shuffle_order
        self.stem_max_pool = bool(stem_max_pool)
        self.conv1 = nn.Conv2d(in_channels, stem_channels, 3, stride=stem_stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(stem_channels, eps=BN_EPS)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1) if self.stem_max_pool else None

        units = []
        width = stem_channels
        for stage, (out_width, repeats) in enumerate(zip(stage_channels, stage_repeats)):
            for r in range(repeats):
                stride = 2 if r == 0 else 1
                units.append(
                    ShuffleUnit(width, out_width, groups, stride, first_unit=(stage == 0 and r == 0),
                                shuffle_order=shuffle_order)
                )
                width = out_width
        self.units = nn.ModuleList(units)
        self.fc = nn.Linear(width, classes)

    @classmethod
    def from_config(cls, config):
        missing = [k for k in CONFIG_KEYS if k not in config]
        if missing:
            raise KeyError(f"config is missing keys: {missing}")
        return cls(
            groups=int(config["groups"]),
            stem_channels=int(config["stem_channels"]),
            stage_channels=[int(c) for c in config["stage_channels"]],
            stage_repeats=[int(r) for r in config["stage_repeats"]],
            in_channels=int(config["input_channels"]),
            classes=int(config["classes"]),
            stem_stride=int(config["stem_stride"]),
            stem_max_pool=bool(config["stem_max_pool"]),
            shuffle_order=config.get("shuffle_order", "paper"),
        )

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        if self.maxpool is not None:
            x = self.maxpool(x)
        for unit in self.units:
            x = unit(x)
        # adaptive_avg_pool2d(1) rather than mean(): exports as a single GlobalAveragePool.
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        return self.fc(x)


def weights_to_numpy(model):
    """state_dict as float32 numpy arrays, minus num_batches_tracked (training-only state)."""
    return {
        name: t.detach().cpu().to(torch.float32).numpy()
        for name, t in model.state_dict().items()
        if not name.endswith("num_batches_tracked")
    }


def load_weights(model, tensors):
    """Load name -> array into `model`, strict except for the absent num_batches_tracked."""
    state = {name: torch.as_tensor(value) for name, value in tensors.items()}
    expected = model.state_dict()
    missing = [k for k in expected if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        raise KeyError(f"weight names do not match the model: missing={missing} unexpected={unexpected}")
    for name, value in state.items():
        if tuple(value.shape) != tuple(expected[name].shape):
            raise ValueError(
                f"{name}: shape {list(value.shape)} != model's {list(expected[name].shape)}"
            )
    model.load_state_dict(state, strict=False)
    return model
