"""Disentanglement D^(m) (PAPER.md, as in the released code), with standard errors and a bias note.

Over pairs p of a pair set (and over the G games, e.g. images, for the pooled value):

    D^(m) = mean_p |E_S Δv(p, S)| / mean_p E_S |Δv(p, S)|,   S ~ U_m(N \\ p).

Estimator: the denominator's E_S|Δv| is estimated without bias by the average |Δv| over a pair's
sampled contexts. The numerator's plug-in |Î_p| (what the released code computes) is biased upward:
E|Î_p| >= |I_p|, by up to about 0.8·SE(Î_p) when I_p ≈ 0, so D is overestimated most where it is small.
``numerator_debiased`` uses sqrt(max(Î_p² - SE_p², 0)): Î_p² - SE_p² is unbiased for I_p², the
square root and the clipping leave a smaller bias. Ratios are ratio estimators (bias O(1/units)).
Standard errors are delete-one-unit jackknife SEs over the iid units, which propagates the
correlation between pairs and games sharing masks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mimi.interactions.game import DEFAULT_BATCH_ROWS, Game
from mimi.interactions.sampling import DEFAULT_COVERAGE, _order_interaction_units, paper_order_interactions
from mimi.results import Result


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
    d_pooled: np.ndarray
    d_pooled_se: np.ndarray
    d_pooled_debiased: np.ndarray
    forward_passes: int
    units: int
    estimator: str


def _terms(delta_units: np.ndarray, abs_units: np.ndarray):
    """Numerator terms per pair from (K, M, P, G) units: |Î|, sqrt(max(Î² - SE², 0)), and Ê|Δ|."""
    units = delta_units.shape[0]
    mean = delta_units.mean(axis=0)
    var_mean = delta_units.var(axis=0, ddof=1) / units
    return np.abs(mean), np.sqrt(np.maximum(mean ** 2 - var_mean, 0.0)), abs_units.mean(axis=0)


def _ratios(delta_units: np.ndarray, abs_units: np.ndarray):
    """(d per game (M, G), d pooled (M,)) from plug-in numerators."""
    mean, total = delta_units.mean(axis=0), abs_units.mean(axis=0)
    numerator, denominator = np.abs(mean).mean(axis=1), total.mean(axis=1)
    return numerator / denominator, numerator.mean(axis=-1) / denominator.mean(axis=-1)


def disentanglement_from_units(delta_units: np.ndarray, abs_units: np.ndarray, orders, forward_passes: int,
                               estimator: str) -> DisentanglementEstimate:
    """D^(m) from per-unit pair means of Δv and |Δv|, both (units, M, P, G)."""
    units = delta_units.shape[0]
    plug, debiased, total = _terms(delta_units, abs_units)
    numerator, numerator_debiased, denominator = plug.mean(axis=1), debiased.mean(axis=1), total.mean(axis=1)
    d, d_pooled = _ratios(delta_units, abs_units)
    sums_delta, sums_abs = delta_units.sum(axis=0), abs_units.sum(axis=0)
    leave_out = [_ratios(((sums_delta - delta_units[k]) / (units - 1))[None],
                         ((sums_abs - abs_units[k]) / (units - 1))[None]) for k in range(units)]
    jack_d = np.stack([x[0] for x in leave_out])
    jack_pooled = np.stack([x[1] for x in leave_out])
    factor = (units - 1) / units
    d_se = np.sqrt(factor * ((jack_d - jack_d.mean(axis=0)) ** 2).sum(axis=0))
    pooled_se = np.sqrt(factor * ((jack_pooled - jack_pooled.mean(axis=0)) ** 2).sum(axis=0))
    return DisentanglementEstimate(
        np.asarray(orders), numerator, numerator_debiased, denominator, d, d_se,
        numerator_debiased / denominator, d_pooled, pooled_se,
        numerator_debiased.mean(axis=-1) / denominator.mean(axis=-1), int(forward_passes), units, estimator)


def sample_disentanglement(v: Game, n: int, pairs, orders, samples: int = 32, seed: int = 0, *,
                           estimator: str = "mimi", grouping="all", coverage: int = DEFAULT_COVERAGE,
                           batch_rows: int = DEFAULT_BATCH_ROWS) -> DisentanglementEstimate:
    """D^(m) per order and game by mimi's block-star design (``estimator="mimi"``) or by the released
    protocol (``"paper"``: ``samples`` contexts per pair and order, the same S for the four terms)."""
    if estimator == "mimi":
        game, deltas, abs_deltas, info = _order_interaction_units(v, n, pairs, orders, samples, seed,
                                                                  grouping, batch_rows, coverage)
        return disentanglement_from_units(deltas, abs_deltas, info["orders"], game.forward_passes, "mimi")
    if estimator == "paper":
        est = paper_order_interactions(v, n, pairs, orders, samples, seed, batch_rows=batch_rows)
        units = est.unit_values if est.unit_values.ndim == 4 else est.unit_values[..., None]
        return disentanglement_from_units(units, np.abs(units), est.info["orders"], est.forward_passes, "paper")
    raise ValueError(f"unknown estimator {estimator!r}; choose mimi or paper")
