import gzip
import json

import numpy as np
import pytest
import torch

from mimi.data.datasets import (DATA_DIR_ENV, FMNIST_CLASSES, DatasetMissing, gallery, load_cifar10, load_dataset,
                                load_fashion_mnist, load_gallery, read_idx)
from tests.conftest import needs_fmnist, write_idx


def test_read_idx_roundtrips_uint8_arrays(tmp_path):
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    assert np.array_equal(read_idx(write_idx(tmp_path / "a.gz", array)), array)


def test_read_idx_reads_uncompressed_big_endian_int32(tmp_path):
    values = np.array([1, -2, 70000], dtype=">i4")
    path = tmp_path / "b.idx"
    path.write_bytes(bytes([0, 0, 0x0C, 1]) + (3).to_bytes(4, "big") + values.tobytes())
    assert read_idx(path).tolist() == [1, -2, 70000]


def test_read_idx_rejects_bad_magic_and_truncation(tmp_path):
    bad = tmp_path / "bad.gz"
    with gzip.open(bad, "wb") as f:
        f.write(b"\x01\x02\x03\x04rest")
    with pytest.raises(ValueError, match="bad magic"):
        read_idx(bad)
    good = write_idx(tmp_path / "good.gz", np.zeros((5, 28, 28), np.uint8))
    raw = gzip.decompress(good.read_bytes())
    truncated = tmp_path / "short.gz"
    truncated.write_bytes(gzip.compress(raw[:-10]))
    with pytest.raises(ValueError, match="truncated"):
        read_idx(truncated)
    garbage = tmp_path / "garbage.gz"
    garbage.write_bytes(b"not gzip at all")
    with pytest.raises(ValueError, match="garbage.gz"):
        read_idx(garbage)


def test_load_fashion_mnist_from_folder_and_env(tiny_fmnist, monkeypatch):
    test = load_fashion_mnist("test", tiny_fmnist)
    assert test.images.shape == (40, 1, 28, 28) and test.images.dtype == torch.float32
    assert 0 <= float(test.images.min()) and float(test.images.max()) <= 1
    raw = read_idx(tiny_fmnist / "t10k-images-idx3-ubyte.gz")
    assert torch.equal((test.images[:, 0] * 255).round().byte(), torch.from_numpy(raw))
    monkeypatch.setenv(DATA_DIR_ENV, str(tiny_fmnist))
    assert len(load_fashion_mnist("train")) == 96
    assert test.classes == FMNIST_CLASSES


def test_missing_dataset_names_the_package_and_the_alternative(tmp_path):
    with pytest.raises(DatasetMissing) as info:
        load_fashion_mnist("test", tmp_path / "nowhere")
    message = str(info.value)
    assert "apt-get install dataset-fashion-mnist" in message and "--data-dir" in message
    with pytest.raises(ValueError, match="split"):
        load_fashion_mnist("validation", tmp_path)
    with pytest.raises(ValueError, match="imagenet"):
        load_dataset("imagenet")


def test_cifar10_folder_reader(tiny_cifar):
    train = load_cifar10(tiny_cifar, "train")
    assert train.images.shape == (40, 3, 32, 32) and len(train.labels) == 40
    assert load_dataset("cifar10", "test", tiny_cifar / "cifar-10-batches-py").images.shape == (8, 3, 32, 32)
    with pytest.raises(DatasetMissing, match="cifar-10-batches-py"):
        load_cifar10(tiny_cifar / "elsewhere")


def test_gallery_has_ten_images_per_class_with_labels():
    items = gallery()
    assert len(items) == 100
    assert sorted({i.label for i in items}) == list(range(10))
    assert all(sum(i.label == c for i in items) == 10 for c in range(10))
    assert all(i.path.exists() and i.class_name == FMNIST_CLASSES[i.label] for i in items)
    images = load_gallery()
    assert images.images.shape == (100, 1, 28, 28)


@needs_fmnist
def test_gallery_images_are_the_test_images_it_names():
    test = load_fashion_mnist("test")
    items = gallery()
    images = load_gallery().images
    idx = [i.index for i in items]
    assert torch.equal(images, test.images[idx])
    assert [i.label for i in items] == test.labels[idx].tolist()


@needs_fmnist
def test_write_gallery_reproduces_the_shipped_gallery(tmp_path):
    from mimi.data.datasets import ASSETS_DIR, write_gallery

    folder = write_gallery(tmp_path / "gallery")
    shipped = ASSETS_DIR / "gallery"
    assert json.loads((folder / "manifest.json").read_text()) == json.loads((shipped / "manifest.json").read_text())
    assert torch.equal(load_gallery(tmp_path).images, load_gallery().images)
