"""The report of a study: the paper's figures over its images, and its three claims with verdicts.

:func:`build_report` reads a study folder (files only: no model, no Ray) and returns a
:class:`StudyReport`. Per model, over the B images whose job is done and whose attack landed at the study's
equal strength (images that did not land are counted and listed, never mixed in; ``mimi.study.stats``):

- order profiles Ī^(m) clean and adversarial, their difference, ΔJ^(m) and the mean squared change
  S^(m) = mean over pairs of [I^(m)(x) - I^(m)(x')]²: each image's estimate (:class:`mimi.analysis.InteractionProfile`),
  then across images the mean with a Student-t interval (sd_b / √B: it covers the images and, within each, the
  pairs drawn and the contexts);
- D^(m) = Σ_b numerator_b / Σ_b denominator_b (bias-corrected numerators, as
  :func:`mimi.analysis.disentanglement` pools images) with a delete-one-image jackknife interval.

The claims of docs/science.md §11 are tested as registered in :data:`PREREGISTERED` (order bands low r < 1/3 and high
r ≥ 2/3, :data:`mimi.strength.BANDS`): one primary comparison set per claim decides its verdict; the other rows
are shown beside it and decide nothing. A study with a ``twin_value`` gets the same claims for that value
function (``twin_claims``), from the same forward passes; where the verdicts differ, a note gives both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from mimi.results import Result
from mimi.strength import BANDS, band_mask
from mimi.study.jobs import StudyJobResult
from mimi.study.plan import StudyManifest
from mimi.study.run import StudyStatus, read_manifest, scan_results, study_status
from mimi.study.stats import claim_verdict, half_width, images_for_power, jackknife_se, verdict

CONFIDENCE = 0.95
ROLES = ("standard", "adversarially trained", "other")
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
class AcrossImages(Result):
    """A per-image quantity over ``count`` images: ``per_image`` (B, ...), and per entry the ``mean``, ``sd``
    (ddof 1), ``se`` = sd / √B and the Student-t interval ``ci_low`` .. ``ci_high`` at ``confidence``
    (NaN below 2 images)."""

    per_image: np.ndarray
    mean: np.ndarray
    sd: np.ndarray
    se: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    count: int
    confidence: float

    @classmethod
    def of(cls, values, confidence: float = CONFIDENCE) -> "AcrossImages":
        values = np.asarray(values, dtype=np.float64)
        count = len(values)
        mean = values.mean(axis=0) if count else np.full(values.shape[1:], np.nan)
        sd = values.std(axis=0, ddof=1) if count >= 2 else np.full(mean.shape, np.nan)
        se = sd / np.sqrt(max(count, 1))
        width = half_width(se, count, confidence)
        return cls(values, mean, sd, se, mean - width, mean + width, count, confidence)


@dataclass
class PooledDisentanglement(Result):
    """D^(m) over ``count`` images: ``d`` = Σ_b numerator_b / Σ_b denominator_b (``estimand``), its
    delete-one-image jackknife ``d_se`` and interval ``d_low`` .. ``d_high`` (t, clipped to [0, 1]);
    ``d_plugin`` with plug-in numerators; ``per_image`` each image's own ratio. Field names as
    :class:`mimi.analysis.Disentanglement`, so :func:`mimi.figures.disentanglement_figure` draws it."""

    orders: np.ndarray
    ratios: np.ndarray
    trivial: np.ndarray
    count: int
    d: np.ndarray
    d_se: np.ndarray
    d_low: np.ndarray
    d_high: np.ndarray
    d_plugin: np.ndarray
    per_image: np.ndarray
    numerator: np.ndarray
    numerator_plugin: np.ndarray
    denominator: np.ndarray
    estimand: str
    se_covers: str
    confidence: float
    debiased: bool = True

    @classmethod
    def of(cls, contributions: Sequence, confidence: float = CONFIDENCE) -> "PooledDisentanglement":
        first = contributions[0]
        numerator, plugin, denominator = (np.stack([np.asarray(getattr(c, name), dtype=np.float64)
                                                    for c in contributions])
                                          for name in ("numerator", "numerator_plugin", "denominator"))
        count = len(numerator)
        d = numerator.sum(axis=0) / denominator.sum(axis=0)
        if count >= 2:
            replicates = (numerator.sum(axis=0) - numerator) / (denominator.sum(axis=0) - denominator)
            d_se = jackknife_se(replicates)
        else:
            d_se = np.full(d.shape, np.nan)
        width = half_width(d_se, count, confidence)
        return cls(orders=np.asarray(first.orders), ratios=np.asarray(first.ratios),
                   trivial=np.zeros(len(d), dtype=bool), count=count, d=d, d_se=d_se,
                   d_low=np.maximum(d - width, 0.0), d_high=np.minimum(d + width, 1.0),
                   d_plugin=plugin.sum(axis=0) / denominator.sum(axis=0), per_image=numerator / denominator,
                   numerator=numerator, numerator_plugin=plugin, denominator=denominator,
                   estimand=(f"D^(m) = Σ_images Σ_pairs |I^(m)(i, j)| / Σ_images Σ_pairs E_S |Δv(i, j, S)| over "
                             f"{count} image(s), {first.pair_count} pairs drawn per image from the pair set; "
                             f"bias-corrected numerator sqrt(max(Î² - SE², 0))"),
                   se_covers="images, pairs and contexts (delete-one-image jackknife)", confidence=confidence)


@dataclass
class ModelSummary(Result):
    """One model (``classes``: its class names, if its card has them) for one value function (``value``) over
    the ``count`` images whose job is done and whose attack landed (``images`` in the study's order, with
    ``gallery_indices`` (-1: none), ``labels`` (-1: unknown), ``keys`` of their jobs and ``seeds``); ``attacked``
    jobs done in all, ``not_landed`` the images whose attack did not land at U (left out of everything below).
    Predictions before and after PGD, ``clean_accuracy`` (labelled images), ``attack_success`` (the fraction of
    attacked images whose prediction changed), ``landed_rate`` (the fraction that landed at U), ``utility``
    v(N|x) - v(N|x') and ``stop_drop`` (what the stop rule measured) across landed images; per order ``clean``,
    ``adversarial``, ``difference`` (clean - adversarial) of the profile's Ī^(m), ``delta_j`` ΔJ^(m),
    ``squared_change`` S^(m) (``profile_estimand``, ``delta_j_estimand`` per image), and ``disentanglement``."""

    model: str
    role: str
    recipe: Optional[str]
    classes: Optional[list]
    value: str
    count: int
    attacked: int
    not_landed: list
    images: list
    gallery_indices: np.ndarray
    labels: np.ndarray
    keys: list
    seeds: np.ndarray
    predictions: np.ndarray
    adv_predictions: np.ndarray
    clean_accuracy: float
    attack_success: float
    landed_rate: float
    utility: AcrossImages
    stop_drop: Optional[AcrossImages]
    steps_used: np.ndarray
    orders: np.ndarray
    ratios: np.ndarray
    n: int
    grid: str
    profile_estimand: str
    delta_j_estimand: str
    clean: AcrossImages
    adversarial: AcrossImages
    difference: AcrossImages
    delta_j: AcrossImages
    squared_change: Optional[AcrossImages]
    disentanglement: PooledDisentanglement


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


@dataclass
class StudyReport(Result):
    """What ``mimi study report`` shows and writes: the study's ``params`` and ``status``, per model its
    :class:`ModelSummary`, the three :class:`Claim` s, the order ``bands`` and ``notes``; with a twin value
    function, ``twin_models`` and ``twin_claims`` for it (same forward passes)."""

    folder: str
    params: dict
    status: StudyStatus
    models: dict
    claims: list
    bands: dict
    confidence: float
    notes: list = field(default_factory=list)
    twin_value: Optional[str] = None
    twin_models: dict = field(default_factory=dict)
    twin_claims: list = field(default_factory=list)

    def summary(self) -> str:
        """The claims and the models in a few lines for the terminal."""
        lines = [f"study {self.folder}: {self.status.done} of {self.status.jobs} jobs done "
                 f"({self.status.failed} failed, {self.status.left} left)"]
        for name, m in self.models.items():
            lines.append(f"  {name} ({m.role}): {m.count} of {m.attacked} images landed at U, clean accuracy "
                         f"{m.clean_accuracy:.0%}, prediction changed {m.attack_success:.0%}, utility "
                         f"{m.utility.mean:.3g} ± {m.utility.se:.2g}")
        for claims, value in ((self.claims, self.params.get("value")), (self.twin_claims, self.twin_value)):
            for claim in claims:
                lines.append(f"claim ({claim.key}) [{value}] {claim.statement} -> {claim.verdict.upper()}"
                             + (f" ({claim.note})" if claim.note else ""))
                for c in claim.comparisons:
                    relative = (f", relative {c.relative:+.0%}" if c.relative is not None and np.isfinite(c.relative)
                                else "")
                    needed = f", {c.images_needed} images for 80% power" if c.images_needed else ""
                    lines.append(f"    {'' if c.primary else '(beside) '}{c.label}: {c.statistic} {c.effect:+.4g} "
                                 f"[{c.ci_low:+.4g}, {c.ci_high:+.4g}] ({c.confidence:.1%} CI, {c.count} images"
                                 f"{relative}{needed}): {c.verdict}")
        lines += [f"note: {note}" for note in self.notes]
        return "\n".join(lines)


# --------------------------------------------------------------------------- building
def summarize_model(name: str, record: dict, results: Sequence[StudyJobResult], confidence: float = CONFIDENCE,
                    twin: bool = False) -> Optional[ModelSummary]:
    """One model's :class:`ModelSummary` from its job results (same orders and settings), for the study's value
    function or (``twin``) its twin; None when no attack of the model landed."""
    landed = [r for r in results if r.landed]
    if not landed:
        return None
    profile_of = (lambda r: r.twin.profile) if twin else (lambda r: r.profile)
    first = profile_of(landed[0])
    attack = [r.attack for r in landed]
    labels = np.array([-1 if r.label is None else r.label for r in landed], dtype=np.int64)
    predictions = np.array([profile_of(r).prediction for r in landed], dtype=np.int64)
    labelled = labels >= 0
    across = (lambda get: AcrossImages.of([get(profile_of(r)).mean for r in landed], confidence))
    drops = [a.get("stop_drop") for a in attack]
    squared = [profile_of(r).squared_change for r in landed]
    return ModelSummary(
        model=name, role=record.get("role", "other"), recipe=record.get("recipe"), classes=record.get("classes"),
        value=first.params["value"], count=len(landed), attacked=len(results),
        not_landed=[r.image for r in results if not r.landed],
        images=[r.image for r in landed],
        gallery_indices=np.array([-1 if r.gallery_index is None else r.gallery_index for r in landed], dtype=np.int64),
        labels=labels, keys=[r.key for r in landed], seeds=np.array([r.seed for r in landed], dtype=np.int64),
        predictions=predictions, adv_predictions=np.array([a["adv_prediction"] for a in attack], dtype=np.int64),
        clean_accuracy=float(np.mean(predictions[labelled] == labels[labelled])) if labelled.any() else float("nan"),
        attack_success=float(np.mean([r.attack["adv_prediction"] != r.attack["clean_prediction"] for r in results])),
        landed_rate=len(landed) / len(results),
        utility=AcrossImages.of([profile_of(r).attack_utility for r in landed], confidence),
        stop_drop=None if None in drops else AcrossImages.of(drops, confidence),
        steps_used=np.array([a["steps_used"] for a in attack], dtype=np.int64),
        orders=np.asarray(first.orders), ratios=np.asarray(first.ratios), n=int(first.n), grid=first.grid,
        profile_estimand=first.estimand, delta_j_estimand=first.delta_j_estimand,
        clean=across(lambda p: p.interaction.clean), adversarial=across(lambda p: p.interaction.adversarial),
        difference=across(lambda p: p.interaction.difference), delta_j=across(lambda p: p.utility_by_order),
        squared_change=(None if None in squared else AcrossImages.of([q.mean for q in squared], confidence)),
        disentanglement=PooledDisentanglement.of(
            [r.twin.disentanglement if twin else r.disentanglement for r in landed], confidence))


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


def build_report(folder: str | Path, confidence: float = CONFIDENCE) -> StudyReport:
    """The report of the study in ``folder`` over the jobs done so far (reads its files only)."""
    manifest: StudyManifest = read_manifest(folder)
    scan = scan_results(folder, manifest)
    status = study_status(folder, scan=scan)
    order = {record["source"]: k for k, record in enumerate(manifest.images)}
    done = sorted((o for o in scan.outcomes.values() if isinstance(o, StudyJobResult)), key=lambda o: order[o.image])
    twin_value = manifest.params.get("twin_value")
    models, twin_models, notes = {}, {}, []
    for name, record in manifest.models.items():
        results = [o for o in done if o.model == name]
        summary = summarize_model(name, record, results, confidence) if results else None
        if summary is not None:
            models[name] = summary
            if twin_value:
                twin_models[name] = summarize_model(name, record, results, confidence, twin=True)
        elif results:
            notes.append(f"no attack on {name} landed at U = {manifest.params.get('stop_utility')} within "
                         f"ε = {manifest.params.get('eps')} and {manifest.params.get('steps')} steps ({len(results)} "
                         f"images tried): it is left out of the figures and the claims; try a smaller U or a larger "
                         f"ε or more steps")
    if status.left or status.failed:
        notes.append(f"{status.left} job(s) left and {status.failed} failed: the report covers the {status.done} done")
    notes += [f"corrupted result file {c['file']} left out ({c['reason']}); `mimi study run` recomputes it"
              for c in status.corrupted]
    if status.skipped:
        notes.append(f"{len(status.skipped)} (image, model) pair(s) skipped: the model cannot take the image")
    unlanded = {name: len(m.not_landed) for name, m in models.items() if m.not_landed}
    if unlanded:
        notes.append("images whose attack did not land at U are left out of every figure and claim: "
                     + ", ".join(f"{name} {count} of {models[name].attacked}" for name, count in unlanded.items()))
    claims = claims_of(models, manifest.params, confidence)
    twin_claims = claims_of(twin_models, manifest.params, confidence) if twin_value else []
    if twin_value:
        notes += _disagreements(claims, twin_claims, manifest.params["value"], twin_value)
    return StudyReport(folder=str(folder), params=manifest.params, status=status, models=models, claims=claims,
                       bands={k: list(v) for k, v in BANDS.items()}, confidence=confidence, notes=notes,
                       twin_value=twin_value, twin_models=twin_models, twin_claims=twin_claims)


# --------------------------------------------------------------------------- HTML
def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    import html

    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _number(value: Optional[float], spec: str = "+.4g") -> str:
    return "—" if value is None or not np.isfinite(value) else format(value, spec)


def claim_rows(claims: Sequence[Claim]) -> list[list[str]]:
    """One row per comparison of every claim, primary rows first (a claim without comparisons: one row with its
    note)."""
    rows = []
    for claim in claims:
        if not claim.comparisons:
            rows.append([f"({claim.key})", "—", "—", claim.verdict, "—", "—", "—", "—", "—", "—", claim.note])
        for c in claim.comparisons:
            rows.append([f"({claim.key})", "primary" if c.primary else "beside", c.label, c.verdict,
                         _number(c.effect), f"[{_number(c.ci_low)}, {_number(c.ci_high)}]",
                         str(c.images_needed) if c.images_needed else "—", c.statistic, f"{c.confidence:.1%}",
                         _number(c.relative, "+.0%"),
                         f"{c.count} images; claim: {claim.verdict}" + (f"; {claim.note}" if claim.note else "")])
    return rows


#: Verdict first: on a narrow page the columns on the right scroll out of view.
CLAIM_HEADER = ("claim", "test", "comparison", "verdict", "effect", "interval", "images for 80% power", "statistic",
                "level", "relative", "notes")


def _spread(summary: Optional[AcrossImages]) -> str:
    """min / median / max of a per-image quantity."""
    if summary is None or not summary.count:
        return "—"
    values = np.asarray(summary.per_image, dtype=np.float64)
    return f"{values.min():.3g} / {np.median(values):.3g} / {values.max():.3g}"


def model_rows(report: StudyReport) -> list[list[str]]:
    return [[name, m.role, f"{m.count} of {m.attacked}", f"{m.clean_accuracy:.0%}" if np.isfinite(m.clean_accuracy)
             else "—", f"{m.attack_success:.0%}", f"{m.landed_rate:.0%}", _spread(m.stop_drop), _spread(m.utility)]
            for name, m in report.models.items()]


MODEL_HEADER = ("model", "role", "images landed", "clean accuracy", "attack success (prediction changed)",
                "reached U", "stop drop min / median / max", "utility v(N|x) − v(N|x') min / median / max")


def image_rows(report: StudyReport) -> list[dict]:
    """One row per (image, model) whose attack landed: the image, its label, the model's predictions before and
    after PGD, the attacking utility, claim (a)'s per-image statistic, and the job's key and seed."""
    rows = []
    for name, m in report.models.items():
        change = (_high_minus_low(m.squared_change.per_image, m.ratios) if m.squared_change is not None
                  else np.full(m.count, np.nan))
        for b, image in enumerate(m.images):
            label = int(m.labels[b])
            rows.append({"image": image, "gallery_index": int(m.gallery_indices[b]), "label": label,
                         "class": m.classes[label] if m.classes and 0 <= label < len(m.classes) else None,
                         "model": name, "prediction": int(m.predictions[b]), "adv_prediction": int(m.adv_predictions[b]),
                         "utility": float(m.utility.per_image[b]), "squared_change_high_minus_low": float(change[b]),
                         "steps": int(m.steps_used[b]), "key": m.keys[b], "seed": int(m.seeds[b])})
    return rows


def settings_text(p: dict) -> str:
    """A study's parameters (its manifest's ``params``) in one line."""
    stop = ""
    if p.get("stop_utility") is not None:
        rule = {"paper": "the true class's logit once misclassified (the paper's rule)",
                "utility": f"v = {p['value']}"}[p.get("stop_rule", "utility")]
        stop = (f", equal strength: each image's drop of {rule} landed in [{p['stop_utility']:g}, "
                f"{p['stop_utility'] + p.get('tolerance', 0):g}]")
    start = "" if p.get("random_start", True) else ", starting at x"
    return (f"images: {p['images']['description']}; PGD {p['norm']} ε = {p['eps']}, {p['steps']} steps{start}{stop}"
            + f"; grid {p['grid']}, {p['pairs']} pairs ({p['pair_count'] or 'all'} drawn per image), {p['samples']} × "
            f"{p['contexts'] or 'design'} contexts, ratios {', '.join(f'{r:g}' for r in p['ratios'])}; D⁽ᵐ⁾: "
            f"{p['d_pair_count'] or 'all'} pairs, {p['d_samples']} samples; Shapley: {p['shapley_samples']} permutation "
            f"pairs; baseline {p['baseline']}, v = {p['value']}"
            + (f" (and {p['twin_value']} from the same forward passes)" if p.get("twin_value") else "")
            + f"; seed {p['seed']}")


def report_html(report: StudyReport) -> str:
    """The report as one self-contained HTML page (plotly.js embedded once: it opens offline)."""
    import html

    from mimi.figures_study import study_figures

    figures = [fig.to_html(full_html=False, include_plotlyjs=index == 0, config={"displaylogo": False})
               for index, fig in enumerate(study_figures(report).values())]
    settings = settings_text(report.params)
    definitions = "".join(f"<li><b>({k})</b> {html.escape(STATEMENTS[k])} <i>Registered test:</i> "
                          f"{html.escape(PREREGISTERED[k])}</li>" for k in STATEMENTS)
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in report.notes)
    twin = ""
    if report.twin_claims:
        twin = (f"<h2>The same claims with v = {html.escape(report.twin_value)} (same forward passes)</h2>"
                + _table(CLAIM_HEADER, claim_rows(report.twin_claims)))
    style = ("body{font-family:system-ui,sans-serif;max-width:1300px;margin:2em auto;padding:0 1em;color:#222}"
             "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;"
             "text-align:left;font-size:14px}th{background:#f4f4f4}")
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>mimi study report</title>"
            f"<style>{style}</style></head><body><h1>mimi study: {html.escape(report.folder)}</h1>"
            f"<p>{html.escape(settings)}</p><p>{html.escape(report.status.summary().splitlines()[0])}</p>"
            f"<h2>The paper's claims (v = {html.escape(str(report.params.get('value')))})</h2><ul>{definitions}</ul>"
            f"<p>{html.escape(verdict_rule(report.confidence))}</p>"
            + _table(CLAIM_HEADER, claim_rows(report.claims)) + twin + (f"<ul>{notes}</ul>" if notes else "")
            + "<h2>Models</h2>" + _table(MODEL_HEADER, model_rows(report))
            + "<h2>Figures</h2>" + "".join(figures) + "</body></html>")
