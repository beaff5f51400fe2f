"""A study's numbers per model across its images: a per-image quantity's mean with a Student-t interval
(:class:`AcrossImages`), D^(m) pooled over images with the delete-one-image jackknife
(:class:`PooledDisentanglement`), and everything the report says of one model (:class:`ModelSummary`,
:func:`summarize_model`). The statistics: :mod:`mimi.batch.study.stats` and :mod:`mimi.core.stats`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from mimi.batch.study.jobs import StudyJobResult
from mimi.batch.study.stats import half_width
from mimi.core.results import Result
from mimi.core.stats import ratio_jackknife_se

CONFIDENCE = 0.95
ROLES = ("standard", "adversarially trained", "other")


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
    :class:`mimi.analysis.Disentanglement`, so :func:`mimi.figures.profiles.disentanglement_figure` draws it."""

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
            d_se = ratio_jackknife_se(numerator, denominator)
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
