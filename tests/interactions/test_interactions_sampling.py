"""Sampled interactions: unbiased within their SEs, calibrated SEs, exact pass accounting, determinism."""

import numpy as np
import pytest

from mimi.interactions import (GROUPINGS, Estimate, cell_pairs, exact_order_interactions, exact_shapley, exact_values,
                               neighbor_pairs, pair_groups, paper_order_interactions, paper_orders, paper_protocol,
                               sample_cell_heatmap, sample_disentanglement, sample_order_interactions,
                               sample_order_profile, sample_shapley)
from mimi.interactions.designs import block_count, block_design
from mimi.interactions.heatmap import CONTRAST_RATIOS, heatmap_estimator


def table_game(n, seed=0, games=None, scale=1.0):
    rng = np.random.default_rng(seed)
    table = scale * rng.normal(size=(2 ** n,) if games is None else (2 ** n, games))
    weights = 1 << np.arange(n)
    return lambda masks: table[masks.astype(np.int64) @ weights]


def smooth_game(n, seed=0):
    """A game with interactions of every order: v(S) = tanh(a·1_S) + (b·1_S)(c·1_S) / n."""
    rng = np.random.default_rng(seed)
    a, b, c = rng.normal(size=(3, n))
    return lambda masks: np.tanh(masks @ a) + (masks @ b) * (masks @ c) / n


class Counter:
    def __init__(self, v):
        self.v, self.rows = v, 0

    def __call__(self, masks):
        assert masks.dtype == bool and masks.ndim == 2
        self.rows += len(masks)
        return self.v(masks)


PAIRS = [(0, 1), (2, 5), (3, 4), (6, 0), (1, 7)]


@pytest.mark.parametrize("grouping", GROUPINGS)
def test_estimates_are_within_a_few_se_of_the_exact_values(grouping):
    n = 8
    v = table_game(n, seed=1)
    exact = exact_order_interactions(v, n)
    orders = list(range(n - 1))
    est = sample_order_interactions(v, n, PAIRS, orders, samples=150, seed=3, grouping=grouping)
    truth = np.array([[exact[m, i, j] for i, j in PAIRS] for m in orders])
    assert est.mean.shape == est.se.shape == (n - 1, len(PAIRS))
    random = est.se > 1e-9
    assert np.all(np.abs(est.mean - truth)[random] < 4 * est.se[random])
    np.testing.assert_allclose(est.mean[~random], truth[~random], atol=1e-12)   # enumerated orders
    assert not random[[0, n - 2]].any()          # one context per pair: deterministic
    assert not random[[1, n - 3]].any()          # partitions into single players enumerate every context


def test_paper_protocol_is_unbiased_and_counts_four_rows_per_context():
    n = 8
    counter = Counter(table_game(n, seed=2))
    exact = exact_order_interactions(table_game(n, seed=2), n)
    est = paper_order_interactions(counter, n, PAIRS, [2, 3, 4], samples=120, seed=0)
    truth = np.array([[exact[m, i, j] for i, j in PAIRS] for m in [2, 3, 4]])
    assert np.all(np.abs(est.mean - truth) < 4 * est.se)
    assert est.mask_rows == counter.rows == 4 * 120 * len(PAIRS) * 3


def test_standard_errors_are_calibrated_for_pairs_and_for_the_profile():
    n = 7
    v = table_game(n, seed=5)
    exact = exact_order_interactions(v, n)
    orders = [2, 3]
    truth = np.array([[exact[m, i, j] for i, j in PAIRS[:4]] for m in orders])
    pair_hits, profile_hits = [], []
    for seed in range(150):
        est = sample_order_interactions(v, n, PAIRS[:4], orders, samples=30, seed=seed)
        pair_hits.append(np.abs(est.mean - truth) < 2 * est.se)
        profile = est.average(axis=1)
        profile_hits.append(np.abs(profile.mean - truth.mean(axis=1)) < 2 * profile.se)
    assert 0.90 <= np.mean(pair_hits) <= 0.98
    assert 0.88 <= np.mean(profile_hits) <= 0.99


