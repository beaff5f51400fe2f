"""D^(m): the bias-corrected estimator against exact values, honest image-level SEs, trivial orders, JSON."""

from __future__ import annotations

import itertools

import numpy as np
import torch
from torch import nn

from mimi import analysis as A
from mimi.core.compute import freeze
from mimi.core.results import Result
from mimi.figures import profiles as figures_profiles
from mimi.interactions import all_pairs, exact_order_interactions, exact_values, sample_disentanglement


def wavy_game(n: int, scale: float = 2.0, seed: int = 1):
    """v(S) = sin(scale a·1_S) + 0.2 (b·1_S)(c·1_S)/n: interactions that change sign with the context."""
    a, b, c = np.random.default_rng(seed).normal(size=(3, n))

    def v(masks):
        x = np.asarray(masks, dtype=float)
        return np.sin(scale * x @ a) + 0.2 * (x @ b) * (x @ c) / n
    return v


def exact_disentanglement(v, n: int, pairs, orders) -> np.ndarray:
    """Σ_pairs |I^(m)| / Σ_pairs E_S |Δv| by enumerating every context S of every pair."""
    interactions, values = exact_order_interactions(v, n), exact_values(v, n)
    out = []
    for m in orders:
        numerator = denominator = 0.0
        for i, j in pairs:
            others = [k for k in range(n) if k not in (i, j)]
            bits = [sum(1 << k for k in context) for context in itertools.combinations(others, m)]
            delta = np.array([values[s | 1 << i | 1 << j] - values[s | 1 << i] - values[s | 1 << j] + values[s]
                              for s in bits])
            np.testing.assert_allclose(delta.mean(), interactions[m, i, j], atol=1e-9)
            numerator, denominator = numerator + abs(delta.mean()), denominator + np.abs(delta).mean()
        out.append(numerator / denominator)
    return np.array(out)


