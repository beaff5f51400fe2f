"""Cell maps of one image: the pair heatmap I^(m)(cell, j) of one cell against every other (:func:`pair_heatmap`)
and the Shapley value of every cell (:func:`shapley_map`), clean and adversarial on shared masks."""

from __future__ import annotations

from typing import Optional

import numpy as np

from mimi.analysis.checks import check_samples, resolve_cell, resolve_orders
from mimi.analysis.defaults import DEFAULTS
from mimi.analysis.image_game import check_image_game
from mimi.analysis.planning import _heatmap_rows, _shapley_rows
from mimi.analysis.result_fields import _contrast, _image_fields, _Start
from mimi.analysis.results import ImageValues, PairHeatmap, ShapleyMap
from mimi.core.games import ImageGame
from mimi.interactions import DEFAULT_COVERAGE, sample_cell_heatmap, sample_shapley


def pair_heatmap(game: ImageGame, cell, *, orders=None, ratios=DEFAULTS["heatmap_ratios"], samples: int = 8,
                 contexts: Optional[int] = None, coverage: int = DEFAULT_COVERAGE, estimator: str = "auto",
                 seed: int = 0) -> PairHeatmap:
    """I^(m)(cell, j) for every other cell j, per order and pooled over the orders (mean), clean and
    adversarial on shared masks, on ``game`` (:func:`image_game`). ``cell`` is an index or
    (row, col); ``orders`` or ``ratios`` (default 0.2, 0.5, 0.8 of n-2). ``samples`` iid units per order, each
    giving every cell at most ``contexts`` contexts (None: the blocks of a whole design that miss it), as in
    :func:`interaction_profile`. ``estimator`` per order (:func:`~mimi.interactions.sample_cell_heatmap`):
    ``"auto"`` (the contrast of gains at middle orders when ``contexts`` is None, block stars elsewhere),
    ``"stars"`` or ``"contrast"``; ``params["estimators"]`` names the one each order used."""
    paired = check_image_game(game)
    start = _Start.of(game)
    samples = check_samples(samples)
    if orders is not None:
        ratios = None
    n, grid = game.n, game.grid
    index = resolve_cell(grid, cell)
    order_values, ratio_values = resolve_orders(n, orders, ratios)
    game.expect(_heatmap_rows(n, index, order_values, samples, seed, coverage, contexts, estimator), "pair heatmap")
    est = sample_cell_heatmap(game, n, index, order_values, samples, seed, contexts=contexts,
                              coverage=coverage, estimator=estimator)  # (M, n[, G])
    pooled = est.average(axis=0, independent=True)   # orders are sampled independently
    shape = (grid.rows, grid.cols)

    def cell_map(values: np.ndarray) -> np.ndarray:
        out = np.array(values, dtype=np.float64)
        out[..., index] = np.nan
        return out.reshape(out.shape[:-1] + shape)

    return PairHeatmap(
        cell=index, cell_rc=grid.cell(index), orders=order_values, ratios=ratio_values, n=n, grid=grid.spec,
        pooled=_contrast(pooled, paired, cell_map), by_order=_contrast(est, paired, cell_map),
        **_image_fields(game, start, est.units),
        params=dict(game.params, samples=samples, contexts=contexts, coverage=coverage, estimator=estimator,
                    estimators=est.info["estimators"], seed=seed, cell=index))


def shapley_map(game: ImageGame, *, samples: int = 16, seed: int = 0) -> ShapleyMap:
    """Shapley value of every cell by antithetic permutation sampling (``samples`` permutation pairs,
    2 (n-1) samples + 2 mask rows), clean and adversarial on shared permutations, on ``game``
    (:func:`image_game`)."""
    paired = check_image_game(game)
    start = _Start.of(game)
    samples = check_samples(samples)
    n = game.n
    game.expect(_shapley_rows(n, samples), "Shapley map")
    est = sample_shapley(game, n, samples, seed)
    ends = game(np.stack([np.zeros(n, bool), np.ones(n, bool)])).reshape(2, -1)
    return ShapleyMap(
        phi=_contrast(est, paired, game.grid.to_image), n=n, grid=game.grid.spec,
        clean_image=ImageValues(float(ends[1, 0]), float(ends[0, 0])),
        adversarial_image=ImageValues(float(ends[1, 1]), float(ends[0, 1])) if paired else None,
        **_image_fields(game, start, est.units), params=dict(game.params, samples=samples, seed=seed))
