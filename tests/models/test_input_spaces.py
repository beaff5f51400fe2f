"""Input spaces and the image path per profile: shapes, torchvision-exact preprocessing, galleries, folders."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch
from PIL import Image

from mimi.data.datasets import ASSETS_DIR, CIFAR10_CLASSES, FMNIST_CLASSES
from mimi.data.images import decode_upload, gallery_images, load_image_folder, resize_center_crop, to_model_input
from mimi.data.input_spaces import (INPUT_SPACE_NAMES, card_input_space, eps_text, input_shape, input_space,
                                    read_classes, same_input_space)


def png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def photo(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A smooth colour image with structure at every scale (so that resampling errors would show)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([np.sin(x / 7.0 + c) * np.cos(y / 11.0 - c) for c in range(3)], axis=2)
    return ((base + 1) * 100 + rng.integers(0, 50, (height, width, 3))).clip(0, 255).astype(np.uint8)


def test_profiles_fix_shape_normalization_classes_grid_and_eps():
    fmnist, cifar, imagenet = (input_space(name) for name in INPUT_SPACE_NAMES)
    assert (fmnist.shape, fmnist.grid, fmnist.classes, fmnist.eps) == ((1, 28, 28), "7x7", FMNIST_CLASSES, 0.1)
    assert (cifar.shape, cifar.grid, cifar.classes, cifar.eps) == ((3, 32, 32), "8x8", CIFAR10_CLASSES, 8 / 255)
    assert (imagenet.shape, imagenet.grid, imagenet.resize, imagenet.eps) == ((3, 224, 224), "16x16", 256, 4 / 255)
    assert len(imagenet.classes) == 1000 and imagenet.classes[0] == "tench" and imagenet.classes[281] == "tabby"
    assert imagenet.mean == (0.485, 0.456, 0.406) and imagenet.std == (0.229, 0.224, 0.225)
    assert "shorter side resized to 256 px, centre 224×224 cropped" in imagenet.describe()
    with pytest.raises(ValueError, match="unknown input space 'mnist'; choose one of fashion-mnist, cifar10, imagenet"):
        input_space("mnist")


def test_cards_name_their_profile_and_input_space():
    zoo_card = {"name": "fmnist-standard", "dataset": "fashion-mnist", "input": {"shape": [1, 28, 28]}}
    legacy_card = {"name": "old"}                                   # no dataset: a Fashion-MNIST zoo card
    imagenet_card = {"name": "r18", "dataset": "imagenet"}
    assert card_input_space(legacy_card).name == "fashion-mnist" and input_shape(imagenet_card) == (3, 224, 224)
    assert same_input_space([zoo_card, legacy_card]) is None
    message = same_input_space([zoo_card, imagenet_card])
    assert message == ("Models A and B must share an input space to be compared on one image: fmnist-standard takes "
                       "1×28×28, r18 takes 3×224×224.")


@pytest.mark.parametrize("height, width", [(300, 451), (451, 300), (256, 256), (1000, 999)])
def test_imagenet_preprocessing_equals_torchvision_resize_and_center_crop(height, width):
    from torchvision import transforms

    pixels = photo(height, width)
    expected = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor()])(
        Image.fromarray(pixels))
    notes: list[str] = []
    ours = resize_center_crop(pixels.astype(np.float64) / 255, 256, 224, notes=notes)
    assert ours.shape == (3, 224, 224)
    torch.testing.assert_close(ours, expected, rtol=0, atol=0)
    assert any("Centre 224x224 cropped" in n for n in notes)


def test_uploads_are_shown_as_each_profile_sees_them():
    data = png(photo(300, 451))
    imagenet = decode_upload(data, "cat.png", space="imagenet")
    cifar = decode_upload(data, "cat.png", space="cifar10")
    fmnist = decode_upload(data, "cat.png", space="fashion-mnist")
    assert imagenet.tensor.shape == (3, 224, 224) and cifar.tensor.shape == (3, 32, 32)
    assert torch.equal(fmnist.tensor, decode_upload(data, "cat.png").tensor)     # today's path, unchanged
    assert imagenet.preview(2).shape == (448, 448, 3) and fmnist.preview(2).shape == (56, 56)   # colour vs gray
    assert any("shorter side 32" in n for n in cifar.notes)
    channels = imagenet.tensor.mean(dim=(1, 2))
    assert not torch.allclose(channels[0], channels[1])                          # still in colour


def test_the_fashion_mnist_path_is_the_pad_resize_one():
    rgb = photo(40, 20).astype(np.float64) / 255
    assert torch.equal(decode_upload(png(photo(40, 20)), "x.png", space="fashion-mnist").tensor,
                       to_model_input(rgb, 1, 28))


def test_each_profile_has_a_gallery_with_known_labels():
    fmnist = gallery_images("fashion-mnist")
    assert len(fmnist) == 100 and fmnist[37].label == 3 and fmnist[0].image.shape == (1, 28, 28)
    imagenet, cifar = gallery_images("imagenet"), gallery_images("cifar10")
    assert len(imagenet) == len(cifar) == 6
    assert {g.title: g.label for g in imagenet}["Chelsea the cat"] == 281
    assert {g.title: g.label for g in cifar}["Chelsea the cat"] == 3
    assert sum(g.label is None for g in cifar) == 5
    stored = np.asarray(Image.open(ASSETS_DIR / "gallery-natural" / "chelsea.png"))
    torch.testing.assert_close(imagenet[0].image, torch.from_numpy(stored.transpose(2, 0, 1) / 255).float())
    assert cifar[0].image.shape == (3, 32, 32) and 0 <= float(cifar[0].image.min()) <= float(cifar[0].image.max()) <= 1
    assert [input_space(name).has_labelled_gallery for name in INPUT_SPACE_NAMES] == [True, False, False]
    assert all(g.label is not None for g in fmnist)


def test_the_natural_gallery_records_a_licence_per_image():
    from mimi.data.datasets import ASSETS_DIR

    manifest = json.loads((ASSETS_DIR / "gallery-natural" / "manifest.json").read_text())
    readme = (ASSETS_DIR / "gallery-natural" / "README.md").read_text()
    for item in manifest["images"]:
        assert ("CC0" in item["licence"] or "public domain" in item["licence"]) and item["file"] in readme


def test_class_names_files(tmp_path):
    (tmp_path / "lines.txt").write_text("cat\n\ndog\nbird\n")
    (tmp_path / "list.json").write_text('["a", "b"]')
    (tmp_path / "one.txt").write_text("only\n")
    (tmp_path / "bad.json").write_text('["a", 2]')
    assert read_classes(tmp_path / "lines.txt") == ("cat", "dog", "bird")
    assert read_classes(tmp_path / "list.json") == ("a", "b")
    with pytest.raises(ValueError, match="lists 1 class name"):
        read_classes(tmp_path / "one.txt")
    with pytest.raises(ValueError, match="only strings"):
        read_classes(tmp_path / "bad.json")
    with pytest.raises(ValueError, match="cannot read the class names file"):
        read_classes(tmp_path / "missing.txt")


def write_folder(root, folders: dict[str, int]) -> None:
    """Class folders with ``count`` small PNGs each, every image filled with its folder's index / 10."""
    for k, (name, count) in enumerate(folders.items()):
        (root / name).mkdir(parents=True)
        for i in range(count):
            (root / name / f"{i}.png").write_bytes(png(np.full((40, 48, 3), 20 * k + i, dtype=np.uint8)))


