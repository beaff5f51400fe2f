"""The exact decomposition of one image's v(N) - v(∅) into single cells, orders and a residual from all 2^n
coalitions of a coarse grid (:func:`decomposition`, n <= 16; ``docs/science.md`` §5)."""

from __future__ import annotations

import numpy as np

from mimi.analysis.image_game import check_image_game
from mimi.analysis.result_fields import _image_fields, _Start
from mimi.analysis.results import Decomposition
from mimi.core.games import ImageGame
from mimi.interactions import EXACT_LIMIT, efficiency_decomposition


def decomposition(game: ImageGame) -> Decomposition:
    """Exact v(N) - v(∅) = Σ φ^(0) + Σ_m Σ_{i≠j} J^(m) + residual from all 2^n coalitions (n <= 16 cells:
    4x4 = 65,536 mask rows; 3x4 = 4,096), for x and, on the same masks, x', on ``game`` (:func:`image_game`)."""
    paired = check_image_game(game)
    start = _Start.of(game)
    n, grid_ = game.n, game.grid
    if n > EXACT_LIMIT:
        raise ValueError(f"grid {grid_.spec} has n={n} cells; the exact decomposition needs n <= {EXACT_LIMIT} "
                         f"(2^n forward passes), e.g. 4x4 or 3x4; use interaction_profile for finer grids")
    game.expect(2 ** n, "exact decomposition")
    dec = efficiency_decomposition(game, n)
    g = (lambda a, k: np.asarray(a)[..., k]) if paired else (lambda a, k: np.asarray(a))
    orders = np.arange(n - 1)
    order_totals, phi0 = g(dec.order_totals, 0), g(dec.phi0, 0)
    adv_totals = g(dec.order_totals, 1) if paired else None
    return Decomposition(
        n=n, grid=grid_.spec, orders=orders, ratios=orders / max(1, n - 2),
        v_full=float(g(dec.v_full, 0)), v_empty=float(g(dec.v_empty, 0)),
        total=float(g(dec.v_full, 0) - g(dec.v_empty, 0)), phi0=grid_.to_image(phi0), phi0_sum=float(phi0.sum()),
        shapley=grid_.to_image(g(dec.shapley, 0)), order_totals=order_totals,
        pairwise_total=float(order_totals.sum()), residual=float(g(dec.residual, 0)),
        adv_v_full=float(g(dec.v_full, 1)) if paired else None,
        adv_v_empty=float(g(dec.v_empty, 1)) if paired else None,
        adv_total=float(g(dec.v_full, 1) - g(dec.v_empty, 1)) if paired else None,
        adv_phi0_sum=float(g(dec.phi0, 1).sum()) if paired else None,
        adv_order_totals=adv_totals, adv_residual=float(g(dec.residual, 1)) if paired else None,
        delta_order_totals=None if adv_totals is None else order_totals - adv_totals,
        attack_utility=float(g(dec.v_full, 0) - g(dec.v_full, 1)) if paired else None,
        attack_single=float(phi0.sum() - g(dec.phi0, 1).sum()) if paired else None,
        **{k: v for k, v in _image_fields(game, start, 0).items() if k not in ("mask_rows", "units")},
        params=game.params)