def test_stratified_average_is_the_pooled_within_stratum_variance_and_stays_linear():
    rng = np.random.default_rng(0)
    units = rng.normal(size=(3, 4, 5, 2))                  # (U, orders, pairs, games)
    est = Estimate.from_units(units, 10).average(axis=1, independent=True)
    np.testing.assert_allclose(est.mean, units.mean(axis=(0, 2)))
    expected = units.var(axis=0, ddof=1).sum(axis=1) / (3 * 5 ** 2)
    np.testing.assert_allclose(est.se ** 2, expected)
    diff = est.difference(0, 1)                            # stratified SE of the difference
    d = units[..., 0] - units[..., 1]
    np.testing.assert_allclose(diff.se ** 2, d.var(axis=0, ddof=1).sum(axis=1) / (3 * 5 ** 2))
    assert est.units == diff.units == 3 and est.info["strata"] == 5
    with pytest.raises(ValueError, match="already pools strata"):
        est.average(axis=0, independent=True)


def test_two_unit_profile_has_trustworthy_error_bars():
    """The dashboard's default: 2 units per order, 8 independent pairs. The stratified SE has 8 degrees
    of freedom, so 2-SE intervals cover about 90% (an SE from the 2 units alone would cover about 70%)."""
    n = 12
    v = smooth_game(n, seed=7)
    exact = exact_order_interactions(v, n)
    pairs = [(0, 1), (2, 3), (4, 5), (6, 7), (8, 9), (10, 11), (1, 6), (3, 8)]
    orders = [2, 4, 5, 7]
    truth = np.array([[exact[m, i, j] for i, j in pairs] for m in orders]).mean(axis=1)
    hits = [np.abs((est := sample_order_profile(v, n, pairs, orders, samples=2, seed=seed, pilot=0)).mean - truth)
            < 2 * est.se for seed in range(300)]
    assert 0.85 <= np.mean(hits) <= 0.97
    assert est.units == 2 and est.info["strata"] == len(pairs)


def test_mask_rows_are_the_rows_given_to_the_game():
    n = 9
    counter = Counter(smooth_game(n))
    est = sample_order_interactions(counter, n, neighbor_pairs(3, 3), [0, 2, 4, 6, 7], samples=7, seed=1,
                                    batch_rows=50)
    assert est.mask_rows == counter.rows > 0
    counter = Counter(table_game(n, games=3))
    est = sample_order_interactions(counter, n, PAIRS, [3], samples=4, seed=0)
    assert est.mask_rows == counter.rows          # rows, not rows x games


def test_top_and_bottom_orders_are_exact_with_few_passes():
    n = 9
    counter = Counter(smooth_game(n, seed=3))
    pairs = neighbor_pairs(3, 3)
    est = sample_order_interactions(counter, n, pairs, [n - 2], samples=5, seed=0)
    exact = exact_order_interactions(smooth_game(n, seed=3), n)
    np.testing.assert_allclose(est.mean[0], [exact[n - 2, i, j] for i, j in pairs], atol=1e-12)
    assert np.all(est.se == 0)
    assert counter.rows == 1 + n + len(pairs)


def test_determinism_for_a_seed():
    n = 10
    v = smooth_game(n, seed=4)
    a = sample_order_interactions(v, n, PAIRS, [2, 5], samples=5, seed=42)
    b = sample_order_interactions(v, n, PAIRS, [2, 5], samples=5, seed=42)
    c = sample_order_interactions(v, n, PAIRS, [2, 5], samples=5, seed=43)
    np.testing.assert_array_equal(a.mean, b.mean)
    np.testing.assert_array_equal(a.se, b.se)
    assert not np.array_equal(a.mean, c.mean)


