"""Attribution-based detection of adversarial inputs (ML-LOO) on mimi's players, and its link to the orders.

**Leave-one-out attribution** of cell i (Yang et al. 2019, ML-LOO, on the grid cells of
:class:`mimi.core.players.Grid`; a left-out cell takes the baseline, as in every mimi game):

    a_i = v(N) - v(N \\ {i}),        n + 1 forward passes (one batch) per input.

ML-LOO's detector thresholds the dispersion of these attributions; mimi uses their interquartile range
IQR(a) = Q_0.75 - Q_0.25 over the n cells (linear interpolation between order statistics). A detector
sees the input only, so the value v is that of the class the model predicts for that input (``target``
"predicted"); an adversarial input is scored for its adversarial class.

**Link to the orders** (docs/science.md §3, marginal contributions φ^(m+1)(i) - φ^(m)(i) = E_{j≠i} I^(m)(i, j)).
a_i is the marginal contribution of i at the largest context, φ^(n-1)(i); summing the differences,

    a_i = φ^(0)(i) + Σ_{m=0}^{n-2} E_{j≠i} I^(m)(i, j),       φ^(0)(i) = v({i}) - v(∅),

every order with weight 1, whereas the Shapley value weighs order m by (n-1-m)/n:
φ(i) = φ^(0)(i) + Σ_m (n-1-m)/n E_{j≠i} I^(m)(i, j). LOO keeps the highest orders that Shapley discounts.
:func:`leave_one_out` works on any game, so the identity is checked exactly on small games (tests).

**Detectors compared** (per input, target its predicted class): ``ml-loo`` IQR(a); ``high-order`` the mean
over the orders of the paper's ratios r ≥ 2/3 of the order profile Ī^(m) (mean of I^(m)(i, j) over the
8-neighbour pairs, :func:`mimi.analysis.interaction_profile` with the dashboard's default effort);
``low-order`` the same over r < 1/3.

**ROC and AUC.** Adversarial inputs are the positives, clean ones the negatives, and a larger score means
"adversarial": AUC = P(s(x') > s(x)) + P(s(x') = s(x)) / 2 over every (adversarial, clean) pair (the
Mann-Whitney statistic). 0.5 is chance; an AUC below 0.5 means adversarial inputs score lower, and a
detector that flips the threshold reaches 1 - AUC. The 95% interval is the percentile bootstrap over
images, paired: a resample draws images with replacement and keeps each image's clean and adversarial
score together, so it covers which images were drawn and, through each image's own seed, the attack's
random start and the sampled contexts and pairs.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

import numpy as np
import torch
from torch import nn

from mimi.analysis import DEFAULTS, GAME_OPTIONS, check_grid, default_pair_count, image_game, interaction_profile
from mimi.analysis.checks import _as_image
from mimi.analysis.gallery import (PROFILE_KEYS, attack_settings, describe_selection, each_gallery_image,
                                   gallery_image_seed, plain)
from mimi.analysis.workflows import run_attack
from mimi.core.checks import check_players
from mimi.core.games import DEFAULT_BATCH_ROWS, CountingGame, Game, ImageGame, on_device, predict, resolve_targets
from mimi.core.progress import ProgressFn
from mimi.core.results import GalleryStudy, Result
from mimi.defenses.strength import band_mask

DETECTORS = ("ml-loo", "high-order", "low-order")
DETECTOR_STATISTICS = {
    "ml-loo": "IQR over the cells of the leave-one-out attributions a_i = v(N) - v(N∖{i}) (ML-LOO)",
    "high-order": "mean over the orders r ≥ 2/3 of the order profile Ī^(m) (mean of I^(m)(i, j) over the pair set)",
    "low-order": "mean over the orders r < 1/3 of the order profile Ī^(m) (mean of I^(m)(i, j) over the pair set)",
}
DETECTION_RATIOS = (0.1, 0.2, 0.3, 0.7, 0.8, 0.9, 0.95, 1.0)   # the paper's ratios in the low and high bands
MAX_BOOTSTRAP = 100_000
CI_LEVEL = 0.95


# --------------------------------------------------------------------------- any game
def leave_one_out_masks(n: int) -> np.ndarray:
    """(n + 1, n): N, then N without player i in row i + 1."""
    masks = np.ones((check_players(n) + 1, n), dtype=bool)
    masks[np.arange(1, n + 1), np.arange(n)] = False
    return masks


def leave_one_out(v: Game, n: int, batch_rows: int = DEFAULT_BATCH_ROWS) -> np.ndarray:
    """a_i = v(N) - v(N \\ {i}) for every player i: (n,), or (n, G) for a game of G values per row;
    n + 1 mask rows (:func:`leave_one_out_masks`)."""
    game = CountingGame(v, check_players(n), batch_rows)
    values = game(leave_one_out_masks(n))
    return game.shape_out(values[0] - values[1:])


def iqr(values: np.ndarray, axis: int = 0) -> np.ndarray:
    """Interquartile range Q_0.75 - Q_0.25 along ``axis`` (numpy's linear interpolation)."""
    low, high = np.quantile(np.asarray(values, dtype=np.float64), [0.25, 0.75], axis=axis)
    return high - low


# --------------------------------------------------------------------------- ROC, AUC, bootstrap
def _scores(negatives, positives) -> tuple[np.ndarray, np.ndarray]:
    neg = np.asarray(negatives, dtype=np.float64).reshape(-1)
    pos = np.asarray(positives, dtype=np.float64).reshape(-1)
    if len(neg) == 0 or len(pos) == 0:
        raise ValueError(f"an ROC needs at least one negative and one positive score, got {len(neg)} and {len(pos)}")
    if not (np.isfinite(neg).all() and np.isfinite(pos).all()):
        raise ValueError("detector scores must be finite numbers")
    return neg, pos


def roc_curve(negatives, positives) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fpr, tpr, thresholds) of the rule "positive when score ≥ t" over every distinct score t, from
    (0, 0) (t = +inf) to (1, 1); the trapezoid area under these points is :func:`auc`."""
    neg, pos = _scores(negatives, positives)
    thresholds = np.unique(np.concatenate([neg, pos]))[::-1]
    fpr = (neg[None, :] >= thresholds[:, None]).mean(axis=1)
    tpr = (pos[None, :] >= thresholds[:, None]).mean(axis=1)
    return np.concatenate([[0.0], fpr]), np.concatenate([[0.0], tpr]), np.concatenate([[np.inf], thresholds])


def pair_wins(negatives, positives) -> np.ndarray:
    """(P, N) matrix of 1[pos_p > neg_q] + 1/2 · 1[pos_p = neg_q]; its mean is the AUC."""
    neg, pos = _scores(negatives, positives)
    return (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])


def auc(negatives, positives) -> float:
    """AUC = P(pos > neg) + P(pos = neg) / 2 over all (positive, negative) pairs (Mann-Whitney)."""
    return float(pair_wins(negatives, positives).mean())


def bootstrap_weights(count: int, resamples: int, seed: int) -> np.ndarray:
    """(resamples, count): how often each of ``count`` items is drawn in each resample with replacement."""
    if isinstance(resamples, bool) or not isinstance(resamples, (int, np.integer)) \
            or not 100 <= resamples <= MAX_BOOTSTRAP:
        raise ValueError(f"bootstrap resamples must be an integer in 100..{MAX_BOOTSTRAP}, got {resamples!r}")
    draws = np.random.default_rng(seed).integers(0, count, size=(resamples, count))
    weights = np.zeros((resamples, count))
    np.add.at(weights, (np.repeat(np.arange(resamples), count), draws.ravel()), 1.0)
    return weights


def paired_bootstrap_auc(clean, adversarial, weights: np.ndarray) -> np.ndarray:
    """AUC of each paired resample: image b drawn w_b times brings w_b clean and w_b adversarial scores,
    so AUC_r = Σ_{p,q} w_p w_q wins[p, q] / (Σ w)²."""
    wins = pair_wins(clean, adversarial)
    if wins.shape[0] != wins.shape[1] or weights.shape[1] != wins.shape[0]:
        raise ValueError(f"a paired bootstrap needs one clean and one adversarial score per image, got "
                         f"{wins.shape[1]} and {wins.shape[0]} for {weights.shape[1]} weights")
    return np.einsum("rp,pq,rq->r", weights, wins, weights) / weights.sum(axis=1) ** 2


def percentile_interval(replicates: np.ndarray, level: float = CI_LEVEL) -> tuple[float, float]:
    """The (1 - level)/2 and (1 + level)/2 quantiles of bootstrap replicates."""
    low, high = np.quantile(replicates, [(1 - level) / 2, (1 + level) / 2])
    return float(low), float(high)


# --------------------------------------------------------------------------- one image
@dataclass
class Attribution(Result):
    """Leave-one-out attributions of one input: ``values`` (rows, cols) a_i = v(N) - v(N∖{i}) for class
    ``target`` (``prediction`` is the model's class on the input), their ``iqr`` and v(N) ``v_full``."""

    target: int
    prediction: int
    values: np.ndarray
    iqr: float
    v_full: float


@dataclass
class LeaveOneOut(Result):
    """ML-LOO's statistic on the cells of ``grid`` for a clean image and, when given, its adversarial
    version (each scored for its own target: ``params['target']``, "predicted" by default)."""

    grid: str
    n: int
    label: Optional[int]
    clean: Attribution
    adversarial: Optional[Attribution]
    forward_passes: int
    wall_time_s: float
    params: dict = field(default_factory=dict)


def leave_one_out_map(model: nn.Module, image, adv_image=None, *, label: Optional[int] = None, grid="7x7",
                      baseline="mean", value: str = "log-odds", target="predicted", device=None,
                      batch_size: Optional[int] = None, precision: str = "float32",
                      progress: Optional[ProgressFn] = None) -> LeaveOneOut:
    """a_i = v(N) - v(N∖{i}) of every cell and IQR(a), for ``image`` and ``adv_image`` (n + 1 mask rows, each
    on both inputs). ``target``: "predicted" (each input's predicted class: what a detector sees), "label"
    (needs ``label``) or a class index."""
    start = time.perf_counter()
    model, device = on_device(model, device)
    inputs = [_as_image(image)] + ([] if adv_image is None else [_as_image(adv_image, "adv_image")])
    if len(inputs) == 2 and inputs[1].shape != inputs[0].shape:
        raise ValueError(f"adv_image has shape {tuple(inputs[1].shape)}, the image {tuple(inputs[0].shape)}")
    parsed = check_grid(grid, *inputs[0].shape[-2:])
    batch = torch.stack(inputs)
    predictions, probabilities = predict(model, batch)
    targets = resolve_targets(target, [label] * len(inputs), predictions, probabilities.shape[1]).tolist()
    game = ImageGame(model, batch, targets, grid=parsed, baseline=baseline, value=value, device=device,
                     batch_size=batch_size, precision=precision, progress=progress)
    game.expect(parsed.n + 1, "leave-one-out")
    values = game(leave_one_out_masks(parsed.n))                            # (n + 1, G): v(N), v(N∖{i})
    loo = values[0] - values[1:]
    attributions = [Attribution(int(targets[g]), int(predictions[g]), parsed.to_image(loo[:, g]),
                                float(iqr(loo[:, g])), float(values[0, g])) for g in range(len(inputs))]
    return LeaveOneOut(
        grid=parsed.spec, n=parsed.n, label=None if label is None else int(label), clean=attributions[0],
        adversarial=attributions[1] if len(attributions) == 2 else None, forward_passes=game.forward_passes,
        wall_time_s=time.perf_counter() - start,
        params=dict(grid=parsed.spec, baseline=baseline if isinstance(baseline, str) else "custom", value=value,
                    target=target if isinstance(target, str) else int(target), device=str(device),
                    precision=precision))


@dataclass
class DetectorROC(Result):
    """One detector over the images: its ``statistic`` in words, the scores of the ``clean`` (negatives)
    and ``adversarial`` (positives) inputs of the images used, the ROC (``fpr``, ``tpr``), the AUC and
    its 95% percentile bootstrap interval [``auc_low``, ``auc_high``] (paired over images)."""

    name: str
    statistic: str
    clean: np.ndarray
    adversarial: np.ndarray
    auc: float
    auc_low: float
    auc_high: float
    fpr: np.ndarray
    tpr: np.ndarray


@dataclass
class DetectionStudy(GalleryStudy):
    """Clean vs adversarial detection by ML-LOO and by order-band interaction scores, over gallery images.

    ``images`` are the gallery indices (``selection`` in words); ``used`` marks those that enter the ROCs
    (``used_rule``: by default, clean image classified correctly and attack successful, ML-LOO's protocol);
    ``scores`` (D, B, 2) holds every image's clean and adversarial score per detector (order of
    ``detectors``), the ROCs use the images marked ``used``. ``high_minus_low`` is AUC(high-order) -
    AUC(low-order) with its paired-bootstrap 95% interval (same resamples). ``ci`` says how intervals were
    computed; ``forward_passes`` counts images through the model by LOO and profiles (PGD not counted).
    """

    attack_success: float
    used: np.ndarray
    used_rule: str
    detectors: list
    scores: np.ndarray
    high_minus_low: dict
    ci: str
    forward_passes: int
    wall_time_s: float
    params: dict = field(default_factory=dict)

    def summary(self) -> str:
        """One line: the images used and each detector's AUC with its interval."""
        aucs = "; ".join(f"{r.name} {r.auc:.3f} [{r.auc_low:.3f}, {r.auc_high:.3f}]" for r in self.detectors)
        c = self.high_minus_low
        return (f"{self.model}: {int(np.sum(self.used))} of {len(self.images)} images used ({self.used_rule}); "
                f"AUC [95% CI]: {aucs}; high-order − low-order {c['estimate']:+.3f} [{c['low']:+.3f}, "
                f"{c['high']:+.3f}]")

    def detector(self, name: str) -> DetectorROC:
        for roc in self.detectors:
            if roc.name == name:
                return roc
        raise ValueError(f"no detector {name!r} in this study; it has {', '.join(r.name for r in self.detectors)}")


def band_scores(profile, bands: Sequence[str] = ("high", "low")) -> list[float]:
    """The mean of a profile's Ī^(m) over the orders of each band (:data:`mimi.defenses.strength.BANDS`)."""
    ratios = np.asarray(profile.ratios, dtype=np.float64)
    return [float(np.mean(np.asarray(profile.interaction.clean.mean)[band_mask(ratios, band)])) for band in bands]


def detection_rocs(scores: np.ndarray, used: np.ndarray, *, resamples: int, seed: int,
                   level: float = CI_LEVEL) -> tuple[list[DetectorROC], dict]:
    """ROCs, AUCs and paired-bootstrap intervals of :data:`DETECTORS` from ``scores`` (D, B, 2) over the images
    marked ``used``; and AUC(high-order) - AUC(low-order) with its interval on the same resamples."""
    used = np.asarray(used, dtype=bool)
    if used.sum() < 2:
        raise ValueError(f"only {int(used.sum())} image(s) qualify for the ROC; at least 2 are needed "
                         f"(use more images, or all images instead of successful attacks only)")
    weights = bootstrap_weights(int(used.sum()), resamples, seed)
    rocs, replicates = [], {}
    for d, name in enumerate(DETECTORS):
        clean, adversarial = scores[d, used, 0], scores[d, used, 1]
        fpr, tpr, _ = roc_curve(clean, adversarial)
        replicates[name] = paired_bootstrap_auc(clean, adversarial, weights)
        rocs.append(DetectorROC(name, DETECTOR_STATISTICS[name], clean, adversarial, auc(clean, adversarial),
                                *percentile_interval(replicates[name], level), fpr, tpr))
    difference = replicates["high-order"] - replicates["low-order"]
    low, high = percentile_interval(difference, level)
    contrast = {"estimate": rocs[1].auc - rocs[2].auc, "low": low, "high": high}
    return rocs, contrast


def image_rule(labels, predictions, adv_predictions, successful_only: bool) -> tuple[np.ndarray, str]:
    """Which images enter the ROCs, and the rule in words: with ``successful_only`` those classified correctly
    whose attack succeeded (ML-LOO's protocol), else every image."""
    labels = np.asarray(labels)
    if not successful_only:
        return np.ones(len(labels), dtype=bool), "every image (also those the attack did not fool)"
    used = (np.asarray(predictions) == labels) & (np.asarray(adv_predictions) != labels)
    return used, "clean image classified correctly and the attack successful (ML-LOO's protocol)"


def _interval_text(count: int, resamples: int, seed: int) -> str:
    return (f"{CI_LEVEL:.0%} percentile bootstrap over the {count} images used, paired (an image's clean and "
            f"adversarial scores are resampled together), {resamples} resamples, seed {seed}; it covers the draw of "
            f"the images and, through each image's own seed, the attack's random start and the sampled pairs and "
            f"contexts")


def reselect(study: DetectionStudy, successful_only: bool) -> DetectionStudy:
    """The same study under the other image rule (:func:`image_rule`): ROCs, AUCs and intervals recomputed from
    the stored scores of every image, with the study's bootstrap settings; no forward pass."""
    used, rule = image_rule(study.labels, study.predictions, study.adv_predictions, successful_only)
    resamples, seed = int(study.params["resamples"]), int(study.params["seed"])
    rocs, contrast = detection_rocs(np.asarray(study.scores), used, resamples=resamples, seed=seed)
    return dataclasses.replace(study, used=used, used_rule=rule, detectors=rocs, high_minus_low=contrast,
                               ci=_interval_text(int(used.sum()), resamples, seed),
                               params={**study.params, "successful_only": bool(successful_only)})


def detection_settings(attack: Optional[dict] = None, **profile_kwargs) -> dict[str, dict[str, Any]]:
    """The settings of a detection study as plain JSON values: PGD's (``attack``: the dashboard's default attack
    updated with ``attack``) and the order profile's (``profile``: the dashboard's, updated with
    ``profile_kwargs``; the pair count fitted to the grid when not given), at the orders of
    :data:`DETECTION_RATIOS`, each input scored for its predicted class."""
    profile = {**{k: DEFAULTS[k] for k in PROFILE_KEYS if k not in ("ratios", "target")}, **profile_kwargs}
    if "pair_count" not in profile_kwargs:
        profile["pair_count"] = default_pair_count(profile["grid"], profile["pairs"], DEFAULTS["pair_count"])
    profile.update(ratios=DETECTION_RATIOS, target="predicted")
    return plain({"attack": attack_settings(attack), "profile": profile})


@dataclass
class DetectionImage(Result):
    """One gallery image of a detection study: ``scores`` (D, 2), each detector's (order of :data:`DETECTORS`)
    score of the clean and the adversarial input; the image's label, the model's predictions before and after
    the attack, and the forward passes of the LOO maps and the profiles."""

    scores: np.ndarray
    label: int
    prediction: int
    adv_prediction: int
    grid: str
    n: int
    forward_passes: int


def detection_image(model: nn.Module, x, label: int, seed: int, settings: dict[str, dict[str, Any]], *,
                    device=None) -> DetectionImage:
    """PGD on one image with ``settings["attack"]``, then the three detectors' scores of x and x' (each input
    scored for its predicted class), seeded with the image's ``seed``."""
    profile, (model, device) = settings["profile"], on_device(model, device)
    attack = run_attack(model, x, label, value=profile["value"], seed=seed, device=device, **settings["attack"])
    x_adv = attack.x_adv[0].cpu()
    loo = leave_one_out_map(model, x, x_adv, label=label, grid=profile["grid"], baseline=profile["baseline"],
                            value=profile["value"], device=device)
    game_settings = {k: v for k, v in profile.items() if k in GAME_OPTIONS}
    options = {k: v for k, v in profile.items() if k not in GAME_OPTIONS}
    profiles = [interaction_profile(image_game(model, image, label, device=device, **game_settings), seed=seed,
                                    **options) for image in (x, x_adv)]
    scores = np.array([[attribution.iqr, *band_scores(p)] for attribution, p in zip((loo.clean, loo.adversarial),
                                                                                     profiles)]).T   # (D, 2)
    return DetectionImage(scores=scores, label=int(label), prediction=int(loo.clean.prediction),
                          adv_prediction=int(loo.adversarial.prediction), grid=loo.grid, n=int(loo.n),
                          forward_passes=int(loo.forward_passes + sum(p.forward_passes for p in profiles)))


def detection_study(model: nn.Module, *, model_name: str, images: Optional[Sequence[int]] = None,
                    successful_only: bool = True, attack: Optional[dict] = None, resamples: int = 2000,
                    seed: int = 0, device=None, gallery=None, progress: Optional[ProgressFn] = None,
                    **profile_kwargs) -> DetectionStudy:
    """PGD on each gallery image of ``images`` (default all), then the three detectors' scores of x and x'
    (:func:`detection_image`, with the image's own seed) and their ROCs (:func:`combine_detection`; module
    docstring).

    ``attack``: PGD settings over the dashboard's default ones; ``profile_kwargs``: settings of
    :func:`mimi.analysis.interaction_profile` (default the dashboard's: grid, pairs, pair count fitted to the
    grid, samples, contexts, coverage, baseline, value) at the orders of :data:`DETECTION_RATIOS`; ``resamples``
    bootstrap resamples (100..100,000). ``progress`` is told (images done, images, message). ``mimi defenses``
    runs the same images as jobs of the job engine (:mod:`mimi.batch.gallery`)."""
    start = time.perf_counter()
    bootstrap_weights(2, resamples, seed)   # bound check before any work
    settings = detection_settings(attack, **profile_kwargs)
    model, device = on_device(model, device)
    indices, per_image = each_gallery_image(
        images, lambda b, index, x, label: detection_image(model, x, label, gallery_image_seed(seed, index), settings,
                                                           device=device),
        gallery=gallery, progress=progress)
    return combine_detection(per_image, indices, model_name=model_name, settings=settings,
                             successful_only=successful_only, resamples=resamples, seed=seed, device=str(device),
                             wall_time_s=time.perf_counter() - start)


def combine_detection(per_image: Sequence[DetectionImage], indices: Sequence[int], *, model_name: str,
                      settings: dict[str, dict[str, Any]], successful_only: bool, resamples: int, seed: int,
                      device: str, wall_time_s: float) -> DetectionStudy:
    """The DetectionStudy of the images' scores (one DetectionImage per gallery index): the images the rule
    keeps (:func:`image_rule`), ROCs, AUCs and paired-bootstrap intervals (:func:`detection_rocs`)."""
    scores = np.stack([np.asarray(image.scores, dtype=np.float64) for image in per_image], axis=1)   # (D, B, 2)
    labels, predictions, adv_predictions = (np.array([getattr(image, name) for image in per_image], dtype=np.int64)
                                            for name in ("label", "prediction", "adv_prediction"))
    used, rule = image_rule(labels, predictions, adv_predictions, successful_only)
    rocs, contrast = detection_rocs(scores, used, resamples=resamples, seed=seed)
    last = per_image[-1]
    return DetectionStudy(
        model=model_name, grid=last.grid, n=last.n, selection=describe_selection(indices),
        images=np.asarray(indices, dtype=np.int64), labels=labels, predictions=predictions,
        adv_predictions=adv_predictions, attack_success=float(np.mean(adv_predictions != labels)), used=used,
        used_rule=rule, detectors=rocs, scores=scores, high_minus_low=contrast,
        ci=_interval_text(int(used.sum()), resamples, seed),
        forward_passes=int(sum(image.forward_passes for image in per_image)), wall_time_s=float(wall_time_s),
        params=plain({**settings["profile"], **settings["attack"], "successful_only": bool(successful_only),
                       "resamples": resamples, "seed": seed, "per_image_seed": "SeedSequence([seed, gallery index])",
                       "device": device}))
