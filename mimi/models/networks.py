"""Architectures of the zoo. Normalization lives inside every model: inputs are in [0, 1].

- ``small-cnn``: three 3x3 conv blocks (32, 64, 128 channels, each ReLU + 2x2 max-pool),
  then 1152 -> 256 -> classes; ~390k parameters. One architecture for all Fashion-MNIST
  models, so that their differences come from training alone. ``dropout=p`` adds element-wise
  dropout on the features of the second and third blocks and on the hidden layer (no new
  parameters; active in training only).
- ``resnet18``: the CIFAR variant of ResNet-18 (3x3 stem, no max-pool), from torchvision.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from mimi.data.datasets import CIFAR10_MEAN, CIFAR10_STD, FMNIST_MEAN, FMNIST_STD


class Normalize(nn.Module):
    """x -> (x - mean) / std per channel."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class SmallCNN(nn.Module):
    def __init__(self, in_channels: int = 1, num_classes: int = 10, image_size: int = 28,
                 mean: Sequence[float] = FMNIST_MEAN, std: Sequence[float] = FMNIST_STD,
                 dropout: float = 0.0) -> None:
        super().__init__()
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout={dropout} must be in [0, 1)")
        self.normalize = Normalize(mean, std)
        blocks, channels = [], in_channels
        for block, width in enumerate((32, 64, 128)):
            blocks += [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
            if dropout and block > 0:
                blocks.append(nn.Dropout(dropout))
            channels = width
        self.features = nn.Sequential(*blocks)
        side = image_size // 8
        head = [nn.Flatten(), nn.Linear(channels * side * side, 256), nn.ReLU()]
        if dropout:
            head.append(nn.Dropout(dropout))
        self.classifier = nn.Sequential(*head, nn.Linear(256, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(self.normalize(x)))


class NormalizedResNet18(nn.Module):
    """torchvision's ResNet-18 with a 3x3 stride-1 stem and no max-pool (for 32-px images)."""

    def __init__(self, in_channels: int = 3, num_classes: int = 10,
                 mean: Sequence[float] = CIFAR10_MEAN, std: Sequence[float] = CIFAR10_STD) -> None:
        super().__init__()
        from torchvision.models import resnet18  # deferred: torchvision.models takes about 2 s to import

        self.normalize = Normalize(mean, std)
        self.net = resnet18(num_classes=num_classes)
        self.net.conv1 = nn.Conv2d(in_channels, 64, 3, stride=1, padding=1, bias=False)
        self.net.maxpool = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.normalize(x))


ARCHITECTURES = {"small-cnn": SmallCNN, "resnet18": NormalizedResNet18}


def build(architecture: str, **kwargs) -> nn.Module:
    """Instantiate an architecture by name with its keyword arguments."""
    if architecture not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {architecture!r}; choose one of {', '.join(ARCHITECTURES)}")
    return ARCHITECTURES[architecture](**kwargs)