def test_several_games_share_masks_and_give_differences_with_se():
    n = 8
    single = [table_game(n, seed=s) for s in (1, 2)]
    both = lambda masks: np.stack([single[0](masks), single[1](masks)], axis=1)
    joint = sample_order_interactions(both, n, PAIRS, [2, 3], samples=20, seed=9)
    assert joint.mean.shape == (2, len(PAIRS), 2)
    for g in range(2):
        alone = sample_order_interactions(single[g], n, PAIRS, [2, 3], samples=20, seed=9)
        np.testing.assert_allclose(joint.mean[..., g], alone.mean)
        assert alone.mask_rows == joint.mask_rows
    diff = joint.difference(0, 1)
    np.testing.assert_allclose(diff.mean, joint.mean[..., 0] - joint.mean[..., 1])
    # a game against a shifted copy of itself: the difference is known exactly, SE 0 (common masks)
    shifted = lambda masks: np.stack([single[0](masks), single[0](masks) + 3.0], axis=1)
    same = sample_order_interactions(shifted, n, PAIRS, [3], samples=10, seed=0).difference(0, 1)
    assert np.abs(same.mean).max() < 1e-12 and np.abs(same.se).max() < 1e-12
    cov = joint.covariance()
    assert cov.shape == (2, len(PAIRS), 2, 2)
    np.testing.assert_allclose(np.sqrt(cov[..., 0, 0]), joint.se[..., 0])


def test_order_profile_and_heatmap():
    n = 9
    v = table_game(n, seed=8)
    exact = exact_order_interactions(v, n)
    pairs = neighbor_pairs(3, 3)
    profile = sample_order_profile(v, n, pairs, [2, 4], samples=60, seed=1)
    truth = [np.mean([exact[m, i, j] for i, j in pairs]) for m in [2, 4]]
    assert profile.mean.shape == (2,)
    assert np.all(np.abs(profile.mean - truth) < 4 * profile.se)
    heat = sample_cell_heatmap(v, n, 4, [3, 5], samples=60, seed=2)
    assert heat.mean.shape == (2, n) and heat.mean[0, 4] == 0 and heat.se[0, 4] == 0
    others = [j for j in range(n) if j != 4]
    assert np.all(np.abs(heat.mean[:, others] - exact[[3, 5]][:, 4, others]) < 4 * heat.se[:, others])
    pooled = sample_cell_heatmap(v, n, 4, [3, 5], samples=60, seed=2, pool=True)
    np.testing.assert_allclose(pooled.mean, heat.mean.mean(axis=0))
    assert np.all(pooled.se[others] < heat.se[:, others].max(axis=0))



def test_heatmap_effort_in_contexts_per_cell_is_unbiased_and_cheaper():
    """``contexts=c`` gives every cell at most c contexts per unit (the profile's unit of effort): still
    unbiased against the exact values, with fewer rows per unit than whole designs."""
    n = 9
    v = table_game(n, seed=8)
    exact = exact_order_interactions(v, n)
    others = [j for j in range(n) if j != 4]
    whole = sample_cell_heatmap(Counter(v), n, 4, [3, 5], samples=60, seed=2, estimator="stars")
    counter = Counter(v)
    one = sample_cell_heatmap(counter, n, 4, [3, 5], samples=200, seed=2, contexts=1)
    assert one.mask_rows == counter.rows and one.info["contexts_per_unit"] == 1
    assert one.mask_rows / 200 < whole.mask_rows / 60
    z = (one.mean[:, others] - exact[[3, 5]][:, 4, others]) / one.se[:, others]
    assert np.all(np.abs(z) < 4) and abs(z.mean()) < 4 / np.sqrt(z.size)

@pytest.mark.parametrize("games", [None, 2])
def test_heatmap_contrast_of_gains_is_unbiased_at_every_interior_order(games):
    """The contrast estimator (mean gain v(T+cell) - v(T) over the sets holding j at size m+1 minus over
    the sets missing j at size m) agrees with brute force on a game with interactions of every order,
    for one game and for two on shared masks, and counts its rows: 2 per set."""
    n, cell = 9, 4
    v = table_game(n, seed=11, games=games)
    exact = exact_order_interactions(v, n)
    orders = list(range(1, n - 2))
    counter = Counter(v)
    heat = sample_cell_heatmap(counter, n, cell, orders, samples=400, seed=5, estimator="contrast")
    assert heat.info["estimators"] == ["contrast"] * len(orders) and heat.mask_rows == counter.rows
    others = [j for j in range(n) if j != cell]
    truth = exact[orders][:, cell, others]
    z = (heat.mean[:, others] - truth) / heat.se[:, others]
    assert np.all(np.abs(z) < 4.5)
    # the cells of one order share its sets, so their errors are correlated: test their mean with its own SE
    row = heat.average(axis=1)
    z_row = (row.mean - truth.mean(axis=1) * len(others) / n) / row.se
    assert np.all(np.abs(z_row) < 4) and abs(z_row.mean()) < 4 / np.sqrt(z_row.size)
    if games:
        diff = heat.difference(0, 1)
        zd = (diff.mean[:, others] - (truth[..., 0] - truth[..., 1])) / diff.se[:, others]
        assert np.all(np.abs(zd) < 4.5)


