"""Small untrained networks that the tests run the library on: seeded, frozen and fast on two CPU cores."""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from mimi.core.compute import freeze
from mimi.models.networks import Normalize


def frozen(make: Callable[[], nn.Module], seed: int = 0) -> nn.Module:
    """``make()`` with its weights initialised after ``torch.manual_seed(seed)``, frozen for inference."""
    torch.manual_seed(seed)  # weight initialisation only
    return freeze(make())


class TinyNet(nn.Module):
    """Normalize -> conv -> ReLU -> pool -> linear: 1x12x12 inputs, 4 classes, non-additive."""

    def __init__(self) -> None:
        super().__init__()
        self.normalize = Normalize((0.3,), (0.3,))
        self.conv = nn.Conv2d(1, 6, 3, padding=1)
        self.head = nn.Linear(6 * 4 * 4, 4)

    def forward(self, x):
        h = torch.relu(self.conv(self.normalize(x)))
        return self.head(nn.functional.avg_pool2d(h, 3).flatten(1))


class TinyFashionNet(nn.Module):
    """Normalize -> conv -> ReLU -> pool -> linear: 1x28x28 inputs (Fashion-MNIST's gallery), 10 classes."""

    def __init__(self) -> None:
        super().__init__()
        self.normalize = Normalize((0.3,), (0.3,))
        self.conv = nn.Conv2d(1, 4, 5, stride=3)
        self.head = nn.Linear(4 * 4 * 4, 10)

    def forward(self, x):
        h = torch.relu(self.conv(self.normalize(x)))
        return self.head(nn.functional.adaptive_avg_pool2d(h, 4).flatten(1))


class TwoConvNet(nn.Module):
    """Two strided convolutions with ReLUs, then linear: 1x28x28 inputs, 10 classes, no normalization."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(1, 6, 3, stride=2), nn.ReLU(), nn.Conv2d(6, 8, 3, stride=2), nn.ReLU(),
                                 nn.Flatten(), nn.Linear(8 * 6 * 6, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