def test_image_folders_map_indices_class_names_and_wnids(tmp_path):
    imagenet, cifar = input_space("imagenet"), input_space("cifar10")
    write_folder(tmp_path / "idx", {"0": 2, "281": 1, "967": 3})
    data = load_image_folder(tmp_path / "idx", imagenet)
    assert data.images.shape == (6, 3, 224, 224)
    assert data.labels.tolist() == [0, 281, 967, 0, 967, 967]            # class by class in turn
    assert load_image_folder(tmp_path / "idx", imagenet, limit=3).labels.tolist() == [0, 281, 967]
    write_folder(tmp_path / "names", {"cat": 1, "truck": 1})
    assert load_image_folder(tmp_path / "names", cifar).labels.tolist() == [3, 9]
    write_folder(tmp_path / "wnids", {"n01440764": 1, "n01443537": 1})
    with pytest.raises(ValueError, match="wnids need wnids.txt or LOC_synset_mapping.txt"):
        load_image_folder(tmp_path / "wnids", imagenet)
    (tmp_path / "wnids" / "LOC_synset_mapping.txt").write_text("n01440764 tench, Tinca tinca\n"
                                                               "n01443537 goldfish, Carassius auratus\n")
    assert load_image_folder(tmp_path / "wnids", imagenet).labels.tolist() == [0, 1]
    write_folder(tmp_path / "big", {"12": 1})
    with pytest.raises(ValueError, match="index 12 is not in 0..9"):
        load_image_folder(tmp_path / "big", cifar)


@pytest.mark.parametrize("eps, text", [(0.3, "0.3"), (0.1, "0.1"), (4 / 255, "4/255"), (8 / 255, "8/255"),
                                       (0.2, "0.2"), (0.0, "0"), (0.123456, "0.1235"), (1 / 7, "0.1429"), (1 / 3, "85/255")])
def test_a_budget_is_shown_as_people_write_it(eps, text):
    assert eps_text(eps) == text