def test_heatmap_contrast_standard_errors_are_calibrated():
    """Over 150 seeds on a smooth game, about 95% of the contrast estimator's 2-SE intervals (20 units, so
    t with 19 degrees of freedom: 94%) cover the exact interaction of every cell."""
    n, cell, m = 10, 3, 4
    v = smooth_game(n, seed=4)
    truth = np.delete(exact_order_interactions(v, n)[m, cell], cell)
    hits = []
    for seed in range(150):
        est = sample_cell_heatmap(v, n, cell, [m], samples=20, seed=seed, estimator="contrast")
        hits.append(np.abs(np.delete(est.mean[0], cell) - truth) <= 2 * np.delete(est.se[0], cell))
    assert 0.90 <= np.mean(hits) <= 0.98


def test_heatmap_estimator_choice_and_bad_input():
    """``auto`` takes the contrast at middle orders without a contexts cap, block stars elsewhere (m = 0 and
    n-2 exact); the estimator used is named in the result; bad choices raise ValueError naming them."""
    n = 22
    low, high = CONTRAST_RATIOS
    inside = [m for m in range(2, n - 3) if low <= m / (n - 2) <= high]
    assert inside and [heatmap_estimator("auto", m, n, None) for m in inside] == ["contrast"] * len(inside)
    outside = [0, 1, n - 3, n - 2] + [m for m in range(n - 1) if not low <= m / (n - 2) <= high]
    assert {heatmap_estimator("auto", m, n, None) for m in outside} == {"stars"}
    assert heatmap_estimator("auto", 10, n, 1) == "stars"
    assert heatmap_estimator("contrast", n - 2, n, None) == "stars"
    est = sample_cell_heatmap(smooth_game(n), n, 0, [1, 10], samples=2, seed=0)
    assert est.info["estimators"] == ["stars", "contrast"]
    with pytest.raises(ValueError, match="'gains'"):
        sample_cell_heatmap(smooth_game(n), n, 0, [10], samples=2, estimator="gains")
    with pytest.raises(ValueError, match="contexts"):
        sample_cell_heatmap(smooth_game(n), n, 0, [10], samples=2, estimator="contrast", contexts=2)


def test_sampled_shapley_values():
    n = 10
    counter = Counter(smooth_game(n, seed=6))
    est = sample_shapley(counter, n, samples=200, seed=0)
    exact = exact_shapley(smooth_game(n, seed=6), n)
    assert np.all(np.abs(est.mean - exact) < 4 * est.se)
    values = exact_values(smooth_game(n, seed=6), n)
    np.testing.assert_allclose(est.unit_values.sum(axis=1), values[-1] - values[0], atol=1e-12)
    assert est.mask_rows == counter.rows == 2 + 2 * 200 * (n - 1)


