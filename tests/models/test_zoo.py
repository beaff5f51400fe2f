import shutil
from pathlib import Path

import pytest
import torch

from mimi.data.datasets import load_fashion_mnist, load_gallery
from mimi.models import zoo
from tests.conftest import needs_fmnist

EXPECTED = ["fmnist-cutout", "fmnist-dropout", "fmnist-pgd-at", "fmnist-standard", "fmnist-trades"]


def test_the_zoo_lists_the_five_recipes():
    assert zoo.names() == EXPECTED


@pytest.mark.parametrize("name", EXPECTED)
def test_model_loads_frozen_with_a_complete_card(name):
    model, card = zoo.load(name)
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    assert card["name"] == name and card["architecture"] == "small-cnn"
    assert zoo.sha256(zoo.ZOO_DIR / card["weights"]) == card["sha256"]
    torch.load(zoo.ZOO_DIR / card["weights"], weights_only=True)  # plain tensors, no pickled objects
    train, ev = card["training"], card["evaluation"]
    for key in ("recipe", "command", "seed", "epochs", "wall_time_s", "machine"):
        assert train[key] is not None, key
    assert train["command"].startswith("mimi train --recipe " + train["recipe"])
    assert ev["eps"] == 0.1 and ev["protocol"]["steps"] == 20 and ev["n_images"] == 10000
    assert model(torch.rand(3, 1, 28, 28)).shape == (3, 10)


@pytest.mark.parametrize("name", EXPECTED)
def test_model_reproduces_its_card_on_the_gallery(name):
    model, card = zoo.load(name)
    gallery = load_gallery()
    with torch.no_grad():
        accuracy = int((model(gallery.images).argmax(1) == gallery.labels).sum()) / len(gallery)
    assert accuracy == pytest.approx(card["evaluation"]["gallery_accuracy"], abs=1e-9)


@needs_fmnist
@pytest.mark.parametrize("name", EXPECTED)
def test_model_reproduces_its_card_on_a_fixed_test_subset(name):
    model, card = zoo.load(name)
    subset = load_fashion_mnist("test").subset(zoo.REFERENCE_SUBSET)
    with torch.no_grad():
        accuracy = int((model(subset.images).argmax(1) == subset.labels).sum()) / len(subset)
    assert accuracy == pytest.approx(card["evaluation"]["test_subset_accuracy"], abs=1e-9)


@pytest.mark.parametrize("name", EXPECTED)
def test_measured_robust_accuracy_on_the_gallery_agrees_with_the_card(name):
    from mimi.models.evaluation import evaluate

    model, card = zoo.load(name)
    measured = evaluate(model, load_gallery(), [0.1], steps=20, batch_size=100).robust_accuracy[0]
    expected = card["evaluation"]["pgd20_accuracy"]                    # over the 10,000 test images
    tolerance = 4 * max(0.02, (expected * (1 - expected) / 100) ** 0.5)  # 4 binomial SE on 100 images
    assert abs(measured - expected) < tolerance, (name, measured, expected)
    if card["training"]["recipe"] in ("pgd-at", "trades"):
        assert measured > 0.6                                          # robust, measured here
    else:
        assert measured < 0.15                                         # not robust, measured here


def test_all_assets_fit_in_30_mb():
    # the equal-strength study (1,000 jobs, two value functions from the same passes) is about 16 MB of it
    total = sum(p.stat().st_size for p in zoo.ZOO_DIR.parent.rglob("*") if p.is_file() and p.suffix != ".ckpt")
    assert total < 30 * 2**20


def test_unknown_model_lists_the_valid_names():
    with pytest.raises(zoo.UnknownModel) as info:
        zoo.load("fmnist-magic")
    assert "fmnist-magic" in str(info.value) and "fmnist-standard" in str(info.value)


def copy_model(tmp_path: Path, name="fmnist-standard") -> Path:
    folder = tmp_path / "zoo"
    folder.mkdir()
    shutil.copy(zoo.ZOO_DIR / f"{name}.json", folder)
    shutil.copy(zoo.ZOO_DIR / f"{name}.pt", folder)
    return folder


def test_truncated_weights_name_the_file(tmp_path):
    folder = copy_model(tmp_path)
    weights = folder / "fmnist-standard.pt"
    weights.write_bytes(weights.read_bytes()[:5000])
    with pytest.raises(zoo.CorruptWeights, match="fmnist-standard.pt"):
        zoo.load("fmnist-standard", zoo_dir=folder)


def test_missing_or_mismatched_weights_name_the_file(tmp_path):
    folder = copy_model(tmp_path)
    state = torch.load(folder / "fmnist-standard.pt", weights_only=True)
    state.pop(next(iter(state)))
    torch.save(state, folder / "fmnist-standard.pt")
    with pytest.raises(zoo.CorruptWeights, match="does not match"):
        zoo.load("fmnist-standard", zoo_dir=folder)
    (folder / "fmnist-standard.pt").unlink()
    with pytest.raises(zoo.CorruptWeights, match="missing"):
        zoo.load("fmnist-standard", zoo_dir=folder)


def test_pickled_objects_are_refused(tmp_path):
    folder = copy_model(tmp_path)
    torch.save({"model": torch.nn.Linear(2, 2)}, folder / "fmnist-standard.pt")
    with pytest.raises(zoo.CorruptWeights, match="fmnist-standard.pt"):
        zoo.load("fmnist-standard", zoo_dir=folder)
