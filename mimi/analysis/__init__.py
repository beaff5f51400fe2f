"""The image API: multi-order interactions of one image (and its adversarial version), as Results.

Every single-image function takes an :class:`~mimi.core.games.ImageGame` from :func:`image_game` (grid
cells are the players, v(S) the value of the target class on the masked image; the game holds the grid,
baseline, value function, target, device, batch size, precision and progress) and runs an estimator of
:mod:`mimi.interactions` on it, as ``interaction_profile(game, pair_count=48)``; one game serves several
computations (:mod:`~mimi.analysis.image_game`). Each returns ONE :class:`~mimi.core.results.Result` dataclass (numpy arrays,
JSON round-trip) with standard errors, the forward passes used, the parameters and the model's prediction.
With an adversarial image, clean and adversarial games share every mask (common random numbers):
one (k, 2) game, so differences have honest, small standard errors.

Definitions (``docs/science.md`` §3-§5): I^(m)(i, j) = E_{|S| = m} Δv(i, j, S); J^(m)(i, j) =
(n-1-m)/(n(n-1)) I^(m)(i, j); v(N) - v(∅) = Σ_i φ^(0)(i) + Σ_m Σ_{i≠j} J^(m)(i, j).

**Order profile** (``InteractionProfile.interaction``): Ī^(m) = mean over the whole pair set P
(``pairs``: all 8-neighbour pairs of the grid, or all pairs) of I^(m)(i, j). ``pair_count`` K < |P|
draws K pairs of P at random; the standard error then covers that draw as well as the contexts
(:func:`mimi.interactions.sample_order_profile`).

**Attacking utility of order m** (``InteractionProfile.utility_by_order``): the order-m part of the
attacking utility Δv(N) = v(N|x) - v(N|x'), summed over ordered pairs:

    ΔJ^(m) = Σ_{i≠j} (n-1-m)/(n(n-1)) [I^(m)(i,j|x) - I^(m)(i,j|x')]
           = (n-1-m) · mean_{all pairs} [I^(m)(i,j|x) - I^(m)(i,j|x')].

For a pair set P the profile estimates the part of that sum carried by the pairs of P,
ΔJ_P^(m) = (n-1-m) · 2|P|/(n(n-1)) · mean_P [I^(m)(i,j|x) - I^(m)(i,j|x')], unbiased: with
``pairs="all"`` it is ΔJ^(m) itself; with 8-neighbour pairs it is the neighbours' share of it, and
the result says so (``delta_j_estimand``). Summed over all orders
m = 0..n-2 and added to the single-cell part Σ_i Δφ^(0)(i), the all-pairs ΔJ gives Δv(N); the
profile carries these exact totals (``attack_utility``, ``attack_single``, ``attack_pairwise``)
so a chart can set the per-order parts against the whole. :func:`decomposition` computes every
term exactly for small grids (n <= 16).

Parameter bounds (ValueError naming the value): grids of at most ``MAX_GRID_SIDE`` cells a side
and no finer than the image; 2 <= samples <= ``MAX_SAMPLES``; orders 0..n-2 (ratios in [0, 1]);
images (C, H, W) with values in [0, 1]; exact decomposition n <= 16 cells.

The package splits by job: :mod:`~mimi.analysis.results` (the result types),
:mod:`~mimi.analysis.checks` (input checks), :mod:`~mimi.analysis.image_game` (the game),
:mod:`~mimi.analysis.planning` (forward passes before running), :mod:`~mimi.analysis.budget` (time budgets),
the computations: :mod:`~mimi.analysis.profile` (order profiles, their replicates and budgeted rounds),
:mod:`~mimi.analysis.maps` (pair heatmaps, Shapley maps), :mod:`~mimi.analysis.across_images` (D^(m) over
images), :mod:`~mimi.analysis.exact` (the exact decomposition), :mod:`~mimi.analysis.workflows` (the attack,
``mimi analyze``'s analysis, the default view) on :mod:`~mimi.analysis.result_fields` (what every result
records), and :mod:`~mimi.analysis.defaults` (the dashboard's defaults); every public name is importable from
``mimi.analysis``. ``Z95`` and ``t95`` are :mod:`mimi.core.stats`'s.
"""

from __future__ import annotations

from mimi.analysis.across_images import disentanglement
from mimi.analysis.checks import (MAX_GRID_SIDE, MAX_SAMPLES, PAIR_SETS, Image, Target, check_grid, check_samples,
                                  default_pair_count, disentanglement_orders, pair_set_of, resolve_cell, resolve_orders,
                                  resolve_pairs)
from mimi.analysis.defaults import DEFAULTS
from mimi.analysis.exact import decomposition
from mimi.analysis.image_game import GAME_OPTIONS, image_game
from mimi.analysis.maps import pair_heatmap, shapley_map
from mimi.analysis.planning import planned_forward_passes
from mimi.analysis.profile import combine_profiles, interaction_profile
from mimi.analysis.results import (Contrast, Decomposition, Disentanglement, Estimated, ImageReport, ImageResult,
                                   ImageValues, InteractionProfile, OrderProfile, PairHeatmap, ShapleyMap)
from mimi.analysis.workflows import DefaultView, analyze_image, default_view, run_attack
from mimi.core.stats import Z95, t95

__all__ = ["DEFAULTS", "Estimated", "Contrast", "ImageValues", "ImageResult", "OrderProfile",
           "InteractionProfile", "PairHeatmap", "ShapleyMap", "Disentanglement", "Decomposition",
           "ImageReport", "MAX_GRID_SIDE", "MAX_SAMPLES", "PAIR_SETS", "Image", "Target", "check_grid",
           "check_samples", "resolve_orders", "resolve_pairs", "default_pair_count", "pair_set_of", "resolve_cell",
           "disentanglement_orders", "planned_forward_passes", "GAME_OPTIONS", "image_game", "Z95", "t95",
           "interaction_profile", "combine_profiles", "pair_heatmap", "shapley_map", "disentanglement",
           "decomposition", "run_attack", "analyze_image", "DefaultView", "default_view"]