def test_disentanglement_matches_its_definition():
    n = 8
    v = smooth_game(n, seed=2)
    pairs = neighbor_pairs(2, 4)
    orders = [1, 3, 5]
    exact = exact_order_interactions(v, n)
    numerator = np.array([np.mean([abs(exact[m, i, j]) for i, j in pairs]) for m in orders])
    # E_S |Δv| from a large paper-protocol sample (each of its units is one context per pair)
    denominator = np.abs(paper_order_interactions(v, n, pairs, orders, samples=2000, seed=5).unit_values)
    d_true = numerator / denominator.mean(axis=(0, 2))
    est = sample_disentanglement(v, n, pairs, orders, samples=200, seed=1)
    paper = sample_disentanglement(v, n, pairs, orders, samples=400, seed=0, estimator="paper")
    assert est.d.shape == (3, 1) and est.d_pooled.shape == (3,)
    for result in (est, paper):
        assert np.all((result.d_pooled >= 0) & (result.d_pooled <= 1 + 1e-12))
        assert np.all(np.abs(result.d_pooled - d_true) < 4 * result.d_pooled_se + 0.01)
        assert np.all(result.d_pooled_debiased <= result.d_pooled + 1e-12)
    np.testing.assert_allclose(Estimate.from_units(np.ones((3,)) * [1, 2, 3], 0).se,
                               np.std([1, 2, 3], ddof=1) / np.sqrt(3))


def test_paper_preset_uses_neighbour_pairs_and_ratio_orders():
    counter = Counter(smooth_game(16, seed=1))
    est = paper_protocol(counter, 4, 4, samples=3, seed=0, pair_count=10, estimator="paper")
    assert est.info["orders"] == paper_orders(16).tolist() == [1, 2, 4, 5, 7, 8, 9, 11, 12, 13, 14]
    assert len(est.info["pairs"]) == 10
    assert {tuple(p) for p in est.info["pairs"]} <= {tuple(p) for p in neighbor_pairs(4, 4)}
    assert est.mask_rows == counter.rows == 4 * 3 * 10 * 11
    assert len(neighbor_pairs(7, 7)) == 2 * 6 * 7 + 2 * 6 * 6
    assert cell_pairs(2, 4).tolist() == [[2, 0], [2, 1], [2, 3]]


@pytest.mark.parametrize("kwargs, message", [
    (dict(pairs=[(1, 1)]), r"\(1, 1\) has i == j"),
    (dict(pairs=[(0, 9)]), r"\(0, 9\) is out of range"),
    (dict(pairs=[]), "pairs is empty"),
    (dict(orders=[7]), "order 7 is outside 0..6"),
    (dict(orders=[-1]), "order -1 is outside"),
    (dict(orders=[]), "orders is empty"),
    (dict(samples=1), "samples must be an integer >= 2"),
    (dict(grouping="magic"), "unknown grouping 'magic'"),
    (dict(grouping=[[0], [0]]), "exactly once"),
])
def test_bad_input_names_the_offending_value(kwargs, message):
    args = dict(pairs=[(0, 1)], orders=[1], samples=4, seed=0)
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        sample_order_interactions(table_game(8), 8, **args)
    if "grouping" not in kwargs:
        with pytest.raises(ValueError, match=message):
            paper_order_interactions(table_game(8), 8, **args)


def heterogeneous_game(n, seed=0):
    """Interactions whose size varies strongly between pairs (cell weights spread over e^±4)."""
    rng = np.random.default_rng(seed)
    a, w = rng.normal(size=n), np.exp(2 * rng.normal(size=n))
    return lambda masks: np.tanh((masks * w) @ a / 3)


def test_profile_with_neyman_allocation_is_unbiased_calibrated_and_counted():
    n = 12
    v = heterogeneous_game(n)
    pairs = neighbor_pairs(3, 4)
    exact = exact_order_interactions(v, n)
    orders = [3]
    truth = np.array([np.mean([exact[m, i, j] for i, j in pairs]) for m in orders])
    hits, means = [], []
    for seed in range(100):   # skewed units: t-intervals need a dozen units or more to reach ~0.95
        est = sample_order_profile(v, n, pairs, orders, samples=12, seed=seed, pilot=4)
        hits.append(np.abs(est.mean - truth) < 2 * est.se)
        means.append(est.mean)
    assert 0.85 <= np.mean(hits) <= 0.99
    means = np.array(means)
    assert np.all(np.abs(means.mean(axis=0) - truth) < 4 * means.std(axis=0) / np.sqrt(len(means)))
    assert min(est.info["mean_rounds_per_group"]) > 1.5
    counter = Counter(v)
    est = sample_order_profile(counter, n, pairs, [3, n - 2], samples=3, seed=0, pilot=4)
    assert est.mask_rows == counter.rows
    plain = Counter(v)
    sample_order_profile(plain, n, pairs, [n - 2], samples=3, seed=0, pilot=4)
    assert plain.rows == 1 + n + len(pairs)        # no pilot for a deterministic order


