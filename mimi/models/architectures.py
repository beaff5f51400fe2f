"""Architectures for registered models, by name, without normalization (it is added around them).

- torchvision's classification models (``resnet18``, ``wide_resnet50_2``, ``vit_b_16``, ...), built by
  ``torchvision.models.get_model(name, weights=None, num_classes=K)``: ImageNet-style, any input size
  their pooling allows.
- ``cifar-resnet18``: the CIFAR ResNet-18 of RobustBench's CIFAR-10 entries (and of many papers):
  3x3 stem with 64 channels, no max-pool, four stages of two basic blocks (64, 128, 256, 512
  channels; a 1x1 conv + BN shortcut where the shape changes), 4x4 average pool, ``linear`` head.
  State-dict keys: ``conv1``, ``bn1``, ``layer1.0.conv1``, ``layer1.0.shortcut.0``, ``linear``.
- ``wrn-D-W`` (e.g. ``wrn-28-10``, RobustBench's ``Standard``): the pre-activation WideResNet of depth
  D = 6k + 4 and width W: a 3x3 stem of 16 channels, three groups (``block1..3``) of k blocks with
  16W, 32W, 64W channels (strides 1, 2, 2), BN + ReLU, global 8x8 average pool, ``fc`` head.
  Keys: ``block1.layer.0.bn1``, ``block1.layer.0.conv1``, ``block1.layer.0.convShortcut``, ``bn1``, ``fc``.
- the zoo's own (:mod:`mimi.models.networks`), as ``small-cnn`` or ``zoo:NAME``; these carry their
  normalization inside (:func:`normalizes_itself`).
"""

from __future__ import annotations

import functools
import re

import torch
import torch.nn.functional as F
from torch import nn

from mimi.models.networks import ARCHITECTURES as ZOO_ARCHITECTURES
from mimi.models.networks import Normalize

WRN_PATTERN = re.compile(r"^wrn-(\d+)-(\d+)$")


