"""The interaction engine for generic games (definitions: ``docs/science.md`` §1-§7, formulas in each module).

A game is any callable ``v(masks) -> values``: masks a (k, n) bool array, values (k,) or (k, G) for G
games on the same masks. Every function accepts both; outputs carry a trailing G axis only when v
returns 2-D values. ``mask_rows`` counts mask rows passed to v (once per row, whatever G is).
v is called in chunks of at most ``batch_rows`` rows.

Exact (n <= 16, 2^n evaluations; ValueError above):
    exact_values(v, n)                       v(S) for all S in bitmask order (bit i = player i)
    exact_order_interactions(v, n)           (n-1, n, n): I[m, i, j] = I^(m)(i, j), symmetric, zero diagonal
    exact_shapley(v, n)                      (n,) Shapley values
    exact_shapley_interaction(v, n)          (n, n) Shapley interaction index 1/(n-1) Σ_m I^(m)
    efficiency_decomposition(v, n)           ExactDecomposition: v(N) - v(∅) = Σ φ^(0) + Σ_m Σ_{i≠j} J^(m) + residual
    *_from_values(values, n)                 the same from precomputed exact_values

Sampled (each returns an Estimate: mean, se, mask_rows, unit_values; ``.difference(a, b)``,
``.average(axis)``, ``.scale(w)`` and ``.covariance()`` give honest SEs of game differences, pair
averages and J^(m) = interaction_weights(n)[m] · I^(m) from the iid units; the estimator: sampling.py; its
block designs: designs.py; the order profile: order_profile.py; heatmaps: heatmap.py):
    sample_order_interactions(v, n, pairs, orders, samples, seed, grouping="pair", coverage=4)
                                     (M, P) I^(m)(i, j); blocks of randomly relabelled balanced designs,
                                     one unit = a design per pair group; grouping "all" for per-pair maps
    block_design(players, size, coverage)   (K, players) the near-balanced incomplete block design of a unit
    sample_order_profile(v, n, pairs, orders, samples, seed, pair_count=None, contexts=None, max_se=None,
                         max_rows=None)
                                     (M,) mean over the pair set (bar chart); pair_count K: K pairs drawn
                                     from it (two-stage SE covering the draw); contexts c: at most c contexts
                                     per pair and unit (effort samples x c, the paper's 100); max_se: target
                                     precision by independent replicates within max_rows
    draw_pairs(pair_set, pair_count, seed), replicate_seed(seed, r), Estimate.combine(replicates)
    mean_square_over_pairs(pair_units)       (M,) unbiased mean over drawn pairs of I^(m)(i, j)², from
                                     sample_order_profile(..., keep_pair_units=True).info["pair_units"]
    sample_cell_heatmap(v, n, cell, orders, samples, seed, pool=False, estimator="auto")
                                     (M, n) I^(m)(cell, j), 0 at the cell; pool=True: mean over the orders;
                                     per order block stars or the contrast of gains v(S+cell) - v(S) between
                                     the sets that hold j and those that miss it (middle orders, "auto")
    sample_shapley(v, n, samples, seed)                             (n,) antithetic permutation sampling
    sample_disentanglement(v, n, pairs, orders, samples, seed)      DisentanglementEstimate (bias note inside)
    paper_order_interactions(v, n, pairs, orders, samples, seed)    the released protocol (baseline)
    paper_protocol(v, rows, cols, samples, seed, pair_count=200, estimator="mimi"|"paper")
                                     preset: random 8-neighbour pairs, ratio orders
Orders m = 0 and m = n-2 (and m = 1, n-3 with blocks of one player) are computed exactly (SE 0).
Units are iid: ``samples`` >= 2; with few units (< ~10) and skewed games, 2-SE intervals cover less than 95%.

Pairs and orders (grid cells row-major, cell (r, c) = r * cols + c):
    all_pairs(n), cell_pairs(cell, n), neighbor_pairs(rows, cols), sample_pairs(pairs, count, seed),
    paper_orders(n, ratios=PAPER_RATIOS)    m = int((n-2) r), r in {0.1, ..., 0.9, 0.95, 1}
"""

from mimi.core.games import DEFAULT_BATCH_ROWS, CountingGame
from mimi.core.pairs import (PAPER_RATIOS, RELEASED_RATIOS, all_pairs, cell_pairs, neighbor_pairs, paper_orders,
                             sample_pairs)
from mimi.interactions.designs import DEFAULT_COVERAGE, block_design
from mimi.interactions.disentanglement import (DisentanglementEstimate, disentanglement_from_units,
                                               sample_disentanglement)
from mimi.interactions.estimate import Estimate
from mimi.interactions.exact import (EXACT_LIMIT, ExactDecomposition, all_masks, efficiency_decomposition,
                                     exact_order_interactions, exact_shapley, exact_shapley_interaction, exact_values,
                                     interaction_weights, order_interactions_from_values, order_marginals_from_values,
                                     shapley_from_values)
from mimi.interactions.heatmap import CONTRAST_RATIOS, HEATMAP_ESTIMATORS, heatmap_estimator, sample_cell_heatmap
from mimi.interactions.order_profile import draw_pairs, mean_square_over_pairs, replicate_seed, sample_order_profile
from mimi.interactions.sampling import (GROUPINGS, pair_groups, paper_order_interactions, paper_protocol,
                                        sample_order_interactions)
from mimi.interactions.shapley import sample_shapley

__all__ = [
    "CONTRAST_RATIOS", "DEFAULT_BATCH_ROWS", "DEFAULT_COVERAGE", "EXACT_LIMIT", "GROUPINGS", "HEATMAP_ESTIMATORS",
    "PAPER_RATIOS", "RELEASED_RATIOS", "CountingGame",
    "DisentanglementEstimate", "Estimate", "ExactDecomposition", "all_masks", "all_pairs", "block_design",
    "cell_pairs", "disentanglement_from_units", "draw_pairs", "efficiency_decomposition", "exact_order_interactions",
    "exact_shapley", "exact_shapley_interaction", "exact_values", "heatmap_estimator", "interaction_weights",
    "mean_square_over_pairs", "neighbor_pairs",
    "order_interactions_from_values", "order_marginals_from_values", "pair_groups", "paper_order_interactions",
    "paper_orders", "paper_protocol", "replicate_seed", "sample_cell_heatmap", "sample_disentanglement", "sample_order_interactions",
    "sample_order_profile", "sample_pairs", "sample_shapley", "shapley_from_values",
]