def test_neyman_allocation_lowers_the_variance_for_the_rows_spent():
    n = 12
    v = heterogeneous_game(n, seed=1)
    pairs = neighbor_pairs(3, 4)
    work = {}
    for pilot in (0, 4):
        runs = [sample_order_profile(v, n, pairs, [4], samples=4, seed=s, pilot=pilot) for s in range(40)]
        work[pilot] = np.var([r.mean[0] for r in runs]) * runs[0].mask_rows
    assert work[4] < 0.8 * work[0]


def test_pair_groups():
    pairs = np.array([[0, 1], [0, 2], [1, 2], [3, 0]])
    assert [g.tolist() for g in pair_groups(pairs, "player")] == [[0, 1], [2], [3]]
    assert [g.tolist() for g in pair_groups(pairs, "pair")] == [[0], [1], [2], [3]]
    assert [g.tolist() for g in pair_groups(pairs, "all")] == [[0, 1, 2, 3]]
    assert [g.tolist() for g in pair_groups(pairs, [[3, 1], [0, 2]])] == [[3, 1], [0, 2]]
    with pytest.raises(ValueError, match="exactly once"):
        pair_groups(pairs, [[0, 1], [2]])
    with pytest.raises(ValueError, match="pilot must be 0"):
        sample_order_profile(table_game(8), 8, PAIRS, [3], samples=3, pilot=1)


@pytest.mark.parametrize("players,size,coverage", [(47, 18, 2), (47, 23, 3), (47, 4, 1), (48, 10, 2), (62, 31, 2),
                                                    (254, 25, 2), (12, 4, 2), (9, 1, 2)])
def test_block_design_is_near_balanced(players, size, coverage):
    design = block_design(players, size, coverage)
    K = block_count(players, size, coverage)
    counts = design.astype(int)
    assert design.shape == (K, players) and not design.flags.writeable
    assert (counts.sum(axis=1) == size).all()                                    # every block a context size
    per_player = counts.sum(axis=0)
    assert per_player.max() - per_player.min() <= 1                              # equal coverage (±1)
    assert per_player.sum() == K * size
    shared = (counts @ counts.T)[~np.eye(K, dtype=bool)]
    assert shared.max() - shared.min() <= 3                                      # near-equal intersections
    if K * size <= players:
        assert shared.max() == 0                                                 # room for a partition: disjoint
    if size == 1:
        np.testing.assert_array_equal(design, np.eye(players, dtype=bool))      # every context once


def test_exact_coverage_removes_the_variance_of_a_context_additive_interaction():
    """v(S) = 1[0 in S] 1[1 in S] a·1_S gives Δv(0, 1, S) = a·1_S: a unit of a design that covers every
    player equally often averages it to its exact mean; uneven coverage leaves variance."""
    n = 14
    a = np.random.default_rng(0).normal(size=n)
    v = lambda masks: masks[:, 0] * masks[:, 1] * (masks @ a)
    truth = exact_order_interactions(v, n)[4, 0, 1]
    assert 2 * (n - 2) % 4 == 0                                                  # K = 6 blocks of 4 cover 12 twice
    even = sample_order_interactions(v, n, [(0, 1)], [4], samples=20, seed=0, coverage=2)
    np.testing.assert_allclose(even.unit_values[:, 0, 0], truth, atol=1e-12)
    uneven = sample_order_interactions(v, n, [(0, 1)], [5], samples=20, seed=0, coverage=2)   # 5 blocks of 5 over 12
    assert uneven.se[0, 0] > 1e-3
    assert abs(uneven.mean[0, 0] - exact_order_interactions(v, n)[5, 0, 1]) < 4 * uneven.se[0, 0]


