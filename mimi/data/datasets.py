"""Datasets: a Fashion-MNIST IDX reader, a local CIFAR-10 folder, and the shipped gallery.

Nothing here downloads: Fashion-MNIST comes from the Debian package
``dataset-fashion-mnist`` (or any folder with the four IDX .gz files), CIFAR-10 from a
local folder in torchvision's layout.
"""

from __future__ import annotations

import gzip
import json
import os
import pickle
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

#: Per-channel mean and std of the training images, the normalization inside the zoo's models.
FMNIST_MEAN = (0.2860,)
FMNIST_STD = (0.3530,)
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
FMNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                  "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck")
DEFAULT_FMNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
DATA_DIR_ENV = "MIMI_DATA_DIR"
ASSETS_DIR = Path(os.environ.get("MIMI_ASSETS", Path(__file__).resolve().parents[2] / "assets"))
FMNIST_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
               0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


class DatasetMissing(FileNotFoundError):
    """The dataset files are not where mimi looked; the message says how to get them."""


@dataclass
class ImageSet:
    """Images in [0, 1] as (N, C, H, W) float32 and integer labels (N,)."""

    images: torch.Tensor
    labels: torch.Tensor
    classes: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, count: int) -> "ImageSet":
        return ImageSet(self.images[:count], self.labels[:count], self.classes)


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (optionally gzipped): magic 0x0000TTDD, D big-endian int32 dims, data."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as exc:
        raise ValueError(f"cannot read IDX file {path}: {exc}") from exc
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise ValueError(f"{path} is not an IDX file (bad magic number)")
    dtype, ndim = np.dtype(_IDX_DTYPES[raw[2]]), raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path} is truncated (header)")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    count = int(np.prod(shape)) if shape else 1
    if len(raw) - header < count * dtype.itemsize:
        raise ValueError(f"{path} is truncated: expected {count} values of shape {shape}")
    return np.frombuffer(raw, dtype=dtype, count=count, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def resolve_data_dir(data_dir: str | Path | None = None) -> Path:
    """--data-dir, else $MIMI_DATA_DIR, else /usr/share/datasets/fashion-mnist."""
    if data_dir:
        return Path(data_dir)
    return Path(os.environ.get(DATA_DIR_ENV) or DEFAULT_FMNIST_DIR)


def load_fashion_mnist(split: str = "test", data_dir: str | Path | None = None) -> ImageSet:
    """The Fashion-MNIST ``train`` (60,000) or ``test`` (10,000) split as an :class:`ImageSet`."""
    if split not in FMNIST_FILES:
        raise ValueError(f"unknown split {split!r}; choose train or test")
    folder = resolve_data_dir(data_dir)
    paths = [folder / name for name in FMNIST_FILES[split]]
    missing = [p.name for p in paths if not p.exists()]
    if missing:
        raise DatasetMissing(
            f"Fashion-MNIST not found in {folder} (missing {', '.join(missing)}). "
            f"Install it with `apt-get install dataset-fashion-mnist`, or put the four IDX .gz files "
            f"in a folder and pass --data-dir DIR or set {DATA_DIR_ENV}=DIR.")
    images, labels = (read_idx(p) for p in paths)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(f"{folder}: images {images.shape} and labels {labels.shape} do not match")
    x = torch.from_numpy(images.copy()).float().div_(255).unsqueeze(1)
    return ImageSet(x, torch.from_numpy(labels.astype(np.int64)), FMNIST_CLASSES)


def load_cifar10(root: str | Path, split: str = "test") -> ImageSet:
    """CIFAR-10 from a local ``cifar-10-batches-py`` folder (torchvision's layout); never downloads.

    ``root`` may be that folder or its parent. Batches are the dataset's pickles of
    ``data`` (N, 3072 uint8, channel-major) and ``labels``.
    """
    root = Path(root)
    folder = root if (root / "batches.meta").exists() else root / "cifar-10-batches-py"
    names = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
    missing = [n for n in names if not (folder / n).exists()]
    if missing:
        raise DatasetMissing(f"CIFAR-10 not found under {root}: expected torchvision's cifar-10-batches-py "
                             f"folder with {', '.join(missing)}")
    data, labels = [], []
    for name in names:
        with open(folder / name, "rb") as f:
            batch = pickle.load(f, encoding="latin1")
        data.append(np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
        labels.extend(batch["labels"])
    x = torch.from_numpy(np.concatenate(data)).float().div_(255)
    return ImageSet(x, torch.tensor(labels, dtype=torch.long), CIFAR10_CLASSES)


def load_dataset(name: str, split: str = "test", data_dir: str | Path | None = None) -> ImageSet:
    if name == "fashion-mnist":
        return load_fashion_mnist(split, data_dir)
    if name == "cifar10":
        if not data_dir:
            raise DatasetMissing("CIFAR-10 needs --data-dir pointing at a local CIFAR-10 folder")
        return load_cifar10(data_dir, split)
    raise ValueError(f"unknown dataset {name!r}; choose fashion-mnist or cifar10")


@dataclass
class GalleryImage:
    path: Path
    label: int
    class_name: str
    index: int  # position in the Fashion-MNIST test set


def gallery(assets_dir: Path = ASSETS_DIR) -> list[GalleryImage]:
    """The shipped test images, listed by ``assets/gallery/manifest.json``."""
    folder = Path(assets_dir) / "gallery"
    manifest = json.loads((folder / "manifest.json").read_text())
    return [GalleryImage(folder / item["file"], int(item["label"]), item["class_name"], int(item["test_index"]))
            for item in manifest["images"]]


def load_gallery(assets_dir: Path = ASSETS_DIR) -> ImageSet:
    """All gallery images as one (N, 1, 28, 28) :class:`ImageSet`."""
    items = gallery(assets_dir)
    arrays = [np.asarray(Image.open(item.path).convert("L"), dtype=np.float32) / 255 for item in items]
    x = torch.from_numpy(np.stack(arrays)).unsqueeze(1)
    return ImageSet(x, torch.tensor([item.label for item in items]), FMNIST_CLASSES)


def write_gallery(folder: Path, per_class: int = 10, data_dir: str | Path | None = None) -> Path:
    """Write the first ``per_class`` Fashion-MNIST test images of each class as PNGs plus
    ``manifest.json`` (how ``assets/gallery`` was made)."""
    test = load_fashion_mnist("test", data_dir)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    items = []
    for label, class_name in enumerate(test.classes):
        indices = (test.labels == label).nonzero().squeeze(1)[:per_class].tolist()
        for k, index in enumerate(indices):
            slug = class_name.split("/")[0].lower().replace(" ", "-")
            name = f"{label}-{slug}-{k}.png"
            pixels = (test.images[index, 0] * 255).round().byte().numpy()
            Image.fromarray(pixels, mode="L").save(folder / name, optimize=True)
            items.append({"file": name, "label": label, "class_name": class_name, "test_index": index})
    manifest = {"source": f"Fashion-MNIST test set (MIT licence): the first {per_class} images of each class",
                "images": items}
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return folder
