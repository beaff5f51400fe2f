"""Shared fixtures: tiny datasets written by the tests themselves, and small thread counts."""

from __future__ import annotations

import gzip
import os
import pickle
import struct
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch

torch.set_num_threads(min(2, torch.get_num_threads()))
# The tests see the shipped zoo only: a registry of the developer's own models (~/.mimi) stays out of
# them, and of the servers they start. Tests of the registry point MIMI_HOME at their own folders.
os.environ["MIMI_HOME"] = tempfile.mkdtemp(prefix="mimi-home-")


def write_idx(path: Path, array: np.ndarray) -> Path:
    """Write ``array`` (uint8) as a gzipped IDX file: magic 0x0000 08 ndim, big-endian dims, data."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())
    return path


@pytest.fixture
def tiny_fmnist(tmp_path: Path) -> Path:
    """A folder with the four Fashion-MNIST IDX files: 96 train and 40 test images of 28x28 noise."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "fmnist"
    folder.mkdir()
    for split, count in (("train", 96), ("t10k", 40)):
        write_idx(folder / f"{split}-images-idx3-ubyte.gz", rng.integers(0, 256, (count, 28, 28), dtype=np.uint8))
        write_idx(folder / f"{split}-labels-idx1-ubyte.gz", rng.integers(0, 10, count, dtype=np.uint8))
    return folder


@pytest.fixture
def tiny_cifar(tmp_path: Path) -> Path:
    """A folder in torchvision's CIFAR-10 layout with 8 images per batch file."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "cifar" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {"data": rng.integers(0, 256, (8, 3072), dtype=np.uint8), "labels": rng.integers(0, 10, 8).tolist()}
        (folder / name).write_bytes(pickle.dumps(batch))
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": []}))
    return folder.parent


def fmnist_installed() -> bool:
    from mimi.data.datasets import DEFAULT_FMNIST_DIR
    return (DEFAULT_FMNIST_DIR / "t10k-images-idx3-ubyte.gz").exists()


needs_fmnist = pytest.mark.skipif(not fmnist_installed(),
                                  reason="Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")
