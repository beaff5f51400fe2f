"""Recovery: the recovered fraction and its area, exact curves on an additive game, the random baseline,
a gallery study with a JSON round trip, and bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mimi.core.results import Result
from mimi.data.datasets import load_gallery
from mimi.defenses import recovery
from tests.defenses.test_detection import linear_model

CELLS_2x2 = np.array([[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 3, 3], [2, 2, 3, 3]]).reshape(-1)


@settings(max_examples=60, deadline=None)
@given(st.permutations(list(range(6))))
def test_restoration_masks_drop_the_first_k_cells_of_the_order(order):
    masks = recovery.restoration_masks(np.array(order))
    assert masks.shape == (7, 6)
    for k in range(7):
        assert set(np.flatnonzero(~masks[k])) == set(order[:k])


def test_recovered_fraction_and_area():
    values = np.array([[-2.0, -1.0, 0.0, 1.0, 2.0], [5.0, 5.0, 5.0, 5.0, 1.0], [-2.0, -3.0, -1.0, 0.0, 2.0]])
    fractions = recovery.recovered_fraction(values)    # (u_0 − u_k) / (u_0 − u_n): 0 at k = 0, 1 at k = n
    np.testing.assert_allclose(fractions, [[0, 0.25, 0.5, 0.75, 1], [0, 0, 0, 0, 1], [0, -0.25, 0.25, 0.5, 1]])
    np.testing.assert_allclose(recovery.recovered_fraction(-values), fractions)
    assert recovery.area_under(np.linspace(0, 1, 11)) == pytest.approx(0.5)          # a straight line
    assert recovery.area_under(np.r_[0.0, np.ones(10)]) == pytest.approx(0.95)       # one cell undoes it all
    assert recovery.area_under(np.r_[np.zeros(10), 1.0]) == pytest.approx(0.05)


def test_recovery_curve_is_exact_on_an_additive_game():
    """v = logit of a linear model is additive over cells: restoring cell i adds c_i = Σ_{p in i} w_y[p](x − x')[p],
    the Shapley change φ_i(x) − φ_i(x') is c_i exactly (any permutation), so R(k) = Σ of the k largest |c_i| / Σ_i c_i."""
    model = linear_model(seed=3)
    g = torch.Generator().manual_seed(4)
    x = torch.rand(1, 4, 4, generator=g)
    x_adv = (x + 0.3 * torch.randn(1, 4, 4, generator=g)).clamp(0, 1)
    label = 1
    curve = recovery.recovery_curve(model, x, label, x_adv, grid="2x2", samples=2, random_orders=256,
                                    baseline="zero", value="logit", seed=0)
    w = model.linear.weight[label].numpy()
    restore = w * (x - x_adv).numpy().reshape(-1)
    c = np.array([restore[CELLS_2x2 == i].sum() for i in range(4)])
    order = np.argsort(-np.abs(c), kind="stable")
    np.testing.assert_array_equal(curve.order, order)
    np.testing.assert_allclose(curve.shapley_change.reshape(-1), c, atol=1e-5)
    np.testing.assert_allclose(curve.ranked, np.r_[0, np.cumsum(c[order])] / c.sum(), atol=1e-5)
    v = lambda image: float(model(image[None])[0, label])                           # noqa: E731
    assert curve.v_clean == pytest.approx(v(x), abs=1e-5) and curve.v_adv == pytest.approx(v(x_adv), abs=1e-5)
    assert curve.attack_utility == pytest.approx(v(x) - v(x_adv), abs=1e-5)
    # A uniformly random order restores k/n of an additive utility in expectation.
    k = np.arange(5)
    assert np.all(np.abs(curve.random - k / 4) <= 4 * curve.random_se + 1e-9)
    assert curve.recoverability == pytest.approx(recovery.area_under(curve.ranked))
    assert curve.recoverability >= curve.random_recoverability - 1e-9   # largest first is the best order here
    back = Result.from_json(curve.to_json())
    np.testing.assert_array_equal(back.ranked, curve.ranked)


def test_recovery_bad_input():
    model = linear_model()
    x = torch.rand(1, 4, 4)
    with pytest.raises(ValueError, match="random_orders must be an integer in 2..256, got 1"):
        recovery.recovery_curve(model, x, 0, x, grid="2x2", baseline="zero", random_orders=1)
    with pytest.raises(ValueError, match="integer label"):
        recovery.recovery_curve(model, x, None, x, grid="2x2", baseline="zero")
    with pytest.raises(ValueError, match="nothing to recover"):
        recovery.recovery_curve(model, x, 0, x, grid="2x2", baseline="zero", samples=2)
    with pytest.raises(ValueError, match="min_utility must be a number > 0, got 0"):
        recovery.recovery_study(model, model_name="m", min_utility=0)
    with pytest.raises(ValueError, match="gallery image 120 does not exist"):
        recovery.recovery_study(model, model_name="m", images=[0, 120])


def test_recovery_study_end_to_end():
    from mimi.core.compute import freeze
    from mimi.models.networks import SmallCNN

    torch.manual_seed(0)
    model = freeze(SmallCNN())
    gallery = load_gallery()
    study = recovery.recovery_study(model, model_name="tiny", images=[0, 10, 20], min_utility=1e-4,
                                    attack=dict(steps=5), samples=2, random_orders=4, grid="3x3", device="cpu",
                                    gallery=gallery)
    used = study.used
    assert used.sum() >= 2 and study.ranked.shape == (3, 10)
    np.testing.assert_allclose(study.ranked[used][:, [0, -1]], np.tile([0.0, 1.0], (used.sum(), 1)), atol=1e-9)
    np.testing.assert_allclose(study.ranked_mean, study.ranked[used].mean(axis=0))
    np.testing.assert_allclose(study.ranked_se, study.ranked[used].std(axis=0, ddof=1) / np.sqrt(used.sum()))
    diff = study.recoverability - study.random_recoverability
    assert study.areas["difference"]["mean"] == pytest.approx(diff[used].mean())
    assert np.all(study.attack_utility[used] >= 1e-4)
    back = Result.from_json(study.to_json())
    assert type(back) is recovery.RecoveryStudy and back.params == study.params
    np.testing.assert_array_equal(back.random, study.random)
    assert "recoverability" in study.summary()
    with pytest.raises(ValueError, match="at least 2 are needed"):
        recovery.recovery_study(model, model_name="tiny", images=[0, 10], min_utility=1e3, attack=dict(steps=1),
                                samples=2, grid="3x3", gallery=gallery)