def test_two_stage_average_is_cochrans_variance_and_reduces_to_the_stratified_one():
    """K of a population of strata drawn: (1 - f) s_b²/K + f s_w²/(K U), exact, for every game and any
    linear function of the games; f = 1 gives the stratified Σ s_p² / (U K²)."""
    rng = np.random.default_rng(3)
    units = rng.normal(size=(3, 4, 5, 2)) + rng.normal(size=(1, 4, 5, 2))   # (U, orders, strata, games)
    U, K, population = 3, 5, 20
    est = Estimate.from_strata(units, 1, 10, population=population)
    means, f = units.mean(axis=0), K / population
    expected = (1 - f) * means.var(axis=1, ddof=1) / K + f * units.var(axis=0, ddof=1).mean(axis=1) / (K * U)
    np.testing.assert_allclose(est.mean, means.mean(axis=1))
    np.testing.assert_allclose(est.se ** 2, expected)
    d, dm = units[..., 0] - units[..., 1], means[..., 0] - means[..., 1]
    np.testing.assert_allclose(est.difference(0, 1).se ** 2, (1 - f) * dm.var(axis=1, ddof=1) / K
                               + f * d.var(axis=0, ddof=1).mean(axis=1) / (K * U))
    assert est.info["population"] == population
    whole = Estimate.from_strata(units, 1, 10, population=K)
    np.testing.assert_allclose(whole.se ** 2, units.var(axis=0, ddof=1).sum(axis=1) / (U * K ** 2))
    with pytest.raises(ValueError, match="draw at least 2"):
        Estimate.from_strata(units[:, :, :1], 1, 10, population=population)
    one = Estimate.from_strata(units[:1], 1, 10, population=population)   # one unit per drawn stratum:
    np.testing.assert_allclose(one.se ** 2, units[0].var(axis=1, ddof=1) / K)  # the ultimate-cluster s²/K
    np.testing.assert_allclose(one.mean, units[0].mean(axis=1))
    with pytest.raises(ValueError, match="at least 2 units per stratum when every stratum is evaluated"):
        Estimate.from_strata(units[:1], 1, 10, population=K)


def test_combined_replicates_average_with_root_sum_square_errors():
    rng = np.random.default_rng(4)
    parts = [Estimate.from_units(rng.normal(size=(6, 3)), 5) for _ in range(3)]
    combined = Estimate.combine(parts)
    np.testing.assert_allclose(combined.mean, np.mean([p.mean for p in parts], axis=0))
    np.testing.assert_allclose(combined.se, np.sqrt(np.sum([p.se ** 2 for p in parts], axis=0)) / 3)
    assert combined.mask_rows == 15 and combined.info["replicates"] == 3


def all_pairs_profile():
    """A 12-player game, its 66 pairs, three orders and the exact order profile over all the pairs."""
    n = 12
    v = smooth_game(n, seed=7)
    exact = exact_order_interactions(v, n)
    pair_set = [(i, j) for i in range(n) for j in range(i + 1, n)]
    orders = [2, 5, 9]
    return v, n, pair_set, orders, np.array([np.mean([exact[m, i, j] for i, j in pair_set]) for m in orders])


def test_profile_over_drawn_pairs_covers_the_whole_pair_set_truth():
    """The estimand is the mean over the whole pair set; 8 of its 66 pairs are drawn, 2 units each. The
    two-stage SE covers the draw: about 95% of 2-SE intervals hold the all-pairs truth (a stratified SE
    that treated the 8 pairs as fixed covers far less: checked alongside)."""
    v, n, pair_set, orders, truth = all_pairs_profile()
    hits, fixed_hits = [], []
    for seed in range(200):
        est = sample_order_profile(v, n, pair_set, orders, samples=2, seed=seed, pair_count=8)
        hits.append(np.abs(est.mean - truth) < 2 * est.se)
        drawn = np.asarray(est.info["pairs"])
        fixed = sample_order_profile(v, n, drawn, orders, samples=2, seed=seed)
        fixed_hits.append(np.abs(fixed.mean - truth) < 2 * fixed.se)
    assert 0.85 <= np.mean(hits) <= 0.99, np.mean(hits)   # t with 7 df: 2 SE cover about 91%
    assert np.mean(fixed_hits) < np.mean(hits) - 0.1
    assert est.info["pair_set_size"] == 66 and est.info["pair_count"] == 8 and est.info["population"] == 66


