"""The result types of the image API (one per computation, JSON round-trip); each docstring says what it
estimates."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, ClassVar, Optional, Sequence

import numpy as np

from mimi.core.results import Result


@dataclass(frozen=True)
class Estimated(Result):
    """An estimate ``mean`` (an array of any shape) with its standard error ``se`` (same shape): what a result
    keeps of an engine :class:`mimi.interactions.Estimate`."""

    mean: np.ndarray
    se: np.ndarray

    def scaled(self, factor) -> "Estimated":
        """factor · the estimate (a number or one per entry): mean x factor, SE x |factor|."""
        return Estimated(factor * self.mean, np.abs(factor) * self.se)


@dataclass(frozen=True)
class Contrast(Result):
    """One quantity on the clean image x and its adversarial version x': ``clean``, ``adversarial`` and
    ``difference`` = clean − adversarial, whose SE accounts for the two being estimated together (on shared
    masks within an image). ``adversarial`` and ``difference`` are None without x'."""

    SIDES: ClassVar[tuple[str, ...]] = ("clean", "adversarial", "difference")

    clean: Estimated
    adversarial: Optional[Estimated] = None
    difference: Optional[Estimated] = None

    @classmethod
    def merge(cls, contrasts: Sequence["Contrast"], merge: Callable[[list[Estimated]], Estimated]) -> "Contrast":
        """One contrast from several of the same quantity, side by side: ``merge`` of each side's estimates
        (a side absent from the first stays absent)."""
        return cls(**{side: None if getattr(contrasts[0], side) is None
                      else merge([getattr(c, side) for c in contrasts]) for side in cls.SIDES})


@dataclass(frozen=True)
class ImageValues(Result):
    """Exact values of one image (x or x'): its game's v(N) ``v_full`` and v(∅) ``v_empty``, ``phi0_sum`` =
    Σ_i [v({i}) − v(∅)], and the model's class ``probabilities`` (the last two None where a result does
    not keep them)."""

    v_full: float
    v_empty: float
    phi0_sum: Optional[float] = None
    probabilities: Optional[np.ndarray] = None


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
class OrderProfile(Result):
    """An order profile, of one image (:class:`InteractionProfile`) or averaged over gallery images
    (:class:`mimi.batch.population.GalleryProfile`), per order m_k (``orders``; ``ratios`` = m/(n-2)) on the
    ``grid`` of ``n`` cells.

    ``interaction`` (:class:`Contrast`): the mean interaction Ī^(m) over the whole pair set (``pair_set``:
    "neighbors", "all" or "custom", ``pair_set_size`` pairs; ``estimand`` says it in words) on x, on x' and
    their difference clean − adversarial. ``utility_by_order``: ΔJ^(m), the attacking utility of order m
    when the pair set is all pairs, else the share of it that the set carries (``delta_j_estimand``); None
    without x'. ``se_covers`` says what every SE covers.
    """

    orders: np.ndarray
    ratios: np.ndarray
    n: int
    grid: str
    pair_set: str
    pair_set_size: int
    estimand: str
    delta_j_estimand: str
    se_covers: str
    interaction: Contrast
    utility_by_order: Optional[Estimated]

    def estimates(self) -> dict[str, Optional[Estimated]]:
        """Every per-order estimate by its path: the sides of ``interaction``, then ``utility_by_order``."""
        return {**{f"interaction.{side}": getattr(self.interaction, side) for side in Contrast.SIDES},
                "utility_by_order": self.utility_by_order}


@dataclass
class InteractionProfile(ImageResult, OrderProfile):
    """The order profile of one image (:class:`OrderProfile`): clean and adversarial on shared masks.

    ``interaction.clean.mean[k]`` estimates the mean over the whole pair set of I^(m_k)(i, j | x);
    ``pairs`` are the pairs evaluated (all of the set, or ``pair_count`` drawn from it: ``se_covers`` says
    what the SEs cover); ``interaction.adversarial`` the same for x', ``interaction.difference`` = clean −
    adversarial (SE from shared masks); ``utility_by_order`` = (n-1-m) 2|P|/(n(n-1)) ``interaction.difference``
    (module docstring). ``replicates`` independent replicates are pooled (:func:`combine_profiles`);
    ``precision`` holds the target-precision outcome when ``max_se`` was given. ``clean_image`` holds v(N),
    v(∅), ``phi0_sum`` = Σ_i [v({i}) - v(∅)] and the class probabilities of x, ``adversarial_image`` those of
    x' (None without x'). ``attack_utility`` = v(N|x) - v(N|x') = ``attack_single`` + ``attack_pairwise``
    (exact; the pairwise part is Σ over all orders of ΔJ^(m)). ``forward_passes`` counts images run through
    the model (mask rows x 2 with an adversarial image). ``squared_change`` (with x' and at least 2 units per
    pair): per order, the mean over the pairs drawn of [I^(m)(i, j | x) - I^(m)(i, j | x')]², unbiased
    (:func:`mimi.interactions.mean_square_over_pairs`), a size of the change that opposite signs cannot cancel.
    ``order_replicates`` (pooled rounds that covered only some orders): the replicates pooled at each order.
    """

    pairs: np.ndarray
    replicates: int
    precision: Optional[dict]
    clean_image: ImageValues
    adversarial_image: Optional[ImageValues]
    attack_utility: Optional[float]
    attack_single: Optional[float]
    attack_pairwise: Optional[float]
    squared_change: Optional[Estimated] = None
    order_replicates: Optional[np.ndarray] = None


