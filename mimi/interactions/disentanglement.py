"""Disentanglement D^(m) (docs/science.md §6.4 and §7.7, as in the released code), with standard errors and a bias note.

Over pairs p of a pair set (and over the G games, e.g. images, for the pooled value):

    D^(m) = mean_p |E_S Δv(p, S)| / mean_p E_S |Δv(p, S)|,   S ~ U_m(N \\ p).

Estimator: the denominator's E_S|Δv| is estimated without bias by the average |Δv| over a pair's
sampled contexts. The numerator's plug-in |Î_p| (what the released code computes) is biased upward:
E|Î_p| >= |I_p|, by up to about 0.8·SE(Î_p) when I_p ≈ 0, so D is overestimated most where it is small.
``numerator_debiased`` uses sqrt(max(Î_p² - SE_p², 0)): Î_p² - SE_p² is unbiased for I_p², the
square root and the clipping leave a smaller bias. Ratios are ratio estimators (bias O(1/units)).
Standard errors are delete-one-unit jackknife SEs over the iid units, which propagates the
correlation between pairs and games sharing masks; a replicate of the debiased ratio corrects with
the full sample's unit variance s² (SE² = s²/(units - 1)), so it is defined for 2 units too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mimi.core.games import DEFAULT_BATCH_ROWS, Game
from mimi.core.results import Result
from mimi.core.stats import jackknife_se
from mimi.interactions.designs import DEFAULT_COVERAGE
from mimi.interactions.sampling import _order_interaction_units, paper_order_interactions


@dataclass
class DisentanglementEstimate(Result):
    """Per order (axis 0) and game (last axis, always present here: G = 1 for a 1-D game).

    ``d[m, g]`` = numerator / denominator of game g; ``d_pooled[m]`` pools pairs and games (the
    paper's average over images); ``*_debiased`` use the bias-reduced numerator; ``*_se`` are
    jackknife SEs over units."""

    orders: np.ndarray
    numerator: np.ndarray
    numerator_debiased: np.ndarray
    denominator: np.ndarray
    d: np.ndarray
    d_se: np.ndarray
    d_debiased: np.ndarray
    d_debiased_se: np.ndarray
    d_pooled: np.ndarray
    d_pooled_se: np.ndarray
    d_pooled_debiased: np.ndarray
    d_pooled_debiased_se: np.ndarray
    mask_rows: int
    units: int
    estimator: str


def _terms(delta_units: np.ndarray, abs_units: np.ndarray, unit_variance: np.ndarray):
    """Per pair from (K, M, P, G) units: |Î|, sqrt(max(Î² - s²/K, 0)) with s² = ``unit_variance``, and Ê|Δ|."""
    mean = delta_units.mean(axis=0)
    debiased = np.sqrt(np.maximum(mean ** 2 - unit_variance / delta_units.shape[0], 0.0))
    return np.abs(mean), debiased, abs_units.mean(axis=0)


def _ratios(delta_units: np.ndarray, abs_units: np.ndarray, unit_variance: np.ndarray):
    """D per game (M, G) and pooled over games (M,), plug-in and debiased: (d, d_debiased, pooled, pooled_debiased)."""
    plug, debiased, total = (term.mean(axis=1) for term in _terms(delta_units, abs_units, unit_variance))
    pooled_total = total.mean(axis=-1)
    return plug / total, debiased / total, plug.mean(axis=-1) / pooled_total, debiased.mean(axis=-1) / pooled_total


def disentanglement_from_units(delta_units: np.ndarray, abs_units: np.ndarray, orders, mask_rows: int,
                               estimator: str) -> DisentanglementEstimate:
    """D^(m) from per-unit pair means of Δv and |Δv|, both (units, M, P, G); SEs by delete-one-unit jackknife:
    SE² = (K-1)/K Σ_k (D_(-k) - mean_k D_(-k))²."""
    units = delta_units.shape[0]
    unit_variance = delta_units.var(axis=0, ddof=1)
    plug, debiased, total = (term.mean(axis=1) for term in _terms(delta_units, abs_units, unit_variance))
    d, d_debiased, d_pooled, d_pooled_debiased = _ratios(delta_units, abs_units, unit_variance)
    replicates = [_ratios(np.delete(delta_units, k, axis=0), np.delete(abs_units, k, axis=0), unit_variance)
                  for k in range(units)]
    d_se, debiased_se, pooled_se, pooled_debiased_se = (jackknife_se(np.stack(column))
                                                        for column in zip(*replicates))
    return DisentanglementEstimate(
        np.asarray(orders), plug, debiased, total, d, d_se, d_debiased, debiased_se, d_pooled, pooled_se,
        d_pooled_debiased, pooled_debiased_se, int(mask_rows), units, estimator)


def sample_disentanglement(v: Game, n: int, pairs, orders, samples: int = 32, seed: int = 0, *,
                           estimator: str = "mimi", grouping="all", coverage: int = DEFAULT_COVERAGE,
                           contexts: int | None = None,
                           batch_rows: int = DEFAULT_BATCH_ROWS) -> DisentanglementEstimate:
    """D^(m) per order and game by mimi's block-star design (``estimator="mimi"``; ``samples`` iid units
    per pair and order, each of at most ``contexts`` contexts, None: a whole design) or by the released
    protocol (``"paper"``: ``samples`` contexts per pair and order, the same S for the four terms)."""
    if estimator == "mimi":
        game, deltas, abs_deltas, info = _order_interaction_units(v, n, pairs, orders, samples, seed,
                                                                  grouping, batch_rows, coverage,
                                                                  contexts=contexts)
        return disentanglement_from_units(deltas, abs_deltas, info["orders"], game.mask_rows, "mimi")
    if estimator == "paper":
        est = paper_order_interactions(v, n, pairs, orders, samples, seed, batch_rows=batch_rows)
        units = est.unit_values if est.unit_values.ndim == 4 else est.unit_values[..., None]
        return disentanglement_from_units(units, np.abs(units), est.info["orders"], est.mask_rows, "paper")
    raise ValueError(f"unknown estimator {estimator!r}; choose mimi or paper")
