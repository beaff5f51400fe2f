"""The result types of the image API (one per computation, JSON round-trip); each docstring says what it
estimates."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from mimi.results import Result


@dataclass(kw_only=True)


class ImageResult(Result):
    """What every single-image engine result carries besides its values: the true, target and
    predicted classes (clean and adversarial), the cost (forward passes, mask rows, iid units,
    wall time) and the parameters it was computed with."""

    label: Optional[int]
    target: int
    prediction: int
    adv_prediction: Optional[int]
    forward_passes: int
    mask_rows: int
    units: int
    wall_time_s: float
    params: dict = field(default_factory=dict)


@dataclass
class InteractionProfile(ImageResult):
    """Mean I^(m) over a pair set per order, clean and adversarial (shared masks), and ΔJ^(m).

    ``clean_mean[k]`` estimates the mean over the whole pair set (``pair_set``: "neighbors", "all" or
    "custom", ``pair_set_size`` pairs) of I^(m_k)(i, j | x), with ``clean_se``; ``pairs`` are the pairs
    evaluated (all of the set, or ``pair_count`` drawn from it: ``se_covers`` says what the SEs cover);
    ``estimand`` says it in words. ``adv_*`` the same for x'; ``diff`` = clean - adversarial (SE from
    shared masks); ``delta_j`` = (n-1-m) 2|P|/(n(n-1)) ``diff`` with ``delta_j_se``: the attacking
    utility of order m when the pair set is all pairs, else the share of it that the set carries
    (``delta_j_estimand``; module docstring).
    ``replicates`` independent replicates are pooled (:func:`combine_profiles`); ``precision`` holds
    the target-precision outcome when ``max_se`` was given. ``v_full``/``v_empty`` are v(N)/v(∅) of the clean
    image, ``adv_v_full``/``adv_v_empty`` of the adversarial one; ``phi0_sum`` = Σ_i [v({i}) - v(∅)].
    ``attack_utility`` = v(N|x) - v(N|x') = ``attack_single`` + ``attack_pairwise`` (exact; the
    pairwise part is Σ over all orders of ΔJ^(m)). ``forward_passes`` counts images run through the
    model (mask rows x 2 with an adversarial image).
    """

    orders: np.ndarray
    ratios: np.ndarray
    pairs: np.ndarray
    n: int
    grid: str
    pair_set: str
    pair_set_size: int
    estimand: str
    delta_j_estimand: str
    se_covers: str
    replicates: int
    precision: Optional[dict]
    clean_mean: np.ndarray
    clean_se: np.ndarray
    adv_mean: Optional[np.ndarray]
    adv_se: Optional[np.ndarray]
    diff: Optional[np.ndarray]
    diff_se: Optional[np.ndarray]
    delta_j: Optional[np.ndarray]
    delta_j_se: Optional[np.ndarray]
    v_full: float
    v_empty: float
    phi0_sum: float
    adv_v_full: Optional[float]
    adv_v_empty: Optional[float]
    adv_phi0_sum: Optional[float]
    attack_utility: Optional[float]
    attack_single: Optional[float]
    attack_pairwise: Optional[float]
    probabilities: np.ndarray
    adv_probabilities: Optional[np.ndarray]


@dataclass
class PairHeatmap(ImageResult):
    """I^(m)(cell, j) for every cell j, averaged over ``orders`` ((rows, cols) maps; NaN at the cell).

    ``clean``/``adv``/``diff`` (= clean - adv, SE from shared masks) pool the orders (mean over
    them); ``*_by_order`` are (M, rows, cols) per order with ``*_by_order_se``.
    """

    cell: int
    cell_rc: tuple
    orders: np.ndarray
    ratios: np.ndarray
    n: int
    grid: str
    clean: np.ndarray
    clean_se: np.ndarray
    adv: Optional[np.ndarray]
    adv_se: Optional[np.ndarray]
    diff: Optional[np.ndarray]
    diff_se: Optional[np.ndarray]
    clean_by_order: np.ndarray
    clean_by_order_se: np.ndarray
    adv_by_order: Optional[np.ndarray]
    adv_by_order_se: Optional[np.ndarray]


@dataclass
class ShapleyMap(ImageResult):
    """Shapley value φ(i) of every cell as (rows, cols) with ``se``; ``adv_*``/``diff`` for x'.
    Each map sums to v(N) - v(∅) exactly (antithetic permutation sampling)."""

    values: np.ndarray
    se: np.ndarray
    adv_values: Optional[np.ndarray]
    adv_se: Optional[np.ndarray]
    diff: Optional[np.ndarray]
    diff_se: Optional[np.ndarray]
    n: int
    grid: str
    v_full: float
    v_empty: float
    adv_v_full: Optional[float]
    adv_v_empty: Optional[float]


@dataclass
class Disentanglement(Result):
    """D^(m) per order over the B images and the pair set P (``estimand`` says it in words):

        D^(m) = Σ_b Σ_{p in P} |I_b^(m)(p)| / Σ_b Σ_{p in P} E_S |Δv_b(p, S)|,   S ~ U_m(N \\ p).

    Every image has its own masks (and its own ``pair_count`` pairs drawn from P), so the images are
    independent replicates. ``d`` is bias-corrected when ``debiased`` (the default): numerator
    sqrt(max(Î² - SE², 0)) per pair and image, pooled as a ratio of sums; ``d_plugin`` is the released
    code's plug-in |Î| ratio, biased upward where interactions are near zero. ``d_se``: delete-one-image
    jackknife of the pooled ratio for B >= 2, else the delete-one-unit jackknife of the one image;
    ``se_covers`` says which ("images, pairs and contexts" / "contexts only (one image)").
    ``d_low``/``d_high``: the 95% band d ± t_{0.975, B-1} SE (normal quantile for B = 1), clipped to
    [0, 1], where D lies by construction (|E Δv| <= E |Δv|).
    ``trivial[k]``: order 0 or n-2, one context per pair, so D = 1 by construction (left out unless
    ``orders`` are given). ``per_image`` (B, M): D of each image (as ``d``) with its unit-jackknife
    ``per_image_se``; ``forward_passes`` = ``mask_rows``, summed over the images' games.
    ``strength`` (B, M): each image's numerator, the interaction strength mean over its pairs of |I^(m)(i, j)|
    (bias-corrected as ``d``), read by :func:`mimi.strength.order_strength`.
    """

    orders: np.ndarray
    ratios: np.ndarray
    n: int
    grid: str
    estimand: str
    debiased: bool
    trivial: np.ndarray
    d: np.ndarray
    d_se: np.ndarray
    d_low: np.ndarray
    d_high: np.ndarray
    se_covers: str
    d_plugin: np.ndarray
    per_image: np.ndarray
    per_image_se: np.ndarray
    labels: np.ndarray
    targets: np.ndarray
    predictions: np.ndarray
    pair_count: int
    forward_passes: int
    mask_rows: int
    units: int
    wall_time_s: float
    params: dict = field(default_factory=dict)
    strength: Optional[np.ndarray] = None


@dataclass
class Decomposition(Result):
    """Exact efficiency decomposition (n <= 16 cells, all 2^n coalitions):

        v(N) - v(∅) = Σ_i φ^(0)(i) + Σ_m order_totals[m] + residual,
        order_totals[m] = Σ_{i≠j} J^(m)(i, j),  J^(m) = (n-1-m)/(n(n-1)) I^(m),

    for the clean image, and with an adversarial image the same for x' plus ``delta_order_totals``
    = clean - adversarial (the exact attacking utility of each order) and ``attack_utility``
    = Δv(N) = Σ_i Δφ^(0)(i) + Σ_m delta_order_totals[m]. ``residual`` vanishes to float precision.
    ``phi0``/``shapley`` are (rows, cols) maps.
    """

    n: int
    grid: str
    orders: np.ndarray
    ratios: np.ndarray
    v_full: float
    v_empty: float
    total: float
    phi0: np.ndarray
    phi0_sum: float
    shapley: np.ndarray
    order_totals: np.ndarray
    pairwise_total: float
    residual: float
    adv_v_full: Optional[float]
    adv_v_empty: Optional[float]
    adv_total: Optional[float]
    adv_phi0_sum: Optional[float]
    adv_order_totals: Optional[np.ndarray]
    adv_residual: Optional[float]
    delta_order_totals: Optional[np.ndarray]
    attack_utility: Optional[float]
    attack_single: Optional[float]
    label: Optional[int]
    target: int
    prediction: int
    adv_prediction: Optional[int]
    forward_passes: int
    wall_time_s: float
    params: dict = field(default_factory=dict)

    def parts(self, bands: int = 3, adversarial: bool = False) -> list[tuple[str, float]]:
        """Waterfall parts of v(N) - v(∅): the single cells, then the orders in ``bands`` equal bands."""
        totals = self.adv_order_totals if adversarial else self.order_totals
        single = self.adv_phi0_sum if adversarial else self.phi0_sum
        if totals is None:
            raise ValueError("no adversarial image in this decomposition")
        parts = [("single cells Σφ⁽⁰⁾", float(single))]
        for band in np.array_split(np.arange(len(totals)), max(1, min(bands, len(totals)))):
            parts.append((f"orders m={band[0]}–{band[-1]}", float(np.sum(totals[band]))))
        return parts


@dataclass
class ImageReport(Result):
    """What ``mimi analyze`` writes: the prediction, the attack (if any), the order profile
    (clean, adversarial, ΔJ) and the Shapley map, with standard errors."""

    model: str
    source: str
    label: Optional[int]
    target: int
    classes: Optional[list]
    prediction: int
    probabilities: np.ndarray
    image: np.ndarray
    profile: InteractionProfile
    shapley: Optional[ShapleyMap]
    attack: Optional[Result]
    forward_passes: int
    wall_time_s: float
    params: dict = field(default_factory=dict)

    def summary(self) -> str:
        """A few human-readable lines for the terminal."""
        name = (lambda c: self.classes[c] if self.classes and 0 <= c < len(self.classes) else str(c))
        p = self.profile
        lines = [f"{self.model} on {self.source}: predicted {name(self.prediction)} "
                 f"(p = {self.probabilities[self.prediction]:.3f}); label {'?' if self.label is None else name(self.label)}; "
                 f"value of {name(self.target)}: v(N) = {p.v_full:.3f}, v(∅) = {p.v_empty:.3f}"]
        if p.adv_mean is not None:
            lines.append(f"attack: predicted {name(p.adv_prediction)}; attacking utility v(N|x) - v(N|x') = "
                         f"{p.attack_utility:.3f} (single cells {p.attack_single:.3f}, pairs {p.attack_pairwise:.3f})")
        lines.append(f"profile: {p.estimand}; SEs cover {p.se_covers}")
        if p.adv_mean is not None:
            lines.append(f"ΔJ column: {p.delta_j_estimand}")
        if p.precision and not p.precision["reached"]:
            lines.append(f"target precision not reached: {p.precision['message']}")
        header = f"{'ratio':>6} {'m':>3} {'I clean':>17}" + (f" {'I adversarial':>17} {'ΔJ':>17}" if p.adv_mean is not None else "")
        lines.append(header)
        for k, (r, m) in enumerate(zip(p.ratios, p.orders)):
            row = f"{r:6.2f} {m:3d} {p.clean_mean[k]:9.4f} ± {p.clean_se[k]:.4f}"
            if p.adv_mean is not None:
                row += f" {p.adv_mean[k]:9.4f} ± {p.adv_se[k]:.4f} {p.delta_j[k]:9.4f} ± {p.delta_j_se[k]:.4f}"
            lines.append(row)
        lines.append(f"{self.forward_passes:,} forward passes in {self.wall_time_s:.1f} s")
        return "\n".join(lines)