class Wavy(nn.Module):
    """Logits that oscillate in the mean of each 4x4 cell of a 12x12 image (3x3 grid): D varies by image."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("w", torch.randn(9, 2, generator=torch.Generator().manual_seed(0)))

    def forward(self, x):
        return torch.sin(4 * nn.functional.avg_pool2d(x, 4).flatten(1) @ self.w)


def wavy_images(count: int, seed: int) -> torch.Tensor:
    return torch.rand(count, 1, 12, 12, generator=torch.Generator().manual_seed(seed))


def test_debiased_estimate_matches_exact_values_and_the_plug_in_is_biased_up():
    n, orders = 8, [2, 3, 4]
    v, pairs = wavy_game(n), all_pairs(n)
    exact = exact_disentanglement(v, n, pairs, orders)
    one = sample_disentanglement(v, n, pairs, orders, samples=64, seed=0)
    assert np.all(np.abs(one.d_pooled_debiased - exact) < 4 * one.d_pooled_debiased_se)
    runs = [sample_disentanglement(v, n, pairs, orders, samples=8, seed=seed) for seed in range(20)]
    debiased = np.array([r.d_pooled_debiased for r in runs])
    plugin = np.array([r.d_pooled for r in runs])
    se_of_mean = debiased.std(axis=0, ddof=1) / np.sqrt(len(runs))
    assert np.all(np.abs(debiased.mean(axis=0) - exact) < 3 * se_of_mean + 0.005)
    # at m = 3 (D ≈ 0.38) the plug-in overestimates by far more than its noise
    assert plugin.mean(axis=0)[1] - exact[1] > max(0.03, 4 * se_of_mean[1])
    assert np.all(plugin >= debiased - 1e-12)


def test_units_of_one_context_keep_the_debiased_estimate_exact_on_average():
    n, orders = 8, [2, 3, 4]
    v, pairs = wavy_game(n), all_pairs(n)
    exact = exact_disentanglement(v, n, pairs, orders)
    whole = sample_disentanglement(v, n, pairs, orders, samples=8, seed=0)
    runs = [sample_disentanglement(v, n, pairs, orders, samples=8, seed=seed, contexts=1) for seed in range(30)]
    assert runs[0].mask_rows < whole.mask_rows / 2        # the paper's unit: one context per sample
    debiased = np.array([r.d_pooled_debiased for r in runs])
    se_of_mean = debiased.std(axis=0, ddof=1) / np.sqrt(len(runs))
    assert np.all(np.abs(debiased.mean(axis=0) - exact) < 3 * se_of_mean + 0.005)
    reported = np.array([r.d_pooled_debiased_se for r in runs]).mean(axis=0)
    assert np.all((0.5 < reported / debiased.std(axis=0, ddof=1)) & (reported / debiased.std(axis=0, ddof=1) < 2))


def test_image_level_standard_error_is_honest():
    """Over repeated draws of 6 images (and masks), the spread of D matches the jackknife SE."""
    model = freeze(Wavy())
    estimates, ses = [], []
    for repeat in range(30):
        d = A.disentanglement(model, wavy_images(6, 100 + repeat), [0] * 6, grid="3x3", orders=[2, 3, 4],
                              pairs="all", pair_count=6, samples=4, baseline="zero", seed=repeat)
        estimates.append(d.d)
        ses.append(d.d_se)
    spread_over_se = np.std(estimates, axis=0, ddof=1) / np.sqrt(np.mean(np.square(ses), axis=0))
    assert np.all((0.6 < spread_over_se) & (spread_over_se < 1.5)), spread_over_se
    assert d.se_covers == "images, pairs and contexts"
    assert np.allclose(d.d_high - d.d, A.t95(5) * d.d_se) and abs(A.t95(5) - 2.570582) < 1e-6


def test_images_are_independent_replicates_and_progress_is_exact():
    model, calls = freeze(Wavy()), []
    images = wavy_images(3, 1)
    d = A.disentanglement(model, images, [0, 1, 0], grid="3x3", ratios=(0.3, 0.6), samples=3, baseline="zero",
                          progress=lambda done, total, message: calls.append((done, total)))
    assert {total for _, total in calls} == {calls[-1][0]} == {d.forward_passes}
    assert d.forward_passes == d.mask_rows == A.planned_forward_passes(
        "disentanglement", grid="3x3", image_shape=(12, 12), images=3, ratios=(0.3, 0.6), samples=3)
    alone = A.disentanglement(model, images[1:2], [1], grid="3x3", ratios=(0.3, 0.6), samples=3, baseline="zero")
    assert not np.allclose(alone.per_image[0], d.per_image[1])  # image 1 has its own masks, not image 0's
    assert alone.se_covers == "contexts only (one image)"
    np.testing.assert_allclose(alone.d, alone.per_image[0])
    np.testing.assert_allclose(alone.d_high - alone.d, A.Z95 * alone.d_se)
    plugin = A.disentanglement(model, images, [0, 1, 0], grid="3x3", ratios=(0.3, 0.6), samples=3,
                               baseline="zero", debias=False)
    np.testing.assert_allclose(plugin.d, d.d_plugin)
    assert not plugin.debiased and "plug-in" in plugin.estimand


def test_trivial_orders_are_left_out_by_default_and_flagged_when_asked_for():
    orders, ratios, trivial = A.disentanglement_orders(9)
    assert orders.tolist() == [1, 2, 3, 4, 5, 6] and not trivial.any() and len(ratios) == 6
    model = freeze(Wavy())
    d = A.disentanglement(model, wavy_images(2, 2), [0, 1], grid="3x3", orders=[3, 7], samples=2, baseline="zero")
    assert d.trivial.tolist() == [False, True] and np.isclose(d.d[1], 1.0)
    fig = figures_profiles.disentanglement_figure({"wavy": d})
    assert all(list(trace.x) == [3 / 7] for trace in fig.data if trace.hoverinfo != "skip")
    assert "over these 2 images" in fig.layout.title.text and "95% over images" in fig.layout.title.text
    back = Result.from_json(d.to_json())
    assert isinstance(back, A.Disentanglement) and back.trivial.dtype == bool
    for name in ("d", "d_se", "d_low", "d_high", "d_plugin", "per_image", "per_image_se", "trivial"):
        np.testing.assert_array_equal(getattr(back, name), getattr(d, name))
    assert (back.estimand, back.se_covers, back.debiased) == (d.estimand, d.se_covers, True)
    assert "over these 2 image(s)" in d.estimand and back.params["debias"] is True
