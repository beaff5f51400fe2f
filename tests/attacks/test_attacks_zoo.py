"""The attacks on the shipped models: the standard model breaks, the PGD-AT model holds near its
card, targets are reached, and mimi's PGD is at least as strong as torchattacks' independent one."""

from __future__ import annotations

import pytest
import torch

from mimi.attacks import pgd
from mimi.data.datasets import load_gallery
from mimi.models import zoo
from mimi.models.evaluation import evaluate
from tests.conftest import needs_fmnist


def zoo_model(name: str):
    return zoo.load(name)   # the zoo is shipped: a missing model is a failure


@pytest.fixture(scope="module")
def gallery_set():
    return load_gallery()


def test_standard_model_falls_below_15_percent_at_eps_01(gallery_set):
    model, _ = zoo_model("fmnist-standard")
    result = evaluate(model, gallery_set, [0.1], steps=20, batch_size=100)
    assert result.clean_accuracy >= 0.85
    assert result.robust_accuracy[0] < 0.15


def test_pgd_at_model_stays_near_its_card_on_the_gallery(gallery_set):
    model, card = zoo_model("fmnist-pgd-at")
    result = evaluate(model, gallery_set, [0.1], steps=20, batch_size=100)
    # 100 images: a binomial standard error of about 4.5 points
    assert abs(result.robust_accuracy[0] - card["evaluation"]["pgd20_accuracy"]) < 0.12


@pytest.mark.slow
@needs_fmnist
def test_pgd_at_model_stays_near_its_card_on_1000_test_images():
    from mimi.data.datasets import load_fashion_mnist

    model, card = zoo_model("fmnist-pgd-at")
    result = evaluate(model, load_fashion_mnist("test").subset(1000), [0.1], steps=20)
    assert abs(result.robust_accuracy[0] - card["evaluation"]["pgd20_accuracy"]) < 0.045
    assert abs(result.clean_accuracy - card["evaluation"]["clean_accuracy"]) < 0.03


def test_targeted_pgd_reaches_its_targets_on_the_standard_model(gallery_set):
    model, _ = zoo_model("fmnist-standard")
    x, y = gallery_set.images[::4], gallery_set.labels[::4]
    target = (y + 1 + torch.arange(len(y)) % 9) % 10  # every other class, never the label
    result = pgd(model, x, y, eps=0.1, steps=40, targeted=target, early_stop=True)
    assert result.success_rate >= 0.9
    assert torch.equal(result.adv_pred[result.success], target[result.success])


@pytest.mark.parametrize("name", zoo.names(registered=False))
def test_equal_strength_lands_every_reached_image_in_its_band(gallery_set, name):
    # 20 gallery images per shipped model, at U = 2 and 4 (log-odds), from the uniform random start
    model, _ = zoo_model(name)
    x, y = gallery_set.images[::5], gallery_set.labels[::5]
    for utility in (2.0, 4.0):
        result = pgd(model, x, y, eps=0.3, steps=50, step_size=0.01, stop_utility=utility, tolerance=0.05)
        landed = result.success
        assert landed.sum() >= 15, f"{name} at U = {utility}: {int(landed.sum())} of 20 landed"
        assert (result.steps_used[landed] >= 1).all()
        assert ((result.utility[landed] >= utility) & (result.utility[landed] <= utility + 0.05)).all()
        assert (result.utility[~landed] < utility).all()   # the rest never reached U within eps and 50 steps


@pytest.mark.parametrize("name, eps", [("fmnist-standard", 0.03), ("fmnist-pgd-at", 0.1)])
def test_mimi_pgd_is_at_least_as_strong_as_torchattacks(gallery_set, name, eps):
    # eps where about half of the gallery survives, so that a weaker attack shows
    torchattacks = pytest.importorskip("torchattacks", reason="torchattacks is a test extra: pip install -e '.[test]'")
    model, _ = zoo_model(name)
    x, y = gallery_set.images, gallery_set.labels
    mimi_robust = ~pgd(model, x, y, eps=eps, steps=20).fooled
    reference = torchattacks.PGD(model, eps=eps, alpha=2.5 * eps / 20, steps=20, random_start=True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        ta_robust = model(reference(x, y)).argmax(1) == y
    # the same 100 images: mimi may leave at most one more image unbroken than torchattacks
    assert mimi_robust.sum() <= ta_robust.sum() + 1
