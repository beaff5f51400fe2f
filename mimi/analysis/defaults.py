"""The dashboard's default settings, in one place."""

from __future__ import annotations

from typing import Any

from mimi.attacks.base import DEFAULT_EPS, DEFAULT_STEPS
from mimi.interactions import PAPER_RATIOS


#: The dashboard's default view (the dashboard, ``mimi bench`` and ``mimi population`` read it).
#: Per model: PGD on the image, the clean + adversarial order profile over ``pair_count`` pairs drawn
#: from the pair set ``pairs`` (``samples`` x ``contexts`` contexts each) at the paper's 11 order
#: ratios, and one pair heatmap of ``heatmap_cell`` at ``heatmap_ratios`` (``heatmap_samples`` units).
#: Sized for < 2 s to the first chart and < 10 s for two models on 2 CPU cores (BENCHMARKS.md). The
#: profile's SE covers the pair draw and the contexts. Between-pair variance is as large as one
#: context's, so many pairs with one context per unit resolve the standard model's high-order change
#: on most gallery images, where 8 pairs with whole designs did not (BENCHMARKS.md). ``pilot`` 0: no
#: Neyman pilot. ``coverage`` 1: each heatmap unit's block design covers every cell about once, the
#: smallest unit, so two units answer in seconds.
DEFAULTS: dict[str, Any] = {
    "grid": "7x7",
    "pairs": "neighbors",
    "pair_count": 48,
    "ratios": PAPER_RATIOS,
    "samples": 2,
    "contexts": 1,
    "pilot": 0,
    "coverage": 1,
    "heatmap_cell": (3, 3),
    "heatmap_ratios": (0.2, 0.5, 0.8),
    "heatmap_samples": 2,
    "shapley_samples": 16,
    "disentanglement_samples": 8,
    "decomposition_grid": "3x4",
    "baseline": "mean",
    "value": "log-odds",
    "target": "label",
    "eps": DEFAULT_EPS,
    "steps": DEFAULT_STEPS,
    "norm": "linf",
    "stop_utility": None,
}
