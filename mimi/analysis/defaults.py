"""The dashboard's default settings, in one place."""

from __future__ import annotations

from typing import Any

from mimi.attacks.base import DEFAULT_EPS, DEFAULT_STEPS
from mimi.attacks.landing import DEFAULT_TOLERANCE
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
#: smallest unit, so two units answer in seconds. ``eps``, ``steps``, ``norm`` and ``stop_utility`` are the
#: equal-ε attack (PGD-20 at ε 0.1, all steps), the one the gallery references and studies are computed with;
#: ``equal_strength`` is the dashboard's default attack (its comment says why these numbers). D^(m): the dashboard's
#: ``disentanglement_samples`` units per pair and order and ``disentanglement_pair_count`` pairs per image (also
#: ``mimi study run``'s ``--d-samples`` and ``--d-pair-count`` and :data:`mimi.defenses.strength.GALLERY_SETTINGS`; the
#: API's ``disentanglement(samples=8)`` keeps its own default); ``decomposition_grid`` the exact decomposition's grid.
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
    "disentanglement_samples": 4,
    "disentanglement_pair_count": 8,
    "decomposition_grid": "3x3",
    "baseline": "mean",
    "value": "log-odds",
    "target": "label",
    "eps": DEFAULT_EPS,
    "steps": DEFAULT_STEPS,
    "norm": "linf",
    "stop_utility": None,
    # The equal-strength attack (the paper's protocol), keyword arguments of mimi.analysis.run_attack (with the
    # page's value function): PGD from x stops each image once a gradient step lowers v of the true class by
    # U = stop_utility (log-odds) and lands it in [U, U + tolerance]; ε 0.3 and 100 steps of 0.01 are a cap, large
    # enough to reach U. Measured on the 100 gallery images: at U = 2, 100 land for fmnist-standard, -cutout and
    # -dropout, 97 for fmnist-pgd-at and 93 for fmnist-trades (U = 1.5: 99 and 96; 2.5: 97 and 89; 3: 95 and 88;
    # 4: 94 and 72). The images left out are not short of steps: 200 steps land none more, steps of 0.005 one
    # more. U = 2 is the largest round U at which nearly every image lands for all five; the standard models
    # then need a median ‖δ‖∞ of 0.01 to 0.016, the AT ones 0.155 and 0.188. At equal ε (PGD-20, ε 0.1, random
    # start) the same images lose 18.8 log-odds on fmnist-standard and 1.1 on fmnist-pgd-at (means). No random
    # start, as in the released code: a uniform start in this cap would be most of the landed δ (median
    # ‖δ‖∞ 0.12 on fmnist-standard, mostly noise), and would make the cap, not U, set the attack.
    "equal_strength": {"stop_utility": 2.0, "tolerance": DEFAULT_TOLERANCE, "stop_rule": "utility",
                       "random_start": False, "eps": 0.3, "steps": 100, "step_size": 0.01},
}