class CifarBasicBlock(nn.Module):
    """relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)); shortcut = 1x1 conv + BN when the shape changes."""

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False),
                                          nn.BatchNorm2d(planes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class CifarResNet18(nn.Module):
    """ResNet-18 for 32-px inputs (RobustBench's key layout)."""

    def __init__(self, num_classes: int = 10, in_channels: int = 3) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 64, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        planes, stages = 64, []
        for width, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            stages.append(nn.Sequential(CifarBasicBlock(planes, width, stride), CifarBasicBlock(width, width, 1)))
            planes = width
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.linear = nn.Linear(512, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        out = F.adaptive_avg_pool2d(out, 1).flatten(1)   # the 4x4 average pool of a 32-px input
        return self.linear(out)


class WideBasicBlock(nn.Module):
    """Pre-activation block: h = relu(bn1(x)); out = conv2(relu(bn2(conv1(h)))) + (x, or convShortcut(h))."""

    def __init__(self, in_planes: int, out_planes: int, stride: int) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.relu1 = nn.ReLU()
        self.conv1 = nn.Conv2d(in_planes, out_planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_planes)
        self.relu2 = nn.ReLU()
        self.conv2 = nn.Conv2d(out_planes, out_planes, 3, stride=1, padding=1, bias=False)
        self.equal_in_out = in_planes == out_planes
        self.convShortcut = None if self.equal_in_out else nn.Conv2d(in_planes, out_planes, 1, stride=stride,
                                                                     bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.relu1(self.bn1(x))
        out = self.conv2(self.relu2(self.bn2(self.conv1(h))))
        return out + (x if self.equal_in_out else self.convShortcut(h))


class WideGroup(nn.Module):
    """``count`` wide blocks in ``layer`` (the first changes width and stride)."""

    def __init__(self, count: int, in_planes: int, out_planes: int, stride: int) -> None:
        super().__init__()
        self.layer = nn.Sequential(*[WideBasicBlock(in_planes if k == 0 else out_planes, out_planes,
                                                    stride if k == 0 else 1) for k in range(count)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x)


class WideResNet(nn.Module):
    """WideResNet-depth-width for 32-px inputs (RobustBench's key layout); depth = 6k + 4."""

    def __init__(self, depth: int = 28, width: int = 10, num_classes: int = 10, in_channels: int = 3) -> None:
        super().__init__()
        if depth < 10 or (depth - 4) % 6 or width < 1:
            raise ValueError(f"WideResNet depth {depth} must be 6k + 4 (e.g. 28, 34, 70) and width {width} >= 1")
        count = (depth - 4) // 6
        channels = (16, 16 * width, 32 * width, 64 * width)
        self.conv1 = nn.Conv2d(in_channels, channels[0], 3, stride=1, padding=1, bias=False)
        self.block1 = WideGroup(count, channels[0], channels[1], 1)
        self.block2 = WideGroup(count, channels[1], channels[2], 2)
        self.block3 = WideGroup(count, channels[2], channels[3], 2)
        self.bn1 = nn.BatchNorm2d(channels[3])
        self.relu = nn.ReLU()
        self.fc = nn.Linear(channels[3], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block3(self.block2(self.block1(self.conv1(x))))
        out = F.adaptive_avg_pool2d(self.relu(self.bn1(out)), 1).flatten(1)
        return self.fc(out)


class NormalizedNetwork(nn.Module):
    """net((x - mean) / std): inputs in [0, 1], normalization inside, as the zoo's models."""

    def __init__(self, net: nn.Module, mean, std) -> None:
        super().__init__()
        self.normalize = Normalize(mean, std)
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.normalize(x))


@functools.cache
def torchvision_names() -> tuple[str, ...]:
    """torchvision's classification models (not detection, segmentation, video or optical flow)."""
    import torchvision.models  # deferred: torchvision.models takes about 2 s to import

    return tuple(torchvision.models.list_models(module=torchvision.models))


def zoo_architecture(name: str) -> str | None:
    """The :mod:`mimi.models.networks` architecture ``name`` refers to (``small-cnn``, ``zoo:NAME``), else None."""
    if name.startswith("zoo:"):
        return name[4:] if name[4:] in ZOO_ARCHITECTURES else None
    return name if name == "small-cnn" else None


def normalizes_itself(name: str) -> bool:
    """Whether architecture ``name`` has its own ``normalize`` layer (the zoo's do)."""
    return zoo_architecture(name) is not None


def check_architecture(name: str) -> str:
    """``name`` if mimi can build it, else a ValueError listing what it can."""
    if zoo_architecture(name) or WRN_PATTERN.match(name) or name == "cifar-resnet18" or name in torchvision_names():
        return name
    raise ValueError(f"unknown architecture {name!r}; choose cifar-resnet18, wrn-DEPTH-WIDTH (e.g. wrn-28-10), "
                     f"small-cnn, zoo:NAME ({', '.join(ZOO_ARCHITECTURES)}) or a torchvision classification model "
                     f"({', '.join(torchvision_names()[:8])}, … see torchvision.models.list_models())")


def build_network(name: str, num_classes: int, channels: int = 3, size: int = 224,
                  mean=(0.0,), std=(1.0,)) -> nn.Module:
    """A freshly initialised network ``name`` for inputs (channels, size, size) and ``num_classes`` classes.
    ``mean``/``std`` are used only by architectures that normalize themselves (:func:`normalizes_itself`)."""
    check_architecture(name)
    zoo_name = zoo_architecture(name)
    if zoo_name == "small-cnn":
        return ZOO_ARCHITECTURES[zoo_name](in_channels=channels, num_classes=num_classes, image_size=size,
                                           mean=mean, std=std)
    if zoo_name:
        return ZOO_ARCHITECTURES[zoo_name](in_channels=channels, num_classes=num_classes, mean=mean, std=std)
    if name == "cifar-resnet18":
        return CifarResNet18(num_classes, channels)
    wrn = WRN_PATTERN.match(name)
    if wrn:
        return WideResNet(int(wrn.group(1)), int(wrn.group(2)), num_classes, channels)
    if channels != 3:
        raise ValueError(f"torchvision's {name} takes 3-channel images; this profile has {channels}")
    import torchvision.models  # deferred: torchvision.models takes about 2 s to import

    return torchvision.models.get_model(name, weights=None, num_classes=num_classes)
