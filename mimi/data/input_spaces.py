"""Input spaces: the input space a model works in, and how an image gets there.

A :class:`InputSpace` fixes the input a model takes, (channels, size, size) in [0, 1]; the
per-channel mean and std of its normalization (applied inside the model, as
:class:`mimi.models.networks.Normalize` does: x -> (x - mean) / std); its class names; the default grid of
players; and how an uploaded image is turned into an input:

- ``fashion-mnist``: 1x28x28, grayscale, inverted when the background is light, padded to a square
  and area-resized (:func:`mimi.data.images.to_model_input`); grid 7x7 (the dashboard's default); ε 0.1.
- ``cifar10``: 3x32x32; the shorter side resized to 32 px (bilinear, antialiased), then the centre
  32x32 cropped; grid 8x8; ε 8/255 (RobustBench's L∞ threat model).
- ``imagenet``: 3x224x224; the shorter side resized to 256 px, then the centre 224x224 cropped
  (torchvision's ImageNet evaluation transform); grid 16x16, as in the paper; ε 4/255 (RobustBench's).
  Class names are the 1000 of torchvision's bundled weight metadata (nothing is downloaded).

Models A and B can be compared only in one input space (:func:`same_input_space`).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

from mimi.data.datasets import CIFAR10_CLASSES, CIFAR10_MEAN, CIFAR10_STD, FMNIST_CLASSES, FMNIST_MEAN, FMNIST_STD

INPUT_SPACE_NAMES = ("fashion-mnist", "cifar10", "imagenet")
#: The input space of a model card without a ``dataset``, of the dashboard's defaults (:data:`mimi.analysis.DEFAULTS`)
#: and of `mimi train`: Fashion-MNIST.
DEFAULT_INPUT_SPACE = "fashion-mnist"
PREPROCESSING = ("pad-resize", "resize-crop")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class InputSpace:
    """One input space: (channels, size, size) in [0, 1], its normalization, classes and defaults.

    ``preprocess`` is ``"pad-resize"`` (Fashion-MNIST's path) or ``"resize-crop"``: resize the
    shorter side to ``resize`` px, then crop the centre ``size`` x ``size``.
    """

    name: str
    title: str
    channels: int
    size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    classes: tuple[str, ...]
    grid: str
    preprocess: str
    resize: int
    gallery: str              # folder under assets/ with this input space's gallery images
    eps: float                # L∞ budget of the dataset's usual threat model, the default of `mimi evaluate`

    def __post_init__(self) -> None:
        if self.preprocess not in PREPROCESSING:
            raise ValueError(f"unknown preprocessing {self.preprocess!r}; choose one of {', '.join(PREPROCESSING)}")
        if self.resize < self.size:
            raise ValueError(f"input space {self.name}: resize {self.resize} is smaller than the input size {self.size}")
        check_normalization(self.mean, self.std, self.channels)

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.channels, self.size, self.size)

    @property
    def has_labelled_gallery(self) -> bool:
        """Whether the input space's gallery is the shipped labelled test images (``assets/gallery``, 10 per class,
        :func:`mimi.data.datasets.load_gallery`: Fashion-MNIST's), which the gallery studies, the references and the
        sidebar's class picker run over; the natural photos of the other profiles are only partly labelled."""
        return self.gallery == "gallery"

    def describe(self) -> str:
        """One line: the input and how uploads become it."""
        colour = "grayscale" if self.channels == 1 else "colour"
        how = ("grayscale, inverted if the background is light, padded to a square and resized"
               if self.preprocess == "pad-resize" else
               f"shorter side resized to {self.resize} px, centre {self.size}×{self.size} cropped"
               if self.resize > self.size else f"shorter side resized to {self.size} px, centre square cropped")
        return f"{self.title}: {self.channels}×{self.size}×{self.size} {colour}, {len(self.classes)} classes; uploads: {how}"


def eps_text(eps: float) -> str:
    """A budget as people write it: exact decimals of up to 4 significant digits as they are (0.3), k/255 when it
    is one (4/255, not 0.0156863), anything else at 4 significant digits."""
    if float(f"{eps:.4g}") == eps:
        return f"{eps:g}"
    k = round(eps * 255)
    return f"{k}/255" if k and abs(eps - k / 255) < 1e-9 else f"{eps:.4g}"


def check_normalization(mean: Sequence[float], std: Sequence[float], channels: int) -> None:
    """mean and std have one value or one per channel; every std is positive (ValueError naming the value)."""
    for label, values in (("mean", mean), ("std", std)):
        if len(values) not in (1, channels):
            raise ValueError(f"{label} {list(values)} must have 1 or {channels} values (one per channel)")
    bad = [s for s in std if not s > 0]
    if bad:
        raise ValueError(f"std {list(std)} must be positive everywhere, got {bad[0]}")


@functools.cache
def imagenet_classes() -> tuple[str, ...]:
    """The 1000 ImageNet class names in index order, from torchvision's bundled weight metadata."""
    from torchvision.models import ResNet18_Weights  # deferred: torchvision.models takes about 2 s to import

    return tuple(ResNet18_Weights.IMAGENET1K_V1.meta["categories"])


@functools.cache
def input_space(name: str) -> InputSpace:
    """The input space called ``name`` (ValueError listing the names otherwise)."""
    if name == "fashion-mnist":
        return InputSpace(name, "Fashion-MNIST", 1, 28, FMNIST_MEAN, FMNIST_STD, FMNIST_CLASSES, "7x7",
                              "pad-resize", 28, "gallery", 0.1)
    if name == "cifar10":
        return InputSpace(name, "CIFAR-10", 3, 32, CIFAR10_MEAN, CIFAR10_STD, CIFAR10_CLASSES, "8x8",
                              "resize-crop", 32, "gallery-natural", 8 / 255)
    if name == "imagenet":
        return InputSpace(name, "ImageNet", 3, 224, IMAGENET_MEAN, IMAGENET_STD, imagenet_classes(), "16x16",
                              "resize-crop", 256, "gallery-natural", 4 / 255)
    raise ValueError(f"unknown input space {name!r}; choose one of {', '.join(INPUT_SPACE_NAMES)}")


def card_input_space(card: dict[str, Any]) -> InputSpace:
    """The input space of a model card (its ``dataset``; the zoo's cards are Fashion-MNIST)."""
    return input_space(card.get("dataset") or DEFAULT_INPUT_SPACE)


def input_shape(card: dict[str, Any]) -> tuple[int, int, int]:
    """(channels, height, width) a model takes, from its card's ``input.shape`` (else its input space's)."""
    shape = card.get("input", {}).get("shape")
    return tuple(int(s) for s in shape) if shape else card_input_space(card).shape


def same_input_space(cards: Sequence[dict[str, Any]]) -> Optional[str]:
    """None when all cards take the same input shape; else a message naming each model's input."""
    shapes = {card["name"]: input_shape(card) for card in cards}
    if len(set(shapes.values())) <= 1:
        return None
    listed = ", ".join(f"{name} takes {'×'.join(map(str, shape))}" for name, shape in shapes.items())
    return f"Models A and B must share an input space to be compared on one image: {listed}."


def read_classes(path: str | Path) -> tuple[str, ...]:
    """Class names from a file: a JSON list of strings, or one name per line (blank lines skipped)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read the class names file {path}: {exc}") from exc
    if text.lstrip().startswith("["):
        try:
            names = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path} starts like JSON but is not valid JSON: {exc}") from exc
        if not all(isinstance(n, str) for n in names):
            raise ValueError(f"{path}: a JSON class list must hold only strings")
    else:
        names = [line.strip() for line in text.splitlines() if line.strip()]
    if len(names) < 2:
        raise ValueError(f"{path} lists {len(names)} class name(s); a classifier needs at least 2")
    return tuple(names)
