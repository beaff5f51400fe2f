"""The statistics behind the paper's claims: the unbiased mean squared change over pairs, a second value function
from the same forward passes, the power statement, and a study whose U no image reaches."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mimi import analysis
from mimi.batch.study.stats import images_for_power
from mimi.core.games import ImageGame
from mimi.core.stats import t_quantile
from mimi.interactions import exact_order_interactions, mean_square_over_pairs, sample_order_profile
from tests.interactions.test_interactions_sampling import all_pairs_profile, smooth_game


def two_games(n: int):
    """Two games on shared masks, like x and x': their difference has interactions of every order."""
    clean, adversarial = smooth_game(n, seed=7), smooth_game(n, seed=8)
    return lambda masks: np.stack([clean(masks), adversarial(masks)], axis=1), clean, adversarial


def test_mean_squared_change_over_drawn_pairs_is_unbiased_and_calibrated():
    """12 players, 66 pairs, 10 drawn with 2 single-context units each: the product of the two units is unbiased
    for each pair's ΔI², so over 300 seeds the mean estimate matches the exact all-pairs mean of ΔI² (where the
    square of each pair's mean is biased upward), and 2-SE intervals cover it 88-99% of the time (t, 9 df)."""
    _, n, pair_set, orders, _ = all_pairs_profile()
    game, clean, adversarial = two_games(n)
    change = exact_order_interactions(clean, n) - exact_order_interactions(adversarial, n)
    truth = np.array([np.mean([change[m, i, j] ** 2 for i, j in pair_set]) for m in orders])
    estimates, hits, plugin = [], [], []
    for seed in range(300):
        est = sample_order_profile(game, n, pair_set, orders, samples=2, contexts=1, seed=seed, pair_count=10,
                                   keep_pair_units=True)
        units = est.info["pair_units"][..., 0] - est.info["pair_units"][..., 1]
        square = mean_square_over_pairs(units)
        estimates.append(square.mean)
        hits.append(np.abs(square.mean - truth) < 2 * square.se)
        plugin.append((units.mean(axis=0) ** 2).mean(axis=1))
    estimates = np.array(estimates)
    spread = estimates.std(axis=0) / np.sqrt(len(estimates))
    assert np.all(np.abs(estimates.mean(axis=0) - truth) < 4 * spread), (estimates.mean(axis=0), truth)
    assert np.all(np.mean(plugin, axis=0) - truth > 4 * spread)         # the naive square is biased upward
    assert 0.88 <= np.mean(hits) <= 0.99, np.mean(hits)


def test_mean_square_needs_two_units_and_two_pairs():
    with pytest.raises(ValueError, match="at least 2 units"):
        mean_square_over_pairs(np.ones((1, 3, 5)))
    with pytest.raises(ValueError, match="at least 2 pairs"):
        mean_square_over_pairs(np.ones((2, 3, 1)))
    # exact on a known table: units (1, 3) and (2, 2) -> products 3 and 4, mean 3.5, SE 0.5
    square = mean_square_over_pairs(np.array([[[1.0, 2.0]], [[3.0, 2.0]]]))
    assert square.mean == pytest.approx([3.5]) and square.se == pytest.approx([0.5])


class Linear(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.layer = torch.nn.Linear(36, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.layer(x.flatten(1))) * 3


def test_a_twin_value_function_replays_the_same_forward_passes_exactly():
    model = Linear().eval()
    x = torch.rand(2, 1, 6, 6, generator=torch.Generator().manual_seed(1))
    game = ImageGame(model, x, [2, 2], grid="3x3", baseline="zero", value="log-softmax", twins=("log-odds",))
    options = dict(ratios=(0.2, 0.5, 1.0), pairs="all", pair_count=8, samples=2, contexts=1, seed=4)
    primary = analysis.interaction_profile(game, **options)
    twin = analysis.interaction_profile(game.twin("log-odds"), **options)
    alone = analysis.interaction_profile(ImageGame(model, x, [2, 2], grid="3x3", baseline="zero", value="log-odds"),
                                         **options)
    assert primary.params["value"] == "log-softmax" and twin.params["value"] == "log-odds"
    assert twin.forward_passes == 0 and primary.forward_passes == alone.forward_passes > 0
    for got, want in ((twin.interaction.difference, alone.interaction.difference),
                      (twin.utility_by_order, alone.utility_by_order), (twin.squared_change, alone.squared_change)):
        np.testing.assert_array_equal(got.mean, want.mean)
        np.testing.assert_array_equal(got.se, want.se)
    assert not np.allclose(primary.utility_by_order.mean, twin.utility_by_order.mean)   # another value function
    with pytest.raises(ValueError, match="other masks"):         # another seed asks for other masks
        analysis.interaction_profile(game.twin("log-odds"), **{**options, "seed": 5})
    with pytest.raises(ValueError, match="records no 'logit'"):
        game.twin("logit")


@pytest.mark.parametrize("effect, sd, level", [(0.5, 1.0, 0.95), (0.3, 1.0, 0.975), (1.0, 1.5, 0.99)])
def test_images_for_80_percent_power_match_a_simulation(effect, sd, level):
    """At the number of images the power statement gives, a simulated study's interval excludes 0 in 76-86% of
    4000 runs (80% claimed; the normal approximation of the noncentral t), and one image fewer than half of it
    falls well short."""
    count = images_for_power(effect, sd, level)
    rng = np.random.default_rng(0)

    def power(images: int) -> float:
        data = rng.normal(effect, sd, size=(4000, images))
        half = t_quantile((1 + level) / 2, images - 1) * data.std(axis=1, ddof=1) / np.sqrt(images)
        return float(np.mean(data.mean(axis=1) - half > 0))

    assert 0.76 <= power(count) <= 0.86, (count, power(count))
    assert power(max(2, count // 2)) < 0.65
    assert images_for_power(-effect, sd, level) == count          # the size of the effect, not its sign
    assert images_for_power(0.0, sd, level) == images_for_power(effect, 0.0, level) == 1_000_000
