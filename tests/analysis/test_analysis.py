"""The image API on a tiny model: shapes, identities, exact oracles, determinism, JSON, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mimi import analysis as A
from mimi.core.games import ImageGame
from mimi.core.progress import Cancelled
from mimi.core.results import Result
from mimi.interactions import exact_order_interactions, exact_shapley
from tests.nets import TinyNet, frozen


@pytest.fixture(scope="module")
def model():
    return frozen(TinyNet)


@pytest.fixture(scope="module")
def images():
    gen = torch.Generator().manual_seed(3)
    x = torch.rand(1, 12, 12, generator=gen)
    x_adv = (x + 0.15 * torch.randn(1, 12, 12, generator=gen)).clamp(0, 1)
    return x, x_adv


GAME = dict(grid="3x3", batch_size=256)     # image_game options
FAST = dict(samples=3, pair_count=8)         # the profile's


def test_profile_shapes_and_exact_totals(model, images):
    x, x_adv = images
    p = A.interaction_profile(A.image_game(model, x, 1, x_adv, **GAME), **FAST)
    n = 9
    assert p.n == n and p.grid == "3x3"
    assert p.orders.tolist() == [0, 1, 2, 3, 4, 5, 6, 7]  # int(7 r) for the paper's ratios, deduplicated
    assert p.ratios[0] == pytest.approx(0.1) and p.ratios[-1] == 1.0
    for name, estimate in p.estimates().items():
        assert estimate.mean.shape == estimate.se.shape == (8,), name
    clean, adversarial, difference = p.interaction.clean, p.interaction.adversarial, p.interaction.difference
    np.testing.assert_allclose(difference.mean, clean.mean - adversarial.mean, atol=1e-12)
    # ΔJ_P = (n-1-m) 2|P|/(n(n-1)) ΔĪ: the 20 neighbour pairs' share of the all-pairs ΔJ^(m)
    assert p.pair_set == "neighbors" and p.pair_set_size == 20 and len(p.pairs) == 8
    weight = (n - 1 - p.orders) * (2 * 20 / (n * (n - 1)))
    np.testing.assert_allclose(p.utility_by_order.mean, weight * difference.mean, atol=1e-12)
    np.testing.assert_allclose(p.utility_by_order.se, weight * difference.se, atol=1e-12)
    assert "8-neighbouring" in p.estimand and "share" not in p.estimand and "carried by the 20" in p.delta_j_estimand
    assert p.se_covers.startswith("pairs drawn")
    assert p.forward_passes == 2 * p.mask_rows
    # The exact totals agree with the exact decomposition on the same grid.
    d = A.decomposition(A.image_game(model, x, 1, x_adv, grid="3x3"))
    assert p.attack_utility == pytest.approx(d.attack_utility, abs=1e-6)
    assert p.attack_single == pytest.approx(d.attack_single, abs=1e-6)
    assert p.attack_pairwise == pytest.approx(d.delta_order_totals.sum(), abs=1e-6)
    assert p.clean_image.v_full - p.clean_image.v_empty == pytest.approx(d.total, abs=1e-6)
    assert p.clean_image.phi0_sum == pytest.approx(d.phi0_sum, abs=1e-6)
    assert p.adversarial_image.phi0_sum == pytest.approx(d.adv_phi0_sum, abs=1e-6)
    assert int(np.argmax(p.adversarial_image.probabilities)) == p.adv_prediction


def test_profile_matches_exact_interactions_within_standard_errors(model, images):
    x, _ = images
    p = A.interaction_profile(A.image_game(model, x, 2, grid="3x3"), pairs="all", orders=[2, 3, 5], samples=24, seed=4)
    game = ImageGame(model, x, 2, grid="3x3")
    exact = exact_order_interactions(game, 9)
    i, j = p.pairs.T
    truth = exact[[2, 3, 5]][:, i, j].mean(axis=1)
    clean = p.interaction.clean
    assert np.all(clean.se > 0)
    assert np.all(np.abs(clean.mean - truth) <= 4 * clean.se + 1e-9)
    assert p.interaction.adversarial is None and p.interaction.difference is None
    assert p.utility_by_order is None and p.adversarial_image is None and p.attack_utility is None


def test_same_image_twice_gives_zero_attack_terms(model, images):
    x, _ = images
    p = A.interaction_profile(A.image_game(model, x, 0, x.clone(), **GAME), **FAST)
    assert np.all(p.interaction.difference.mean == 0) and np.all(p.utility_by_order.se == 0) and p.attack_utility == 0


def test_decomposition_residual_vanishes(model, images):
    x, x_adv = images
    d = A.decomposition(A.image_game(model, x, 3, x_adv, grid="3x4"))
    assert d.n == 12 and d.order_totals.shape == (11,) and d.phi0.shape == (3, 4)
    assert abs(d.residual) < 1e-9 and abs(d.adv_residual) < 1e-9
    assert d.total == pytest.approx(d.phi0_sum + d.order_totals.sum(), abs=1e-9)
    assert d.attack_utility == pytest.approx(d.attack_single + d.delta_order_totals.sum(), abs=1e-9)
    parts = d.parts(bands=3)
    assert len(parts) == 4 and sum(v for _, v in parts) == pytest.approx(d.total, abs=1e-9)
    assert d.forward_passes == 2 * 2 ** 12


def test_shapley_map_efficiency_and_exact_oracle(model, images):
    x, x_adv = images
    s = A.shapley_map(A.image_game(model, x, 1, x_adv, grid="3x3"), samples=16)
    clean, adversarial, difference = s.phi.clean, s.phi.adversarial, s.phi.difference
    assert clean.mean.shape == clean.se.shape == difference.mean.shape == (3, 3)
    assert clean.mean.sum() == pytest.approx(s.clean_image.v_full - s.clean_image.v_empty, abs=1e-9)
    assert adversarial.mean.sum() == pytest.approx(s.adversarial_image.v_full - s.adversarial_image.v_empty, abs=1e-9)
    np.testing.assert_allclose(difference.mean, clean.mean - adversarial.mean, atol=1e-12)
    exact = exact_shapley(ImageGame(model, x, 1, grid="3x3"), 9).reshape(3, 3)
    assert np.all(np.abs(clean.mean - exact) <= 4 * clean.se + 1e-9)


def test_pair_heatmap(model, images):
    x, x_adv = images
    h = A.pair_heatmap(A.image_game(model, x, 1, x_adv, grid="3x3"), (1, 1), orders=[0, 3, 7], samples=3)
    assert h.cell == 4 and tuple(h.cell_rc) == (1, 1)
    pooled, by_order = h.pooled, h.by_order
    assert pooled.clean.mean.shape == (3, 3) and by_order.clean.mean.shape == by_order.difference.se.shape == (3, 3, 3)
    assert np.isnan(pooled.clean.mean[1, 1]) and np.isnan(pooled.difference.mean[1, 1])
    assert np.isfinite(pooled.clean.mean[0, 0])
    np.testing.assert_allclose(pooled.difference.mean, pooled.clean.mean - pooled.adversarial.mean, atol=1e-12)
    np.testing.assert_allclose(by_order.difference.mean, by_order.clean.mean - by_order.adversarial.mean, atol=1e-12)
    np.testing.assert_allclose(pooled.clean.mean, np.mean(by_order.clean.mean, axis=0), atol=1e-12)
    # Orders 0 and n-2 have one context per pair: exact, with zero SE.
    exact = exact_order_interactions(ImageGame(model, x, 1, grid="3x3"), 9)
    np.testing.assert_allclose(np.delete(by_order.clean.mean[0].ravel(), 4), np.delete(exact[0, 4], 4), atol=1e-9)
    assert np.nanmax(by_order.clean.se[0]) == 0
    # the middle order by the contrast of gains (auto), the exact ends by stars; the result names them
    assert h.params["estimator"] == "auto" and h.params["estimators"] == ["stars", "contrast", "stars"]
    # the contrast's unit fits within a block-star unit's rows
    stars = A.pair_heatmap(A.image_game(model, x, 1, x_adv, grid="3x3"), (1, 1), orders=[3], samples=3,
                           estimator="stars")
    contrast = A.pair_heatmap(A.image_game(model, x, 1, x_adv, grid="3x3"), (1, 1), orders=[3], samples=3)
    assert stars.params["estimators"] == ["stars"] and contrast.forward_passes <= stars.forward_passes


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # 0/0 per image: flat game
def test_disentanglement(model):
    batch = torch.rand(3, 1, 12, 12, generator=torch.Generator().manual_seed(5))
    d = A.disentanglement(model, batch, [0, 1, 2], grid="3x3", ratios=(0.2, 0.5, 0.8), samples=4)
    assert d.d.shape == (3,) and d.per_image.shape == (3, 3) and d.orders.tolist() == [1, 3, 5]
    assert np.all((d.d > 0) & (d.d <= 1 + 1e-9))
    assert np.all(d.d_low <= d.d) and np.all(d.d <= d.d_high)
    assert np.all(d.d <= d.d_plugin + 1e-12) and d.debiased and d.se_covers == "images, pairs and contexts"
    assert d.forward_passes == d.mask_rows


def test_results_round_trip_through_json(model, images):
    x, x_adv = images
    results = [A.interaction_profile(A.image_game(model, x, 1, x_adv, **GAME), **FAST),
               A.pair_heatmap(A.image_game(model, x, 1, x_adv, grid="3x3"), 0, samples=2),
               A.shapley_map(A.image_game(model, x, 1, grid="3x3"), samples=2),
               A.decomposition(A.image_game(model, x, 1, grid="2x3"))]
    for result in results:
        back = Result.from_json(result.to_json())
        assert type(back) is type(result)
        assert back.to_json() == result.to_json()   # every field, nested records included
        for name, value in vars(result).items():
            if isinstance(value, np.ndarray):
                np.testing.assert_array_equal(getattr(back, name), value)
            elif isinstance(value, float):
                assert getattr(back, name) == value
    back = Result.from_json(results[1].to_json())
    assert isinstance(back.pooled, A.Contrast) and isinstance(back.by_order.adversarial, A.Estimated)


def test_determinism_and_seeds(model, images):
    x, x_adv = images
    a = A.interaction_profile(A.image_game(model, x, 1, x_adv, **GAME), seed=7, **FAST)
    b = A.interaction_profile(A.image_game(model, x, 1, x_adv, **GAME), seed=7, **FAST)
    c = A.interaction_profile(A.image_game(model, x, 1, x_adv, **GAME), seed=8, **FAST)
    np.testing.assert_array_equal(a.interaction.clean.mean, b.interaction.clean.mean)
    np.testing.assert_array_equal(a.utility_by_order.se, b.utility_by_order.se)
    assert not np.array_equal(a.interaction.clean.mean, c.interaction.clean.mean)


def test_progress_total_is_exact_and_cancellation_stops(model, images):
    x, x_adv = images
    calls = []
    p = A.interaction_profile(A.image_game(model, x, 1, x_adv, progress=lambda d, t, m: calls.append((d, t, m)),
                                           **GAME), **FAST)
    assert calls[-1][0] == calls[-1][1] == p.forward_passes
    assert all(t == p.forward_passes for _, t, _ in calls) and calls[0][2] == "order profile"

    def cancel(done, total, message):
        raise Cancelled("user")

    with pytest.raises(Cancelled):
        A.shapley_map(A.image_game(model, x, 1, grid="3x3", progress=cancel), samples=4)


def test_targets(model, images):
    x, _ = images
    predicted = int(model(x[None]).argmax())
    p = A.interaction_profile(A.image_game(model, x, None, target="predicted", **GAME), **FAST)
    assert p.target == predicted and p.label is None and p.prediction == predicted
    assert A.interaction_profile(A.image_game(model, x, 0, target=3, **GAME), **FAST).target == 3


@pytest.mark.parametrize("kwargs,message", [
    (dict(grid="17x17"), "at most 16 cells a side"),
    (dict(grid="13x2"), "finer than the 12x12 image"),
    (dict(samples=0), "samples must be an integer in 1..1024"),              # pairs drawn: one unit is enough
    (dict(samples=1, pair_count=None), "samples must be an integer in 2..1024"),   # every pair: two are needed
    (dict(orders=[0, 9]), "order 9 is outside 0..7"),
    (dict(orders=[1], ratios=[0.5]), "not both"),
    (dict(pairs=[(1, 1)]), r"pair \(1, 1\) has i == j"),
    (dict(pairs="diagonal"), "unknown pair set"),
    (dict(target=9), "target class 9 is outside 0..3"),
    (dict(value="prob"), "unknown value function"),
])
def test_bad_parameters(model, images, kwargs, message):
    x, _ = images
    game_options = {k: v for k, v in {**GAME, **kwargs}.items() if k in A.GAME_OPTIONS}
    options = {k: v for k, v in {**FAST, **kwargs}.items() if k not in A.GAME_OPTIONS}
    with pytest.raises(ValueError, match=message):
        A.interaction_profile(A.image_game(model, x, 1, **game_options), **options)


def test_bad_images_and_exact_limit(model, images):
    x, _ = images
    with pytest.raises(ValueError, match=r"values must be in \[0, 1\]"):
        A.shapley_map(A.image_game(model, x * 3, 1, grid="3x3"))
    with pytest.raises(ValueError, match="must be \\(C, H, W\\)"):
        A.shapley_map(A.image_game(model, x[0], 1, grid="3x3"))
    with pytest.raises(ValueError, match="n=20 cells; the exact decomposition needs n <= 16"):
        A.decomposition(A.image_game(model, x, 1, grid="4x5"))
    with pytest.raises(ValueError, match="outside the 3x3 grid"):
        A.pair_heatmap(A.image_game(model, x, 1, grid="3x3"), (3, 0))


def test_planned_forward_passes_are_exact(model, images):
    x, x_adv = images
    p = A.interaction_profile(A.image_game(model, x, 1, x_adv, **GAME), seed=2, **{**FAST, "pair_count": 5})
    assert A.planned_forward_passes("profile", grid="3x3", image_shape=(12, 12), images=2, pair_count=5,
                                    samples=3, seed=2) == p.forward_passes
    capped = A.interaction_profile(A.image_game(model, x, 1, x_adv, **GAME), seed=2,
                                   **{**FAST, "pair_count": 5, "contexts": 1})
    assert capped.forward_passes < p.forward_passes
    assert A.planned_forward_passes("profile", grid="3x3", image_shape=(12, 12), images=2, pair_count=5,
                                    samples=3, contexts=1, seed=2) == capped.forward_passes
    h = A.pair_heatmap(A.image_game(model, x, 1, grid="3x3"), 2, orders=[1, 4], samples=3)
    assert A.planned_forward_passes("heatmap", grid="3x3", image_shape=(12, 12), cell=2, orders=[1, 4],
                                    samples=3) == h.forward_passes
    h1 = A.pair_heatmap(A.image_game(model, x, 1, grid="4x4"), 2, orders=[3, 7], samples=3, contexts=1)
    assert A.planned_forward_passes("heatmap", grid="4x4", image_shape=(12, 12), cell=2, orders=[3, 7], samples=3,
                                    contexts=1) == h1.forward_passes
    assert h1.params["contexts"] == 1
    s = A.shapley_map(A.image_game(model, x, 1, grid="3x3"), samples=3)
    assert A.planned_forward_passes("shapley", grid="3x3", image_shape=(12, 12), samples=3) == s.forward_passes
    batch = torch.rand(2, 1, 12, 12, generator=torch.Generator().manual_seed(1))
    d = A.disentanglement(model, batch, [0, 1], grid="3x3", orders=[2, 5], samples=3)
    assert A.planned_forward_passes("disentanglement", grid="3x3", image_shape=(12, 12), images=2, orders=[2, 5],
                                    samples=3) == d.forward_passes
    assert A.planned_forward_passes("decomposition", grid="2x3", images=2) == 128
    with pytest.raises(ValueError, match="unknown computation"):
        A.planned_forward_passes("movie")


def test_profile_with_a_neyman_pilot_reports_complete_progress(model, images):
    x, x_adv = images
    calls = []
    p = A.interaction_profile(A.image_game(model, x, 1, x_adv, progress=lambda d, t, m: calls.append((d, t)), **GAME),
                              orders=[2, 4], pilot=2, **FAST)
    assert calls[-1] == (p.forward_passes, p.forward_passes)
    assert p.params["pilot"] == 2 and np.all(np.isfinite(p.utility_by_order.se))
    plain = A.interaction_profile(A.image_game(model, x, 1, x_adv, **GAME), orders=[2, 4], **FAST)
    assert p.forward_passes > plain.forward_passes  # the pilot's 4 rows per context are counted


def test_delta_j_over_all_pairs_and_orders_adds_up_to_the_attacking_utility(model, images):
    """ΔJ^(m) sums over all pairs: over every order it is the pairwise part of Δv(N). On a 2x2 grid every
    order has one context per pair or blocks of one cell, so the engine is exact and so is the identity;
    on 3x3 the sampled orders agree within their standard errors."""
    x, x_adv = images
    small = A.interaction_profile(A.image_game(model, x, 1, x_adv, grid="2x2"), pairs="all", orders="all", samples=2)
    assert small.pair_set == "all" and np.all(small.utility_by_order.se == 0)
    assert small.utility_by_order.mean.sum() == pytest.approx(small.attack_pairwise, abs=1e-9)
    assert small.delta_j_estimand.startswith("ΔJ^(m): the attacking utility")
    p = A.interaction_profile(A.image_game(model, x, 1, x_adv, grid="3x3"), pairs="all", orders="all", samples=6,
                              seed=2)
    assert p.se_covers.startswith("contexts")
    # every pair of the set is evaluated and each order draws its own designs: the orders are independent
    delta_j = p.utility_by_order
    assert abs(delta_j.mean.sum() - p.attack_pairwise) <= 3 * np.sqrt(np.sum(delta_j.se ** 2))
    exact = A.decomposition(A.image_game(model, x, 1, x_adv, grid="3x3"))
    assert p.attack_pairwise == pytest.approx(exact.delta_order_totals.sum(), abs=1e-6)


def test_more_precision_pools_independent_rounds(model, images):
    x, x_adv = images
    rounds = [A.interaction_profile(A.image_game(model, x, 1, x_adv, **GAME), **FAST, replicate=r) for r in range(3)]
    assert not np.array_equal(rounds[0].pairs, rounds[1].pairs)         # fresh pairs each round
    pooled = A.combine_profiles(rounds)
    for side in A.Contrast.SIDES:
        parts = [getattr(r.interaction, side) for r in rounds]
        np.testing.assert_allclose(getattr(pooled.interaction, side).mean, np.mean([e.mean for e in parts], axis=0))
        np.testing.assert_allclose(getattr(pooled.interaction, side).se,
                                   np.sqrt(np.sum([e.se ** 2 for e in parts], axis=0)) / 3)
    np.testing.assert_allclose(pooled.utility_by_order.se,
                               np.sqrt(np.sum([r.utility_by_order.se ** 2 for r in rounds], axis=0)) / 3)
    assert pooled.replicates == 3 and pooled.forward_passes == sum(r.forward_passes for r in rounds)
    again = A.interaction_profile(A.image_game(model, x, 1, x_adv, **GAME), **FAST, replicate=1)
    np.testing.assert_array_equal(again.interaction.clean.mean, rounds[1].interaction.clean.mean)  # reproducible alone
    with pytest.raises(ValueError, match="same parameters"):
        A.combine_profiles([rounds[0], A.interaction_profile(A.image_game(model, x, 1, x_adv, **GAME),
                                                             **{**FAST, "samples": 2})])
    assert Result.from_json(pooled.to_json()).replicates == 3


def test_target_precision_through_the_image_api(model, images):
    x, x_adv = images
    first = A.interaction_profile(A.image_game(model, x, 1, x_adv, **GAME), **FAST)
    largest_se = (lambda q: max(q.interaction.clean.se.max(), q.interaction.adversarial.se.max()))
    bound = float(largest_se(first)) * 0.6
    p = A.interaction_profile(A.image_game(model, x, 1, x_adv, **GAME), **FAST, max_se=bound)
    assert p.precision["reached"] and largest_se(p) <= bound and p.replicates >= 2
    capped = A.interaction_profile(A.image_game(model, x, 1, x_adv, **GAME), **FAST, max_se=bound / 50,
                                   max_passes=3 * first.forward_passes)
    assert not capped.precision["reached"] and capped.forward_passes <= 3 * first.forward_passes + 2 * 11
    assert "best estimate within the budget" in capped.precision["message"]
    spent = capped.forward_passes - 2 * (capped.n + 2)    # the estimator's passes; v(∅), v(N), v({i}) come first
    assert f"after {spent:,} forward passes" in capped.precision["message"]


@pytest.mark.parametrize("bad", [0, 1, 21])
def test_pair_count_outside_the_neighbour_set_names_the_value(model, images, bad):
    x, _ = images
    with pytest.raises(ValueError, match=f"pair_count={bad}"):
        A.interaction_profile(A.image_game(model, x, 1, grid="3x3"), pair_count=bad, samples=2)


@pytest.mark.slow
def test_default_budget_resolves_the_standard_models_high_order_change():
    """The dashboard's default profile (DEFAULTS) on the shipped standard model: on gallery images of
    four classes, the clean-minus-adversarial change at r = 0.9 and 0.95 is more than 2 SE from zero on
    most of them (seeded, so the check is exact to rerun)."""
    from mimi.data.datasets import load_gallery
    from mimi.models import zoo

    if "fmnist-standard" not in zoo.names():
        pytest.skip("the shipped zoo lacks fmnist-standard")
    model, _ = zoo.load("fmnist-standard")
    gallery = load_gallery()
    d = A.DEFAULTS
    resolved = []
    for index in (0, 30, 50, 70):
        x, y = gallery.images[index], int(gallery.labels[index])
        attack = A.run_attack(model, x, y, eps=d["eps"], steps=d["steps"], norm=d["norm"], seed=index)
        p = A.interaction_profile(A.image_game(model, x, y, attack.x_adv[0], grid=d["grid"]), ratios=d["ratios"],
                                  pairs=d["pairs"], pair_count=d["pair_count"], samples=d["samples"],
                                  contexts=d["contexts"], coverage=d["coverage"], seed=index)
        high = np.isin(p.ratios, (0.9, 0.95))
        difference = p.interaction.difference
        resolved.append(difference.mean[high] > 2 * difference.se[high])
        assert p.se_covers.startswith("pairs drawn") and p.pair_set_size == 156
    assert np.mean(resolved) >= 0.75, np.round(resolved, 2)


def test_the_image_api_takes_a_game_and_one_game_serves_several_computations(model, images):
    x, x_adv = images
    game = A.image_game(model, x, 1, x_adv, grid="3x3", batch_size=256)
    profile = A.interaction_profile(game, samples=3, pair_count=8, seed=4)
    heatmap = A.pair_heatmap(game, (1, 1), samples=3, seed=4)
    shapley = A.shapley_map(game, samples=3, seed=4)
    # a fresh game of the same settings gives the same numbers
    alone = A.interaction_profile(A.image_game(model, x, 1, x_adv, grid="3x3", batch_size=256), samples=3, pair_count=8,
                                  seed=4)
    np.testing.assert_array_equal(alone.interaction.difference.mean, profile.interaction.difference.mean)
    again = A.pair_heatmap(A.image_game(model, x, 1, x_adv, grid="3x3"), (1, 1), samples=3, seed=4)
    np.testing.assert_array_equal(again.pooled.clean.mean, heatmap.pooled.clean.mean)
    # each result counts its own passes on the shared game
    assert profile.forward_passes + heatmap.forward_passes + shapley.forward_passes == game.forward_passes
    assert profile.forward_passes == alone.forward_passes and profile.mask_rows * 2 == profile.forward_passes
    assert (profile.label, profile.target, profile.params["grid"]) == (1, 1, "3x3")
    assert shapley.adv_prediction == heatmap.adv_prediction == profile.adv_prediction


def test_a_game_refuses_options_that_belong_to_it_and_games_the_image_api_cannot_read(model, images):
    x, x_adv = images
    game = A.image_game(model, x, 1, grid="3x3")
    with pytest.raises(TypeError, match="unexpected keyword argument 'grid'"):
        A.interaction_profile(game, grid="7x7", value="logit")   # set in image_game(...)
    with pytest.raises(TypeError, match="takes an image game.*got a TinyNet"):
        A.shapley_map(model)
    three = ImageGame(model, torch.stack([x, x, x_adv]), [1, 1, 1], grid="3x3")
    with pytest.raises(ValueError, match="3 images"):
        A.shapley_map(three)
    mixed = ImageGame(model, torch.stack([x, x_adv]), [1, 2], grid="3x3")
    with pytest.raises(ValueError, match=r"targets \[1, 2\]"):
        A.interaction_profile(mixed)
    with pytest.raises(ValueError, match="the exact decomposition needs n <= 16"):
        A.decomposition(A.image_game(model, x, 1, grid="7x7"))
    assert A.shapley_map(game=game, samples=2).label == 1
