"""The estimator benchmark's arithmetic on a cheap synthetic game (the image run is `mimi bench`)."""

import numpy as np

from mimi.bench.estimators import PAPER_PAIRS_7X7, compare, image_game, pair_set_compare, se_honesty
from mimi.core.compute import freeze
from mimi.interactions import cell_pairs, neighbor_pairs
from mimi.models.networks import SmallCNN


def smooth_game(n, seed=0):
    rng = np.random.default_rng(seed)
    a, b, c = rng.normal(size=(3, n))
    return lambda masks: np.tanh(masks @ a / 3) + (masks @ b) * (masks @ c) / n


def test_compare_reports_ratios_and_exact_top_order():
    n = 16
    v = smooth_game(n)
    out = compare(v, n, neighbor_pairs(4, 4), [3, 7, 14], pilot_samples=4, units=6, heatmap=False)
    assert out["ratio"] > 0 and out["ratio_90ci"][0] <= out["ratio_90ci"][1]
    # m = n-2 is exact for mimi: 1 + n + P rows against the paper's 4 P 100
    pairs = len(neighbor_pairs(4, 4))
    assert out["mimi_fixed_rows"][14] == 1 + n + pairs and out["mimi_rows_per_unit"][14] == 0
    assert out["mimi_fixed_rows"][3] == 0                             # no allocation pilot by default
    assert abs(out["per_order_ratio"][14] - (1 + n + pairs) / (4 * pairs * 100)) < 1e-3
    heat = compare(v, n, cell_pairs(5, n), [3, 7], pilot_samples=4, units=6, heatmap=True)
    assert heat["median_cell_ratio"] > 0 and heat["ratio"] > 0


def test_se_honesty_is_near_one_on_a_synthetic_game():
    n = 12
    out = se_honesty(smooth_game(n, 1), n, neighbor_pairs(3, 4), 4, repeats=40, units=6, heatmap=False)
    assert 0.7 < out["spread_over_se"] < 1.35


def test_image_game_shapes_and_masking():
    import torch

    torch.manual_seed(0)
    model = freeze(SmallCNN())
    images = torch.rand(2, 1, 28, 28)
    v2 = image_game(model, images, [1, 2], 7, 7)
    v1 = image_game(model, images[0], 1, 7, 7)
    masks = np.random.default_rng(0).random((5, 49)) < 0.5
    out = v2(masks)
    assert out.shape == (5, 2) and v1(masks).shape == (5,)
    np.testing.assert_allclose(out[:, 0], v1(masks), rtol=1e-5, atol=1e-5)


def test_common_random_numbers_pay_off_for_the_clean_minus_adversarial_profile():
    """Two strongly correlated games (an "adversarial" one = clean + a small game): the paper protocol
    draws each image's contexts independently (variance σ²_clean + σ²_adv per pair), mimi shares the masks."""
    n = 12
    clean, small = smooth_game(n, 2), smooth_game(n, 3)
    pair = lambda masks: np.stack([clean(masks), clean(masks) + 0.1 * small(masks)], axis=1)  # noqa: E731
    pairs, orders = neighbor_pairs(3, 4), [3, 5]
    single = compare(clean, n, pairs, orders, pilot_samples=8, units=8, heatmap=False)
    utility = compare(pair, n, pairs, orders, pilot_samples=8, units=8, heatmap=False, difference=True)
    assert utility["ratio"] < 0.2 * single["ratio"]


def test_pair_set_compare_counts_the_pair_draw_and_measures_reruns():
    """The paper's variance on the whole-set mean includes drawing its 33 pairs; mimi's is the spread of
    reruns with new pairs and contexts, and its honesty is that spread over the reported SE."""
    n = 16
    v = smooth_game(n, 4)
    pair_set = np.array([(i, j) for i in range(n) for j in range(i + 1, n)])      # 120 pairs
    out = pair_set_compare(v, n, pair_set, [3, 7, 14], pilot_pairs=40, pilot_samples=6, repeats=12,
                           configs={"drawn": dict(pair_count=20, samples=2, contexts=1),
                                    "every pair": dict(samples=2, contexts=1)})
    assert out["paper_pairs"] == PAPER_PAIRS_7X7 and out["pair_set_size"] == 120
    assert out["within_pair_variance"][2] == 0                        # m = n-2: one context per pair
    drawn, every = out["configs"]["drawn"], out["configs"]["every pair"]
    assert drawn["rows_per_order"][3] == 2 * 20 * 4                   # samples x pairs x 4 rows
    assert every["per_order_ratio"][14] == 0                          # the whole set at m = n-2 is exact
    assert drawn["per_order_ratio"][14] > 0                           # ... a draw of it is not
    assert 0.4 < drawn["honesty_mean"] < 2.0 and drawn["ratio"] > 0
