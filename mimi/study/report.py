"""The report of a study: the paper's figures over its images, and its three claims with verdicts.

:func:`build_report` reads a study folder (files only: no model, no Ray) and returns a
:class:`StudyReport`. Per model, over the B images whose job is done (``mimi.study.stats``):

- order profiles Ī^(m) clean and adversarial, their difference and ΔJ^(m): each image's estimate
  (:class:`mimi.analysis.InteractionProfile`, whose estimand is the mean over the whole pair set), then
  across images the mean with a Student-t interval (sd_b / √B: it covers the images and, within each,
  the pairs drawn, the contexts and the PGD start);
- D^(m) = Σ_b numerator_b / Σ_b denominator_b (bias-corrected numerators, as
  :func:`mimi.analysis.disentanglement` pools images) with a delete-one-image jackknife interval.

The claims of PAPER.md, with order bands low r < 1/3 and high r ≥ 2/3 (:data:`mimi.strength.BANDS`):

(a) attacks mainly affect high-order interactions: per model, per image
    A_b = mean_{high m} [Ī^(m)(x) - Ī^(m)(x')] - mean_{low m} [Ī^(m)(x) - Ī^(m)(x')];  effect mean_b A_b.
(b) in AT models the attacking utility of high-order interactions is much smaller: per (standard, AT) pair
    of models, paired over the images both have, B_b = mean_{high m} ΔJ_b^(m)(standard) - the same (AT).
(c) AT models learn more disentangled low-order interactions: per (standard, AT) pair,
    C = mean_{low m} [D^(m)(AT) - D^(m)(standard)] over the images both have, jackknife interval.

Each effect is claimed > 0. Verdicts: :func:`mimi.study.stats.verdict` per comparison, at the
Bonferroni level shared by the claim's comparisons, and :func:`mimi.study.stats.claim_verdict` per claim.
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
from mimi.study.stats import claim_verdict, half_width, jackknife_se, verdict

CONFIDENCE = 0.95
ROLES = ("standard", "adversarially trained", "other")
STATEMENTS = {
    "a": "Attacks mainly affect high-order interactions.",
    "b": "In adversarially trained (AT) models, the attacking utility of high-order interactions is much smaller.",
    "c": "AT models learn more disentangled (category-specific) low-order interactions.",
}
EFFECTS = {
    "a": ("per model and image: the drop of the mean interaction, Ī⁽ᵐ⁾(x) − Ī⁽ᵐ⁾(x'), averaged over the high "
          "orders (r ≥ 2/3), minus the same averaged over the low orders (r < 1/3); the effect is its mean over the "
          "images. Claimed > 0: the attack lowers high-order interactions more than low-order ones."),
    "b": ("per (standard, AT) pair of models and image: ΔJ⁽ᵐ⁾ averaged over the high orders for the standard model "
          "minus the same for the AT model, paired over the images both models have; the effect is its mean over "
          "those images (relative: divided by the standard model's mean). Claimed > 0: smaller in the AT model."),
    "c": ("per (standard, AT) pair of models: D⁽ᵐ⁾ of the AT model minus D⁽ᵐ⁾ of the standard model, averaged over "
          "the low orders (r < 1/3), each D⁽ᵐ⁾ pooled over the images both models have (bias-corrected); the interval "
          "is from the delete-one-image jackknife. Claimed > 0: more disentangled in the AT model."),
}


def verdict_rule(confidence: float = CONFIDENCE) -> str:
    """How the verdicts are computed, in words."""
    return (f"Each comparison's interval is a Student-t interval across images at the Bonferroni level "
            f"1 − {1 - confidence:.2g}/k, k the claim's comparisons (so that all k hold together at {confidence:.0%}). "
            f"A comparison holds when its interval lies above 0, does not hold when it lies below 0, and is undecided "
            f"otherwise. A claim holds when all its comparisons hold, does not hold when any one does not hold, and "
            f"is undecided otherwise, or when the study has nothing to compare for it.")


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
        mean = values.mean(axis=0)
        sd = values.std(axis=0, ddof=1) if count >= 2 else np.full(mean.shape, np.nan)
        se = sd / np.sqrt(count)
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
    """One model (``classes``: its class names, if its card has them) over its ``count`` done images (``images``
    in the study's order, with ``gallery_indices``
    (-1: none), ``labels`` (-1: unknown), ``keys`` of their jobs and ``seeds``): predictions before and after
    PGD, ``clean_accuracy`` (labelled images), ``attack_success``, ``utility`` v(N|x) - v(N|x') across
    images; per order ``clean``, ``adversarial``, ``difference`` (clean - adversarial) of the profile's Ī^(m)
    and ``delta_j`` ΔJ^(m) (``profile_estimand``, ``delta_j_estimand`` per image), and ``disentanglement``."""

    model: str
    role: str
    recipe: Optional[str]
    classes: Optional[list]
    count: int
    images: list
    gallery_indices: np.ndarray
    labels: np.ndarray
    keys: list
    seeds: np.ndarray
    predictions: np.ndarray
    adv_predictions: np.ndarray
    clean_accuracy: float
    attack_success: float
    utility: AcrossImages
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
    disentanglement: PooledDisentanglement


@dataclass
class Comparison(Result):
    """One check of a claim: its ``effect`` (claimed > 0) over ``count`` images with ``se`` and the interval
    ``ci_low`` .. ``ci_high`` at ``confidence`` (Bonferroni-adjusted), ``relative`` effect (None when not
    defined), ``per_image`` values (None for a ratio over images) and the ``verdict``."""

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


@dataclass
class Claim(Result):
    """A claim of PAPER.md: ``statement``, the ``effect`` measured (``definition``), the ``rule``, its
    ``comparisons`` and its ``verdict``; ``note`` says why it could not be decided or what to keep in mind."""

    key: str
    statement: str
    definition: str
    rule: str
    comparisons: list
    verdict: str
    note: str = ""


@dataclass
class StudyReport(Result):
    """What ``mimi study report`` shows and writes: the study's ``params`` and ``status``, per model its
    :class:`ModelSummary`, the three :class:`Claim` s, the order ``bands`` and ``notes``."""

    folder: str
    params: dict
    status: StudyStatus
    models: dict
    claims: list
    bands: dict
    confidence: float
    notes: list = field(default_factory=list)

    def summary(self) -> str:
        """The claims and the models in a few lines for the terminal."""
        lines = [f"study {self.folder}: {self.status.done} of {self.status.jobs} jobs done "
                 f"({self.status.failed} failed, {self.status.left} left)"]
        for name, m in self.models.items():
            lines.append(f"  {name} ({m.role}): {m.count} images, clean accuracy {m.clean_accuracy:.0%}, attack "
                         f"success {m.attack_success:.0%}, utility {m.utility.mean:.3g} ± {m.utility.se:.2g}")
        for claim in self.claims:
            lines.append(f"claim ({claim.key}) {claim.statement} -> {claim.verdict.upper()}"
                         + (f" ({claim.note})" if claim.note else ""))
            for c in claim.comparisons:
                relative = f", relative {c.relative:+.0%}" if c.relative is not None and np.isfinite(c.relative) else ""
                lines.append(f"    {c.label}: effect {c.effect:+.4g} [{c.ci_low:+.4g}, {c.ci_high:+.4g}] "
                             f"({c.confidence:.1%} CI, {c.count} images{relative}): {c.verdict}")
        lines += [f"note: {note}" for note in self.notes]
        return "\n".join(lines)


# --------------------------------------------------------------------------- building
def summarize_model(name: str, record: dict, results: Sequence[StudyJobResult],
                    confidence: float = CONFIDENCE) -> ModelSummary:
    """One model's :class:`ModelSummary` from its job results (same orders and settings)."""
    first = results[0].profile
    attack = [r.attack for r in results]
    labels = np.array([-1 if r.label is None else r.label for r in results], dtype=np.int64)
    predictions = np.array([r.profile.prediction for r in results], dtype=np.int64)
    labelled = labels >= 0
    across = (lambda get: AcrossImages.of([get(r.profile).mean for r in results], confidence))
    return ModelSummary(
        model=name, role=record.get("role", "other"), recipe=record.get("recipe"), classes=record.get("classes"),
        count=len(results),
        images=[r.image for r in results],
        gallery_indices=np.array([-1 if r.gallery_index is None else r.gallery_index for r in results], dtype=np.int64),
        labels=labels, keys=[r.key for r in results], seeds=np.array([r.seed for r in results], dtype=np.int64),
        predictions=predictions, adv_predictions=np.array([a["adv_prediction"] for a in attack], dtype=np.int64),
        clean_accuracy=float(np.mean(predictions[labelled] == labels[labelled])) if labelled.any() else float("nan"),
        attack_success=float(np.mean([a["success"] for a in attack])),
        utility=AcrossImages.of([a["utility"] for a in attack], confidence),
        orders=np.asarray(first.orders), ratios=np.asarray(first.ratios), n=int(first.n), grid=first.grid,
        profile_estimand=first.estimand, delta_j_estimand=first.delta_j_estimand,
        clean=across(lambda p: p.interaction.clean), adversarial=across(lambda p: p.interaction.adversarial),
        difference=across(lambda p: p.interaction.difference), delta_j=across(lambda p: p.utility_by_order),
        disentanglement=PooledDisentanglement.of([r.disentanglement for r in results], confidence))


def _band_means(values: np.ndarray, ratios: np.ndarray, band: str) -> np.ndarray:
    """Per image (rows), the mean of ``values`` over the orders of ``band`` (NaN when it has none)."""
    mask = band_mask(ratios, band)
    return np.asarray(values)[:, mask].mean(axis=1) if mask.any() else np.full(len(values), np.nan)


def _comparison(label: str, models: list, images: list, effects: np.ndarray, level: float,
                relative_to: Optional[float] = None) -> Comparison:
    summary = AcrossImages.of(effects, level)
    effect = float(summary.mean)
    return Comparison(label=label, models=models, count=summary.count, images=images, effect=effect,
                      se=float(summary.se), ci_low=float(summary.ci_low), ci_high=float(summary.ci_high),
                      confidence=level, verdict=verdict(float(summary.ci_low), float(summary.ci_high)),
                      relative=None if relative_to in (None, 0) else effect / relative_to, per_image=summary.per_image)


def _level(confidence: float, comparisons: int) -> float:
    return 1 - (1 - confidence) / max(1, comparisons)


def _claim(key: str, comparisons: list, confidence: float, note: str = "") -> Claim:
    return Claim(key=key, statement=STATEMENTS[key], definition=EFFECTS[key], rule=verdict_rule(confidence),
                 comparisons=comparisons, verdict=claim_verdict([c.verdict for c in comparisons]), note=note)


def _missing_band(ratios: np.ndarray, bands: Sequence[str]) -> str:
    missing = [b for b in bands if not band_mask(ratios, b).any()]
    return f"the study's orders have none in the {' and '.join(missing)} band(s)" if missing else ""


def claim_a(models: dict, confidence: float = CONFIDENCE) -> Claim:
    """(a) per model: mean over images of the high-band minus the low-band drop of Ī^(m)."""
    usable = {name: m for name, m in models.items() if m.count >= 1}
    first = next(iter(usable.values()), None)
    problem = "no model has a done job" if first is None else _missing_band(first.ratios, ("low", "high"))
    if problem:
        return _claim("a", [], confidence, problem)
    level = _level(confidence, len(usable))
    comparisons = [_comparison(name, [name], m.images, _band_means(m.difference.per_image, m.ratios, "high")
                               - _band_means(m.difference.per_image, m.ratios, "low"), level)
                   for name, m in usable.items()]
    return _claim("a", comparisons, confidence)


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


def claim_b(models: dict, params: dict, confidence: float = CONFIDENCE) -> Claim:
    """(b) per (standard, AT) pair: mean over shared images of the high-band ΔJ^(m) difference."""
    pairs = _pairs(models)
    if not pairs:
        return _claim("b", [], confidence, _no_pairs_note(models))
    problem = _missing_band(next(iter(models.values())).ratios, ("high",))
    if problem:
        return _claim("b", [], confidence, problem)
    level, comparisons = _level(confidence, len(pairs)), []
    for pair in pairs:
        shared, rows = _common(models, pair)
        high = [_band_means(models[name].delta_j.per_image[r], models[name].ratios, "high")
                for name, r in zip(pair, rows)]
        comparisons.append(_comparison(f"{pair[0]} − {pair[1]}", list(pair), shared, high[0] - high[1], level,
                                       relative_to=float(np.mean(high[0])) if len(shared) else None))
    note = ""
    if params.get("stop_utility") is None:
        utilities = ", ".join(f"{name} {m.utility.mean:.3g}" for name, m in models.items())
        note = (f"PGD ran at a fixed budget (ε = {params.get('eps')}, {params.get('steps')} steps), not the paper's "
                f"stop at equal utility: mean attacking utilities {utilities}. A weaker attack alone makes ΔJ "
                f"smaller; run with --stop-utility U for the paper's equal-strength comparison")
    return _claim("b", comparisons, confidence, note)


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

        count = len(shared)
        value = effect(np.ones(count, dtype=bool)) if count else float("nan")
        if count >= 2:
            replicates = np.array([effect(np.arange(count) != b) for b in range(count)])
            se = float(jackknife_se(replicates))
        else:
            se = float("nan")
        width = float(half_width(se, count, level))
        comparisons.append(Comparison(
            label=f"{robust} − {standard}", models=[standard, robust], count=count, images=shared, effect=value,
            se=se, ci_low=value - width, ci_high=value + width, confidence=level,
            verdict=verdict(value - width, value + width),
            relative=value / float(np.mean(num_s.sum(0) / den_s.sum(0))) if count else None))
    return _claim("c", comparisons, confidence)


def build_report(folder: str | Path, confidence: float = CONFIDENCE) -> StudyReport:
    """The report of the study in ``folder`` over the jobs done so far (reads its files only)."""
    manifest: StudyManifest = read_manifest(folder)
    scan = scan_results(folder, manifest)
    status = study_status(folder, scan=scan)
    order = {record["source"]: k for k, record in enumerate(manifest.images)}
    done = sorted((o for o in scan.outcomes.values() if isinstance(o, StudyJobResult)), key=lambda o: order[o.image])
    models = {}
    for name, record in manifest.models.items():
        results = [o for o in done if o.model == name]
        if results:
            models[name] = summarize_model(name, record, results, confidence)
    notes = []
    if status.left or status.failed:
        notes.append(f"{status.left} job(s) left and {status.failed} failed: the report covers the {status.done} done")
    notes += [f"corrupted result file {c['file']} left out ({c['reason']}); `mimi study run` recomputes it"
              for c in status.corrupted]
    if status.skipped:
        notes.append(f"{len(status.skipped)} (image, model) pair(s) skipped: the model cannot take the image")
    claims = [claim_a(models, confidence), claim_b(models, manifest.params, confidence), claim_c(models, confidence)]
    return StudyReport(folder=str(folder), params=manifest.params, status=status, models=models, claims=claims,
                       bands={k: list(v) for k, v in BANDS.items()}, confidence=confidence, notes=notes)


# --------------------------------------------------------------------------- HTML
def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    import html

    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _number(value: Optional[float], spec: str = "+.4g") -> str:
    return "—" if value is None or not np.isfinite(value) else format(value, spec)


def claim_rows(report: StudyReport) -> list[list[str]]:
    """One row per comparison of every claim (a claim without comparisons: one row with its note)."""
    rows = []
    for claim in report.claims:
        if not claim.comparisons:
            rows.append([f"({claim.key})", "—", "—", "—", "—", "—", claim.verdict, claim.note])
        for c in claim.comparisons:
            rows.append([f"({claim.key})", c.label, _number(c.effect), f"[{_number(c.ci_low)}, {_number(c.ci_high)}]",
                         f"{c.confidence:.1%}", _number(c.relative, "+.0%"), c.verdict,
                         f"{c.count} images; claim: {claim.verdict}" + (f"; {claim.note}" if claim.note else "")])
    return rows


CLAIM_HEADER = ("claim", "comparison", "effect", "interval", "level", "relative", "verdict", "notes")


def model_rows(report: StudyReport) -> list[list[str]]:
    return [[name, m.role, m.count, f"{m.clean_accuracy:.0%}" if np.isfinite(m.clean_accuracy) else "—",
             f"{m.attack_success:.0%}", f"{_number(float(m.utility.mean), '.3g')} "
             f"[{_number(float(m.utility.ci_low), '.3g')}, {_number(float(m.utility.ci_high), '.3g')}]"]
            for name, m in report.models.items()]


def image_rows(report: StudyReport) -> list[dict]:
    """One row per (image, model) done: the image, its label, the model's predictions before and after PGD,
    the attacking utility, claim (a)'s per-image effect, and the job's key and seed."""
    rows = []
    for name, m in report.models.items():
        drop = _band_means(m.difference.per_image, m.ratios, "high") - _band_means(m.difference.per_image, m.ratios, "low")
        for b, image in enumerate(m.images):
            label = int(m.labels[b])
            rows.append({"image": image, "gallery_index": int(m.gallery_indices[b]), "label": label,
                         "class": m.classes[label] if m.classes and 0 <= label < len(m.classes) else None,
                         "model": name, "prediction": int(m.predictions[b]), "adv_prediction": int(m.adv_predictions[b]),
                         "utility": float(m.utility.per_image[b]), "high_minus_low_drop": float(drop[b]),
                         "key": m.keys[b], "seed": int(m.seeds[b])})
    return rows


MODEL_HEADER = ("model", "role", "images", "clean accuracy", "attack success", "utility v(N|x) − v(N|x') [interval]")


def settings_text(p: dict) -> str:
    """A study's parameters (its manifest's ``params``) in one line."""
    return (f"images: {p['images']['description']}; PGD {p['norm']} ε = {p['eps']}, {p['steps']} steps"
            + (f", stop at utility {p['stop_utility']}" if p.get("stop_utility") is not None else "")
            + f"; grid {p['grid']}, {p['pairs']} pairs ({p['pair_count'] or 'all'} drawn per image), {p['samples']} × "
            f"{p['contexts'] or 'design'} contexts, ratios {', '.join(f'{r:g}' for r in p['ratios'])}; D⁽ᵐ⁾: "
            f"{p['d_pair_count'] or 'all'} pairs, {p['d_samples']} samples; Shapley: {p['shapley_samples']} permutation "
            f"pairs; baseline {p['baseline']}, v = {p['value']}; seed {p['seed']}")


def report_html(report: StudyReport) -> str:
    """The report as one self-contained HTML page (plotly.js embedded once: it opens offline)."""
    import html

    from mimi.figures_study import study_figures

    figures = [fig.to_html(full_html=False, include_plotlyjs=index == 0, config={"displaylogo": False})
               for index, fig in enumerate(study_figures(report).values())]
    settings = settings_text(report.params)
    definitions = "".join(f"<li><b>({k})</b> {html.escape(STATEMENTS[k])} <i>Effect:</i> {html.escape(EFFECTS[k])}</li>"
                          for k in STATEMENTS)
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in report.notes)
    style = ("body{font-family:system-ui,sans-serif;max-width:1300px;margin:2em auto;padding:0 1em;color:#222}"
             "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;"
             "text-align:left;font-size:14px}th{background:#f4f4f4}")
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>mimi study report</title>"
            f"<style>{style}</style></head><body><h1>mimi study: {html.escape(report.folder)}</h1>"
            f"<p>{html.escape(settings)}</p><p>{html.escape(report.status.summary().splitlines()[0])}</p>"
            f"<h2>The paper's claims</h2><ul>{definitions}</ul><p>{html.escape(verdict_rule(report.confidence))}</p>"
            + _table(CLAIM_HEADER, claim_rows(report)) + (f"<ul>{notes}</ul>" if notes else "")
            + "<h2>Models</h2>" + _table(MODEL_HEADER, model_rows(report))
            + "<h2>Figures</h2>" + "".join(figures) + "</body></html>")
