"""The statistics of a study report: intervals across images and the verdict of a claim.

Images are independent replicates (each has its own PGD start, pairs and contexts), so a per-image
quantity Q_b is summarised over B images by its mean with a Student-t interval,

    mean ± t_{1-α/2, B-1} · sd_b(Q_b) / sqrt(B),

and a ratio of sums over images (D^(m)) by the delete-one-image jackknife,

    SE² = (B-1)/B Σ_b (R_(-b) - mean_b R_(-b))²,   interval R ± t_{1-α/2, B-1} · SE.

The t quantile and the jackknife themselves are :mod:`mimi.core.stats`'s; this module holds the intervals, the
verdicts and the power rule built on them.

A claim is checked by k comparisons (one per model, or per standard/AT pair); each interval is taken
at the Bonferroni level 1 - α/k, so that the claim's verdict errs with probability at most α.

An undecided comparison says how many images would give it 80% power at the effect observed: the smallest
B with Φ(√B |d| / s - t_{q, B-1}) >= 0.8, q = 1 - α/(2k), d the effect and s its per-image standard
deviation (the normal approximation of the noncentral t; a simulation test checks it).
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np

from mimi.core.stats import t_quantile

VERDICTS = ("holds", "does not hold", "undecided")


def half_width(se, count: int, confidence: float = 0.95) -> np.ndarray:
    """t_{(1+confidence)/2, count-1} · se; NaN for fewer than 2 images."""
    if count < 2:
        return np.full(np.shape(se), np.nan)
    return t_quantile((1 + confidence) / 2, count - 1) * np.asarray(se, dtype=np.float64)


def verdict(low: float, high: float) -> str:
    """An effect claimed to be > 0: its interval above 0 "holds", below 0 "does not hold", else (or
    NaN) "undecided"."""
    if np.isfinite(low) and low > 0:
        return "holds"
    if np.isfinite(high) and high < 0:
        return "does not hold"
    return "undecided"


def claim_verdict(verdicts: list[str]) -> str:
    """A claim checked by several comparisons: "holds" when every one holds, "does not hold" when any one
    is against it, else (or with no comparison) "undecided"."""
    if verdicts and all(v == "holds" for v in verdicts):
        return "holds"
    if "does not hold" in verdicts:
        return "does not hold"
    return "undecided"


def images_for_power(effect: float, sd: float, level: float, power: float = 0.8, limit: int = 1_000_000) -> int:
    """The fewest images B >= 2 whose interval at ``level`` (two-sided, t with B - 1 df) excludes 0 with
    probability ``power`` when the true effect is ``effect`` and one image's value has standard deviation ``sd``:
    Φ(√B |effect| / sd - t_{(1+level)/2, B-1}) >= power. ``limit`` when even that many would not do (or the
    effect is 0 or not finite)."""
    if not (np.isfinite(effect) and np.isfinite(sd)) or effect == 0 or sd <= 0:
        return limit
    quantile = (1 + level) / 2
    ratio = abs(effect) / sd

    def enough(count: int) -> bool:
        return NormalDist().cdf(math.sqrt(count) * ratio - t_quantile(quantile, count - 1)) >= power

    high = 2
    while not enough(high):
        if high >= limit:
            return limit
        high = min(limit, high * 2)
    low = max(2, high // 2)
    while low < high:   # the smallest count that is enough
        middle = (low + high) // 2
        if enough(middle):
            high = middle
        else:
            low = middle + 1
    return high
