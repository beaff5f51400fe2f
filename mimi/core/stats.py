"""The statistics every part of mimi shares: Student's t and the delete-one jackknife (one copy each).

- :func:`t_quantile` (and :func:`t95`, its 0.975 quantile): the half-width of a t interval in SEs, by bisection on
  the exact central probability :func:`t_cdf_central`. :data:`Z95` is the normal 0.975 quantile.
- :func:`jackknife_se`: the delete-one SE from the B replicates R_(-b) of a statistic,
  SE² = (B-1)/B Σ_b (R_(-b) - mean_b R_(-b))²;
  :func:`ratio_jackknife_se` its replicates for a ratio of sums R = Σ_b num_b / Σ_b den_b.

Users: D^(m) over images (:func:`mimi.analysis.disentanglement`, :class:`mimi.batch.study.summaries.PooledDisentanglement`)
and within one image over units (:mod:`mimi.interactions.disentanglement`), the interaction strength's shares
(:mod:`mimi.defenses.strength`), the study's intervals and claims (:mod:`mimi.batch.study.stats`, :mod:`mimi.batch.study.claims`).
Only the standard library and numpy: any module may import it.
"""

from __future__ import annotations

import math

import numpy as np

#: The 0.975 quantile of the standard normal: the half-width of a 95% normal interval in SEs.
Z95 = 1.959963984540054


def t_cdf_central(t: float, df: int) -> float:
    """P(|T| <= t) for Student's t with integer ``df`` >= 1 (Abramowitz & Stegun 26.7.3-4, exact):
    θ = atan(t/√df); odd df: (2/π)(θ + sinθ Σ_{k} a_k cos^{2k+1}θ), a_0 = 1, a_k = a_{k-1}·2k/(2k+1),
    k < (df-1)/2; even df: sinθ Σ_k b_k cos^{2k}θ, b_0 = 1, b_k = b_{k-1}(2k-1)/(2k), k < df/2."""
    theta = math.atan(abs(t) / math.sqrt(df))
    sin, cos = math.sin(theta), math.cos(theta)
    if df % 2:
        term, total = cos, 0.0
        for k in range((df - 1) // 2):
            total += term
            term *= cos * cos * (2 * k + 2) / (2 * k + 3)
        return min(1.0, 2 / math.pi * (theta + sin * total))
    term, total = 1.0, 0.0
    for k in range(df // 2):
        total += term
        term *= cos * cos * (2 * k + 1) / (2 * k + 2)
    return min(1.0, sin * total)


def t_quantile(probability: float, df: int) -> float:
    """The ``probability`` quantile t_{p, df} (p in (0.5, 1)) of Student's t with ``df`` >= 1: the half-width of a
    two-sided interval of level 2p - 1 in SEs, the t with P(|T| <= t) = 2p - 1 (:func:`t_cdf_central`), found by
    bisection to a relative 1e-12."""
    if not 0.5 < probability < 1:
        raise ValueError(f"a t quantile needs a probability in (0.5, 1), got {probability}")
    if df < 1:
        raise ValueError(f"a t quantile needs df >= 1, got {df}")
    central = 2 * probability - 1
    low, high = 0.0, 1.0
    while t_cdf_central(high, df) < central:
        high *= 2
    for _ in range(200):
        middle = (low + high) / 2
        if t_cdf_central(middle, df) < central:
            low = middle
        else:
            high = middle
        if high - low < 1e-12 * max(1.0, high):
            break
    return (low + high) / 2


def t95(df: int) -> float:
    """t_{0.975, df} = :func:`t_quantile` (0.975, df): the half-width of a 95% t interval in SEs (df >= 1)."""
    return t_quantile(0.975, df)


def jackknife_se(replicates: np.ndarray) -> np.ndarray:
    """Delete-one SE from the (B, ...) replicates R_(-b) (the statistic without unit b):
    SE = sqrt((B-1)/B Σ_b (R_(-b) - mean_b R_(-b))²), per entry of the trailing axes."""
    count = len(replicates)
    return np.sqrt((count - 1) / count * ((replicates - replicates.mean(axis=0)) ** 2).sum(axis=0))


def ratio_jackknife_se(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """Delete-one SE (:func:`jackknife_se`) of R = Σ_b num_b / Σ_b den_b from (B, ...) arrays, with replicates
    R_(-b) = (Σ num - num_b) / (Σ den - den_b)."""
    replicates = (numerator.sum(axis=0) - numerator) / (denominator.sum(axis=0) - denominator)
    return jackknife_se(replicates)