def test_one_context_per_drawn_pair_is_unbiased_and_its_se_covers_the_draw():
    """samples=1 with pairs drawn: every drawn pair gets one context; the SE is the spread of the drawn pairs
    (the contexts' noise included), slightly conservative, so 2-SE intervals cover the all-pairs truth at
    least as often as the t quantile says."""
    v, n, pair_set, orders, truth = all_pairs_profile()
    runs = [sample_order_profile(v, n, pair_set, orders, samples=1, contexts=1, seed=seed, pair_count=16)
            for seed in range(300)]
    means = np.array([r.mean for r in runs])
    assert np.all(np.abs(means.mean(axis=0) - truth) < 4 * means.std(axis=0) / np.sqrt(len(runs)))
    hits = np.mean([np.abs(r.mean - truth) < 2 * r.se for r in runs])
    assert 0.9 <= hits <= 1.0, hits                           # t with 15 df: 2 SE cover about 94%
    assert runs[0].units == 1 and runs[0].mask_rows == 4 * 16 * len(orders)
    with pytest.raises(ValueError, match="samples must be an integer >= 2"):
        sample_order_profile(v, n, pair_set, orders, samples=1, seed=0)     # every pair: no spread to use


def test_pair_count_outside_the_pair_set_is_refused_with_the_value():
    v, pairs = smooth_game(6), neighbor_pairs(2, 3)
    for bad in (0, 1, len(pairs) + 1, 2.5):
        with pytest.raises(ValueError, match=f"pair_count={bad!r}"):
            sample_order_profile(v, 6, pairs, [2], samples=2, pair_count=bad)
    with pytest.raises(ValueError, match="needs the whole pair set"):
        sample_order_profile(v, 6, pairs, [2], samples=2, pair_count=3, grouping="all")


def test_target_precision_adds_replicates_until_the_se_bound_or_the_budget():
    n = 10
    v = smooth_game(n, seed=2)
    pairs = neighbor_pairs(2, 5)
    first = sample_order_profile(v, n, pairs, [3, 5], samples=2, seed=0, pair_count=5)
    target = float(first.se.max()) / 2
    est = sample_order_profile(v, n, pairs, [3, 5], samples=2, seed=0, pair_count=5, max_se=target)
    assert est.se.max() <= target and est.info["precision"]["reached"]
    assert est.mask_rows == first.mask_rows * est.info["replicates"] >= 2 * first.mask_rows
    capped = sample_order_profile(v, n, pairs, [3, 5], samples=2, seed=0, pair_count=5, max_se=target / 100,
                                  max_rows=3 * first.mask_rows)
    assert capped.info["replicates"] == 3 and not capped.info["precision"]["reached"]
    assert "best estimate within the budget" in capped.info["precision"]["message"]

    assert f"{capped.mask_rows:,} mask rows" in capped.info["precision"]["message"]


def test_contexts_cap_keeps_each_pair_unbiased_and_costs_four_rows_per_context():
    """With ``contexts=c`` a unit keeps the first c blocks disjoint from each pair (chosen by block index,
    which depends on the pair's positions alone): still uniform contexts, so the estimate agrees with
    brute force, and a pair's unit costs 4 c rows."""
    n = 10
    v = smooth_game(n, seed=5)
    exact = exact_order_interactions(v, n)
    pairs = [(0, 1), (2, 7), (3, 9)]
    orders = [2, 4, 6]
    est = sample_order_interactions(v, n, pairs, orders, samples=400, seed=3, contexts=1)
    truth = np.array([[exact[m, i, j] for i, j in pairs] for m in orders])
    assert np.all(np.abs(est.mean - truth) <= 4 * est.se)
    assert est.mask_rows == 400 * len(orders) * len(pairs) * 4
    two = sample_order_interactions(v, n, pairs, orders, samples=5, seed=3, contexts=2)
    assert two.mask_rows == 5 * len(orders) * len(pairs) * 4 * 2 and two.info["contexts_per_unit"] == 2