@dataclass
class PairHeatmap(ImageResult):
    """I^(m)(cell, j) for every cell j as (rows, cols) maps (NaN at the cell), clean and adversarial on shared
    masks (:class:`Contrast`): ``pooled`` averages over ``orders`` (mean over them); ``by_order`` are
    (M, rows, cols), one map per order.
    """

    cell: int
    cell_rc: tuple
    orders: np.ndarray
    ratios: np.ndarray
    n: int
    grid: str
    pooled: Contrast
    by_order: Contrast


@dataclass
class ShapleyMap(ImageResult):
    """Shapley value φ(i) of every cell as (rows, cols) maps with SEs (:class:`Contrast`): ``phi.clean`` for x,
    ``phi.adversarial`` for x' and ``phi.difference`` (shared permutations). Each map sums to v(N) - v(∅) of
    its image exactly (antithetic permutation sampling); ``clean_image``/``adversarial_image`` hold those v."""

    phi: Contrast
    n: int
    grid: str
    clean_image: ImageValues
    adversarial_image: Optional[ImageValues]


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
    (bias-corrected as ``d``), read by :func:`mimi.defenses.strength.order_strength`.
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
        clean, adversarial, delta_j = p.interaction.clean, p.interaction.adversarial, p.utility_by_order
        lines = [f"{self.model} on {self.source}: predicted {name(self.prediction)} "
                 f"(p = {self.probabilities[self.prediction]:.3f}); label {'?' if self.label is None else name(self.label)}; "
                 f"value of {name(self.target)}: v(N) = {p.clean_image.v_full:.3f}, "
                 f"v(∅) = {p.clean_image.v_empty:.3f}"]
        if adversarial is not None:
            lines.append(f"attack: predicted {name(p.adv_prediction)}; attacking utility v(N|x) - v(N|x') = "
                         f"{p.attack_utility:.3f}" + ("" if p.attack_single is None else
                                                      f" (single cells {p.attack_single:.3f}, pairs {p.attack_pairwise:.3f})"))
        stop = None if self.attack is None else self.attack.params.get("stop_utility")
        if stop is not None:
            a, landed = self.attack.params, bool(self.attack.success[0])
            lines.append(f"equal strength ({a['stop_rule']} rule): drop {float(self.attack.stop_drop[0]):.3f} after "
                         f"{int(self.attack.steps_used[0])} gradient steps, {'landed' if landed else 'did NOT land'} in "
                         f"[{stop:g}, {stop + a['tolerance']:g}]" + ("" if landed else ": not an equal-strength result"))
        lines.append(f"profile: {p.estimand}; SEs cover {p.se_covers}")
        if adversarial is not None:
            lines.append(f"ΔJ column: {p.delta_j_estimand}")
        if p.precision and "max_seconds" in p.precision:
            lines.append(f"time budget: {p.precision['message']}")
        elif p.precision and not p.precision["reached"]:
            lines.append(f"target precision not reached: {p.precision['message']}")
        lines.append(f"{'ratio':>6} {'m':>3} {'I clean':>17}"
                     + (f" {'I adversarial':>17} {'ΔJ':>17}" if adversarial is not None else ""))
        for k, (r, m) in enumerate(zip(p.ratios, p.orders)):
            row = f"{r:6.2f} {m:3d} {clean.mean[k]:9.4f} ± {clean.se[k]:.4f}"
            if adversarial is not None:
                row += (f" {adversarial.mean[k]:9.4f} ± {adversarial.se[k]:.4f} "
                        f"{delta_j.mean[k]:9.4f} ± {delta_j.se[k]:.4f}")
            lines.append(row)
        budget = self.params.get("max_seconds")
        lines.append(f"{self.forward_passes:,} forward passes in {self.wall_time_s:.1f} s"
                     + ("" if budget is None else f" (time budget {budget:g} s)"))
        return "\n".join(lines)
