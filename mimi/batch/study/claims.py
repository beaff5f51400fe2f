"""The paper's three claims (docs/science.md §11) as registered before the study ran (:data:`PREREGISTERED`), tested
on the per-model summaries (:mod:`mimi.batch.study.summaries`): each comparison's effect with a Bonferroni-adjusted
t interval (a ratio over images: the delete-one-image jackknife, :mod:`mimi.core.stats`), its verdict, the images
80% power would need when undecided, and the claim's verdict from its primary comparisons
(:mod:`mimi.batch.study.stats`). Order bands: low r < 1/3, high r ≥ 2/3 (:data:`mimi.defenses.strength.BANDS`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from mimi.batch.study.stats import claim_verdict, half_width, images_for_power, verdict
from mimi.batch.study.summaries import CONFIDENCE, AcrossImages
from mimi.core.results import Result
from mimi.core.stats import jackknife_se
from mimi.defenses.strength import band_mask

STATEMENTS = {
    "a": "Attacks mainly affect high-order interactions.",
    "b": "In adversarially trained (AT) models, the attacking utility of high-order interactions is much smaller.",
    "c": "AT models learn more disentangled (category-specific) low-order interactions.",
}
#: Each claim's primary test, fixed before the study ran: its statistic, unit, bands, comparisons and the
#: multiple-comparison rule. The verdict comes from these rows only.
PREREGISTERED = {
    "a": ("Statistic: per image, S_high − S_low, where S⁽ᵐ⁾ is the mean over the pairs drawn of the squared change "
          "[I⁽ᵐ⁾(i, j | x) − I⁽ᵐ⁾(i, j | x')]², estimated without bias from the product of two independent units per "
          "pair (opposite signs cannot cancel), and S_band its mean over the band's orders (low r < 1/3, high "
          "r ≥ 2/3). Unit: the image, then its mean across images. Decided for the normally trained models "
          "(standard, Cutout, dropout), one comparison each; the AT models are reported beside. Claimed > 0."),
    "b": ("Statistic: per image, ΔJ_high(standard) − ΔJ_high(AT), where ΔJ_high is ΔJ⁽ᵐ⁾ (summed over all ordered "
          "pairs of cells) averaged over the study's high orders (r ≥ 2/3), paired over the images where both "
          "attacks landed at equal strength. Unit: the image, then its mean across those images. One comparison "
          "per (standard, AT) pair of models. Claimed > 0. The relative size (÷ the standard model's mean) and the "
          "share of the utility Δv(N) that the high orders carry (H × ΔJ_high / Δv(N), H the orders in the high "
          "band, pooled over images) are reported beside."),
    "c": ("Statistic: D⁽ᵐ⁾(AT) − D⁽ᵐ⁾(standard) averaged over the low orders (r < 1/3), each D⁽ᵐ⁾ pooled over the "
          "images where both attacks landed (bias-corrected numerators); delete-one-image jackknife SE. One "
          "comparison per (standard, AT) pair of models. Claimed > 0."),
}
POWER = 0.8


def verdict_rule(confidence: float = CONFIDENCE) -> str:
    """How the verdicts are computed, in words."""
    return (f"Each comparison's interval is a Student-t interval across images at the Bonferroni level "
            f"1 − {1 - confidence:.2g}/k, k the claim's primary comparisons (so that all k hold together at "
            f"{confidence:.0%}). A comparison holds when its interval lies above 0, does not hold when it lies below "
            f"0, and is undecided otherwise; an undecided one says how many images would give it {POWER:.0%} power "
            f"at the effect observed. A claim holds when all its primary comparisons hold, does not hold when any "
            f"one does not hold, and is undecided otherwise, or when the study has nothing to compare for it. Rows "
            f"marked 'beside' are shown at the same level and decide nothing.")


@dataclass
class Comparison(Result):
    """One check of a claim: its ``effect`` (claimed > 0) over ``count`` images with ``se`` and the interval
    ``ci_low`` .. ``ci_high`` at ``confidence`` (Bonferroni-adjusted), ``relative`` effect (None when not
    defined), ``per_image`` values (None for a ratio over images) and the ``verdict``. ``primary``: a row of the
    claim's registered test (else shown beside it, deciding nothing); ``images_needed``: for an undecided row, the
    images that would give it 80% power at the effect observed."""

    label: str
    models: list
    count: int
    images: list
    effect: float
    se: float
    ci_low: float
    ci_high: float
    confidence: float
    verdict: str
    relative: Optional[float] = None
    per_image: Optional[np.ndarray] = None
    primary: bool = True
    statistic: str = ""
    images_needed: Optional[int] = None


@dataclass
class Claim(Result):
    """A claim of docs/science.md §11: ``statement``, its registered test (``definition``), the ``rule``, its
    ``comparisons`` (primary rows first) and its ``verdict`` (from the primary rows); ``note`` says why it could
    not be decided or what to keep in mind."""

    key: str
    statement: str
    definition: str
    rule: str
    comparisons: list
    verdict: str
    note: str = ""

    @property
    def primary(self) -> list:
        return [c for c in self.comparisons if c.primary]


def _band_means(values: np.ndarray, ratios: np.ndarray, band: str) -> np.ndarray:
    """Per image (rows), the mean of ``values`` over the orders of ``band`` (NaN when it has none)."""
    mask = band_mask(ratios, band)
    return np.asarray(values)[:, mask].mean(axis=1) if mask.any() else np.full(len(values), np.nan)


def _high_minus_low(values: np.ndarray, ratios: np.ndarray) -> np.ndarray:
    return _band_means(values, ratios, "high") - _band_means(values, ratios, "low")


def _with_power(comparison: Comparison, sd: float) -> Comparison:
    """An undecided comparison gets the images that 80% power would need at its effect (sd: one image's)."""
    if comparison.verdict == "undecided" and comparison.count >= 2:
        comparison.images_needed = images_for_power(comparison.effect, sd, comparison.confidence, POWER)
    return comparison


def _comparison(label: str, models: list, images: list, effects: np.ndarray, level: float, statistic: str,
                relative_to: Optional[float] = None, primary: bool = True) -> Comparison:
    summary = AcrossImages.of(effects, level)
    effect = float(summary.mean)
    comparison = Comparison(label=label, models=models, count=summary.count, images=images, effect=effect,
                            se=float(summary.se), ci_low=float(summary.ci_low), ci_high=float(summary.ci_high),
                            confidence=level, verdict=verdict(float(summary.ci_low), float(summary.ci_high)),
                            relative=None if relative_to in (None, 0) else effect / relative_to,
                            per_image=summary.per_image, primary=primary, statistic=statistic)
    return _with_power(comparison, float(summary.sd))


def _level(confidence: float, comparisons: int) -> float:
    return 1 - (1 - confidence) / max(1, comparisons)


def _claim(key: str, comparisons: list, confidence: float, note: str = "") -> Claim:
    return Claim(key=key, statement=STATEMENTS[key], definition=PREREGISTERED[key], rule=verdict_rule(confidence),
                 comparisons=comparisons, verdict=claim_verdict([c.verdict for c in comparisons if c.primary]),
                 note=note)


def _missing_band(ratios: np.ndarray, bands: Sequence[str]) -> str:
    missing = [b for b in bands if not band_mask(ratios, b).any()]
    return f"the study's orders have none in the {' and '.join(missing)} band(s)" if missing else ""


def claim_a(models: dict, confidence: float = CONFIDENCE) -> Claim:
    """(a) per normally trained model: mean over images of S_high - S_low (:data:`PREREGISTERED`); AT models and
    the signed drop of Ī^(m) beside."""
    usable = {name: m for name, m in models.items() if m.count >= 1}
    first = next(iter(usable.values()), None)
    problem = "no model has an image that landed" if first is None else _missing_band(first.ratios, ("low", "high"))
    if not problem and any(m.squared_change is None for m in usable.values()):
        problem = "the squared change needs at least 2 units per pair (--samples 2) and 2 pairs per image"
    if problem:
        return _claim("a", [], confidence, problem)
    normal = [name for name, m in usable.items() if m.role != "adversarially trained"]
    level = _level(confidence, len(normal))
    squared, signed = "S_high − S_low", "drop of Ī⁽ᵐ⁾, high − low"
    comparisons = [_comparison(name, [name], usable[name].images,
                               _high_minus_low(usable[name].squared_change.per_image, usable[name].ratios), level,
                               squared) for name in normal]
    comparisons += [_comparison(name, [name], m.images, _high_minus_low(m.squared_change.per_image, m.ratios), level,
                                squared, primary=False) for name, m in usable.items() if name not in normal]
    comparisons += [_comparison(name, [name], m.images, _high_minus_low(m.difference.per_image, m.ratios), level,
                                signed, primary=False) for name, m in usable.items()]
    note = "" if normal else "the study has no normally trained model (standard, Cutout, dropout) to decide it on"
    return _claim("a", comparisons, confidence, note)


def high_band_orders(n: int) -> int:
    """How many orders m = 0..n-2 lie in the high band (r = m / (n - 2) >= 2/3)."""
    return int(band_mask(np.arange(n - 1) / max(n - 2, 1), "high").sum())


def _pairs(models: dict) -> list[tuple[str, str]]:
    """(standard, AT) pairs of models, in the study's order."""
    standard = [n for n, m in models.items() if m.role == "standard"]
    robust = [n for n, m in models.items() if m.role == "adversarially trained"]
    return [(s, a) for s in standard for a in robust]


def _common(models: dict, pair: tuple[str, str]) -> tuple[list[str], list[np.ndarray]]:
    """The images both models of ``pair`` have, and each model's row indices of them."""
    shared = [image for image in models[pair[0]].images if image in set(models[pair[1]].images)]
    rows = [np.array([models[name].images.index(image) for image in shared], dtype=np.int64) for name in pair]
    return shared, rows


def _no_pairs_note(models: dict) -> str:
    roles = {m.role for m in models.values()}
    missing = [r for r in ("standard", "adversarially trained") if r not in roles]
    return f"the study has no {' and no '.join(missing)} model to compare (roles come from the cards' recipes)"


def _ratio_comparison(label: str, models: list, images: list, effect, level: float, statistic: str,
                      relative_to=None, primary: bool = True) -> Comparison:
    """A comparison whose effect is a ratio over images, ``effect(keep)`` on the images kept: the delete-one-image
    jackknife SE and a t interval with B - 1 degrees of freedom."""
    count = len(images)
    value = effect(np.ones(count, dtype=bool)) if count else float("nan")
    se = (float(jackknife_se(np.array([effect(np.arange(count) != b) for b in range(count)])))
          if count >= 2 else float("nan"))
    width = float(half_width(se, count, level))
    comparison = Comparison(label=label, models=models, count=count, images=images, effect=value, se=se,
                            ci_low=value - width, ci_high=value + width, confidence=level,
                            verdict=verdict(value - width, value + width),
                            relative=None if relative_to in (None, 0) or not count else value / relative_to,
                            primary=primary, statistic=statistic)
    return _with_power(comparison, se * np.sqrt(count))


def claim_b(models: dict, params: dict, confidence: float = CONFIDENCE) -> Claim:
    """(b) per (standard, AT) pair: mean over the images both landed of the high-band ΔJ^(m) difference; the
    high orders' share of the order-summed ΔJ beside."""
    pairs = _pairs(models)
    if not pairs:
        return _claim("b", [], confidence, _no_pairs_note(models))
    ratios = next(iter(models.values())).ratios
    problem = _missing_band(ratios, ("high",))
    if problem:
        return _claim("b", [], confidence, problem)
    level, comparisons, beside = _level(confidence, len(pairs)), [], []
    n = next(iter(models.values())).n
    high_orders = high_band_orders(n)
    for pair in pairs:
        shared, rows = _common(models, pair)
        bands = [_band_means(models[name].delta_j.per_image[r], ratios, "high") for name, r in zip(pair, rows)]
        utilities = [models[name].utility.per_image[r] for name, r in zip(pair, rows)]
        comparisons.append(_comparison(f"{pair[0]} − {pair[1]}", list(pair), shared, bands[0] - bands[1], level,
                                       "ΔJ_high, standard − AT",
                                       relative_to=float(np.mean(bands[0])) if len(shared) else None))

        def share_difference(keep: np.ndarray, bands=bands, utilities=utilities) -> float:
            shares = [high_orders * b[keep].sum() / u[keep].sum() for b, u in zip(bands, utilities)]
            return float(shares[0] - shares[1])

        beside.append(_ratio_comparison(
            f"{pair[0]} − {pair[1]}", list(pair), shared, share_difference, level,
            f"share of the utility Δv(N) carried by the high orders ≈ {high_orders} × ΔJ_high / Δv(N), "
            f"standard − AT", primary=False))
    note = ""
    if params.get("stop_utility") is None:
        utilities = ", ".join(f"{name} {m.utility.mean:.3g}" for name, m in models.items())
        note = (f"PGD ran at a fixed budget (ε = {params.get('eps')}, {params.get('steps')} steps), not at equal "
                f"strength: mean attacking utilities {utilities}. A weaker attack alone makes ΔJ smaller; run with "
                f"--stop-utility U for the paper's equal-strength comparison")
    return _claim("b", comparisons + beside, confidence, note)


def claim_c(models: dict, confidence: float = CONFIDENCE) -> Claim:
    """(c) per (standard, AT) pair: low-band mean of D^(m)(AT) - D^(m)(standard) over shared images, jackknife."""
    pairs = _pairs(models)
    if not pairs:
        return _claim("c", [], confidence, _no_pairs_note(models))
    ratios = next(iter(models.values())).disentanglement.ratios
    problem = _missing_band(ratios, ("low",))
    if problem:
        return _claim("c", [], confidence, problem + " (D⁽ᵐ⁾ leaves out m = 0)")
    low = band_mask(ratios, "low")
    level, comparisons = _level(confidence, len(pairs)), []
    for standard, robust in pairs:
        shared, (rows_s, rows_a) = _common(models, (standard, robust))
        ds, da = models[standard].disentanglement, models[robust].disentanglement
        num_s, den_s = ds.numerator[rows_s][:, low], ds.denominator[rows_s][:, low]
        num_a, den_a = da.numerator[rows_a][:, low], da.denominator[rows_a][:, low]

        def effect(keep: np.ndarray) -> float:
            return float(np.mean(num_a[keep].sum(0) / den_a[keep].sum(0) - num_s[keep].sum(0) / den_s[keep].sum(0)))

        baseline = float(np.mean(num_s.sum(0) / den_s.sum(0))) if len(shared) else None
        comparisons.append(_ratio_comparison(f"{robust} − {standard}", [standard, robust], shared, effect, level,
                                             "D_low, AT − standard", relative_to=baseline))
    return _claim("c", comparisons, confidence)


def claims_of(models: dict, params: dict, confidence: float = CONFIDENCE) -> list[Claim]:
    return [claim_a(models, confidence), claim_b(models, params, confidence), claim_c(models, confidence)]


def _disagreements(claims: list[Claim], twins: list[Claim], value: str, twin_value: str) -> list[str]:
    """A note per claim whose verdict differs between the two value functions, with both primary effects."""
    def effects(claim: Claim) -> str:
        return "; ".join(f"{c.label} {c.effect:+.3g} [{c.ci_low:+.3g}, {c.ci_high:+.3g}]" for c in claim.primary)

    return [f"claim ({a.key}) {a.verdict} under {value} ({effects(a)}) but {b.verdict} under {twin_value} "
            f"({effects(b)})" for a, b in zip(claims, twins) if a.verdict != b.verdict]
