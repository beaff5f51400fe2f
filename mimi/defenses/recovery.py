"""Recovery: how much of an attack is undone by restoring the clean pixels of a few cells.

**mimi's operational definition.** x is the clean image, x' = x + δ its adversarial version, y the true
class and v the value of y on the whole input (:mod:`mimi.core.values`, log-odds by default); the attacking
utility is U = v(x) - v(x'). Rank the cells by |Δφ_i| = |φ_i(x) - φ_i(x')|, the change of their Shapley
values (the usual game: absent cells at the baseline; both images on the same sampled permutations,
:func:`mimi.analysis.shapley_map`), largest first. x'_k is x' with the clean pixels of the k top-ranked
cells restored. The fraction of the attacking utility undone by k cells is

    R(k) = (v(x') - v(x'_k)) / (v(x') - v(x)) = (v(x'_k) - v(x')) / U,      R(0) = 0, R(n) = 1,

and the **recoverability** of x' is the area under that curve over k/n in [0, 1] (trapezoid rule),
ρ = (1/n) [Σ_{k=1}^{n-1} R(k) + 1/2]: 1 when restoring the first cell undoes the whole attack, 1/2 for a
straight line. The baseline restores the cells in a uniformly random order (R(k) averaged over
``random_orders`` orders). R(k) may leave [0, 1] in between: v is not monotone in the restored cells.

The inputs x'_k are the coalitions of the perturbation game u(S) = v(x' on the cells of S, x elsewhere)
(an :class:`mimi.core.games.ImageGame` of x' with the baseline x): x'_k = N minus the k first cells, so every
curve of an image is one batch of (1 + random_orders)(n + 1) inputs.

Over gallery images (:func:`recovery_study`) each image has its own seed (PGD start, Shapley
permutations, random orders); the curves are averaged over the images whose utility U is at least
``min_utility`` (the ratio is unstable when U is near 0), with SE = sd over images / sqrt(B), which covers
the images, the attack's start, the Shapley estimate's permutations (they set the ranking) and the random
orders.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

import numpy as np
from torch import nn

from mimi.analysis import DEFAULTS, image_game, shapley_map
from mimi.analysis.checks import _as_image
from mimi.analysis.gallery import attack_settings, describe_selection, each_gallery_image, gallery_image_seed, plain
from mimi.analysis.workflows import run_attack
from mimi.core.compute import BatchProgress
from mimi.core.games import ImageGame, on_device
from mimi.core.progress import ProgressFn
from mimi.core.results import GalleryStudy, Result

MAX_RANDOM_ORDERS = 256
DEFAULT_RANDOM_ORDERS = 8


def recovered_fraction(values: np.ndarray) -> np.ndarray:
    """R(k) = (u_0 - u_k) / (u_0 - u_n) from the values u_k = v(x'_k), k = 0..n, on the last axis."""
    values = np.asarray(values, dtype=np.float64)
    return (values[..., :1] - values) / (values[..., :1] - values[..., -1:])


def area_under(fractions: np.ndarray) -> np.ndarray:
    """ρ = trapezoid area of R(k) over k/n in [0, 1], on the last axis (n + 1 points)."""
    fractions = np.asarray(fractions, dtype=np.float64)
    inner = fractions[..., 1:-1].sum(axis=-1)
    return (inner + 0.5 * (fractions[..., 0] + fractions[..., -1])) / (fractions.shape[-1] - 1)


def restoration_masks(order: np.ndarray) -> np.ndarray:
    """(..., n + 1, n) masks of x'_k for cell orders (..., n): row k keeps x' on every cell but the k first."""
    order = np.asarray(order)
    n = order.shape[-1]
    position = np.argsort(order, axis=-1)                      # position of each cell in its order
    return position[..., None, :] >= np.arange(n + 1)[:, None]


def check_random_orders(random_orders: int) -> int:
    if isinstance(random_orders, bool) or not isinstance(random_orders, (int, np.integer)) \
            or not 2 <= random_orders <= MAX_RANDOM_ORDERS:
        raise ValueError(f"random_orders must be an integer in 2..{MAX_RANDOM_ORDERS}, got {random_orders!r}")
    return int(random_orders)


@dataclass
class RecoveryCurve(Result):
    """R(k), k = 0..n, for one image (module docstring): ``ranked`` restores the cells by |Δφ| (``order``),
    ``random`` the mean over ``random_orders`` uniformly random orders (``random_se`` its SE over them).
    ``shapley_change`` (rows, cols) Δφ = φ(x) - φ(x'); ``recoverability``/``random_recoverability`` the areas;
    ``v_clean``/``v_adv`` v(x)/v(x') of the true class; ``attack_utility`` U = v(x) - v(x')."""

    grid: str
    n: int
    label: int
    prediction: int
    adv_prediction: int
    k: np.ndarray
    ranked: np.ndarray
    random: np.ndarray
    random_se: np.ndarray
    order: np.ndarray
    shapley_change: np.ndarray
    v_clean: float
    v_adv: float
    attack_utility: float
    recoverability: float
    random_recoverability: float
    forward_passes: int
    wall_time_s: float
    params: dict = field(default_factory=dict)


def recovery_curve(model: nn.Module, image, label: int, adv_image, *, grid="7x7", samples: int = 16,
                   random_orders: int = DEFAULT_RANDOM_ORDERS, baseline="mean", value: str = "log-odds", seed: int = 0,
                   device=None, batch_size: Optional[int] = None, precision: str = "float32",
                   progress: Optional[ProgressFn] = None) -> RecoveryCurve:
    """R(k) for every k with the cells ranked by |Δφ| (``samples`` antithetic permutation pairs for the
    Shapley values) and for ``random_orders`` random orders (seeded by ``seed``). ValueError when the attack
    left the true class's value unchanged (U = 0: nothing to recover)."""
    start = time.perf_counter()
    if label is None or isinstance(label, bool) or not isinstance(label, (int, np.integer)):
        raise ValueError(f"recovery needs the true class of the image (an integer label), got {label!r}")
    random_orders = check_random_orders(random_orders)
    model, device = on_device(model, device)
    x, x_adv = _as_image(image), _as_image(adv_image, "adv_image")
    tracker = BatchProgress(progress)     # one progress bar over both computations
    common = dict(grid=grid, value=value, device=device, batch_size=batch_size, precision=precision, progress=tracker)
    shapley = shapley_map(image_game(model, x, int(label), x_adv, baseline=baseline, target="label", **common),
                          samples=samples, seed=seed)
    change = np.asarray(shapley.phi.difference.mean).reshape(-1)
    n = shapley.n
    ranked_order = np.argsort(-np.abs(change), kind="stable")
    rng = np.random.default_rng(seed)
    random_order = np.argsort(rng.random((random_orders, n)), axis=1)
    masks = restoration_masks(np.concatenate([ranked_order[None], random_order]))   # (1 + R, n + 1, n)
    game = ImageGame(model, x_adv, int(label), baseline=x, **common)
    game.expect(masks.shape[0] * masks.shape[1], "recovery curves")
    values = game(masks.reshape(-1, n)).reshape(masks.shape[:2])
    if values[0, 0] == values[0, -1]:
        raise ValueError("the attack did not change the value of the true class (utility 0): there is nothing "
                         "to recover")
    fractions = recovered_fraction(values)
    areas = area_under(fractions)
    return RecoveryCurve(
        grid=shapley.grid, n=n, label=int(label), prediction=shapley.prediction,
        adv_prediction=int(shapley.adv_prediction), k=np.arange(n + 1), ranked=fractions[0],
        random=fractions[1:].mean(axis=0), random_se=fractions[1:].std(axis=0, ddof=1) / np.sqrt(random_orders),
        order=ranked_order, shapley_change=shapley.phi.difference.mean, v_clean=float(values[0, -1]),
        v_adv=float(values[0, 0]),
        attack_utility=float(values[0, -1] - values[0, 0]), recoverability=float(areas[0]),
        random_recoverability=float(areas[1:].mean()),
        forward_passes=shapley.forward_passes + game.forward_passes, wall_time_s=time.perf_counter() - start,
        params={**shapley.params, "samples": samples, "random_orders": random_orders, "seed": seed})


@dataclass
class RecoveryStudy(GalleryStudy):
    """Recovery curves over gallery images for model ``model``.

    Per image (axis B, gallery indices ``images``): ``attack_utility`` U, ``ranked``/``random`` R(k) (B, n + 1)
    and ``recoverability``/``random_recoverability`` ρ (B,). ``used`` marks the images with U ≥
    ``min_utility``; over them, ``ranked_mean``/``ranked_se``, ``random_mean``/``random_se`` per k and
    ``areas`` {"ranked", "random", "difference": {"mean", "se"}} of ρ (difference: ranked - random, per
    image), with SE = sd over the images used / sqrt(B) (``se_covers``)."""

    attack_utility: np.ndarray
    min_utility: float
    used: np.ndarray
    k: np.ndarray
    ranked: np.ndarray
    random: np.ndarray
    recoverability: np.ndarray
    random_recoverability: np.ndarray
    ranked_mean: np.ndarray
    ranked_se: np.ndarray
    random_mean: np.ndarray
    random_se: np.ndarray
    areas: dict
    se_covers: str
    forward_passes: int
    wall_time_s: float
    params: dict = field(default_factory=dict)

    def summary(self) -> str:
        """One line: the images used and the recoverability, ranked vs random, ± 1 SE."""
        s = self.areas
        return (f"{self.model}: {int(np.sum(self.used))} of {len(self.images)} images with utility ≥ "
                f"{self.min_utility:g}; recoverability ρ ± SE: |Δφ|-ranked {s['ranked']['mean']:.3f} ± "
                f"{s['ranked']['se']:.3f}, random order {s['random']['mean']:.3f} ± {s['random']['se']:.3f}, "
                f"difference {s['difference']['mean']:+.3f} ± {s['difference']['se']:.3f}")


def _mean_se(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean over axis 0 and its SE, sd (ddof 1) / sqrt(count)."""
    return values.mean(axis=0), values.std(axis=0, ddof=1) / np.sqrt(len(values))


def recovery_settings(attack: Optional[dict] = None, min_utility: float = 1.0, samples: Optional[int] = None,
                      random_orders: int = DEFAULT_RANDOM_ORDERS, **settings) -> dict[str, Any]:
    """The settings of a recovery study as plain JSON values, checked: PGD's (``attack``: the dashboard's default
    attack updated with ``attack``), the game's (``game``: grid, baseline, value, default the dashboard's),
    ``samples`` Shapley permutation pairs (default the dashboard's), ``random_orders`` and ``min_utility`` (> 0)."""
    if not (isinstance(min_utility, (int, float)) and min_utility > 0):
        raise ValueError(f"min_utility must be a number > 0, got {min_utility!r}")
    check_random_orders(random_orders)
    return plain({"attack": attack_settings(attack),
                  "game": {**{k: DEFAULTS[k] for k in ("grid", "baseline", "value")}, **settings},
                  "samples": DEFAULTS["shapley_samples"] if samples is None else samples,
                  "random_orders": random_orders, "min_utility": min_utility})


@dataclass
class RecoveryImage(Result):
    """One gallery image of a recovery study: its label, the model's predictions before and after PGD, the
    attacking utility U, and its recovery curve (None when U < the study's ``min_utility``)."""

    label: int
    prediction: int
    adv_prediction: int
    utility: float
    curve: Optional[RecoveryCurve]


def recovery_image(model: nn.Module, x, label: int, seed: int, settings: dict[str, Any], *,
                   device=None) -> RecoveryImage:
    """PGD on one image with ``settings["attack"]``, then (when its attacking utility reaches
    ``settings["min_utility"]``) :func:`recovery_curve`, both seeded with the image's ``seed``."""
    game, (model, device) = settings["game"], on_device(model, device)
    attack = run_attack(model, x, label, value=game["value"], seed=seed, device=device, **settings["attack"])
    utility = float(attack.utility[0])
    curve = (recovery_curve(model, x, label, attack.x_adv[0].cpu(), samples=settings["samples"],
                            random_orders=settings["random_orders"], seed=seed, device=device, **game)
             if utility >= settings["min_utility"] else None)
    return RecoveryImage(label=int(attack.labels[0]), prediction=int(attack.clean_pred[0]),
                         adv_prediction=int(attack.adv_pred[0]), utility=utility, curve=curve)


def recovery_study(model: nn.Module, *, model_name: str, images: Optional[Sequence[int]] = None,
                   attack: Optional[dict] = None, min_utility: float = 1.0, samples: Optional[int] = None,
                   random_orders: int = DEFAULT_RANDOM_ORDERS, seed: int = 0, device=None, gallery=None,
                   progress: Optional[ProgressFn] = None, **settings) -> RecoveryStudy:
    """PGD (the dashboard's default attack, updated with ``attack``) on each gallery image of ``images``
    (default all), then :func:`recovery_curve` with the image's own seed (:func:`recovery_image`); curves
    averaged over the images whose attacking utility is at least ``min_utility`` (> 0) by :func:`combine_recovery`.
    ``samples``: Shapley permutation pairs (default the dashboard's); ``settings``: grid, baseline, value
    (default the dashboard's). ``mimi defenses`` runs the same images as jobs of the job engine
    (:mod:`mimi.batch.gallery`)."""
    start = time.perf_counter()
    resolved = recovery_settings(attack, min_utility, samples, random_orders, **settings)
    model, device = on_device(model, device)
    indices, per_image = each_gallery_image(
        images, lambda b, index, x, label: recovery_image(model, x, label, gallery_image_seed(seed, index), resolved,
                                                          device=device),
        gallery=gallery, progress=progress)
    return combine_recovery(per_image, indices, model_name=model_name, settings=resolved, seed=seed,
                            device=str(device), wall_time_s=time.perf_counter() - start)


def combine_recovery(per_image: Sequence[RecoveryImage], indices: Sequence[int], *, model_name: str,
                     settings: dict[str, Any], seed: int, device: str, wall_time_s: float) -> RecoveryStudy:
    """The RecoveryStudy of the images' curves (one RecoveryImage per gallery index): R(k) and ρ averaged over the
    images with a curve, with SEs across them."""
    curves = [image.curve for image in per_image]
    done = [c for c in curves if c is not None]
    min_utility = settings["min_utility"]
    if len(done) < 2:
        raise ValueError(f"only {len(done)} of {len(indices)} image(s) have an attacking utility ≥ {min_utility:g}; "
                         f"at least 2 are needed (use more images or a lower min_utility)")
    first = done[0]
    blank = np.full(first.n + 1, np.nan)
    ranked = np.stack([blank if c is None else c.ranked for c in curves])
    random = np.stack([blank if c is None else c.random for c in curves])
    used = np.array([c is not None for c in curves])
    areas = np.array([np.nan if c is None else c.recoverability for c in curves])
    random_areas = np.array([np.nan if c is None else c.random_recoverability for c in curves])
    ranked_mean, ranked_se = _mean_se(ranked[used])
    random_mean, random_se = _mean_se(random[used])
    area_summary = {}
    for name, values in (("ranked", areas), ("random", random_areas), ("difference", areas - random_areas)):
        mean, se = _mean_se(values[used])
        area_summary[name] = {"mean": float(mean), "se": float(se)}
    column = {name: np.array([getattr(image, name) for image in per_image])
              for name in ("label", "prediction", "adv_prediction", "utility")}
    return RecoveryStudy(
        model=model_name, grid=first.grid, n=first.n, selection=describe_selection(indices),
        images=np.asarray(indices, dtype=np.int64), labels=column["label"].astype(np.int64),
        predictions=column["prediction"].astype(np.int64), adv_predictions=column["adv_prediction"].astype(np.int64),
        attack_utility=column["utility"].astype(np.float64),
        min_utility=float(min_utility), used=used, k=first.k, ranked=ranked, random=random,
        recoverability=areas, random_recoverability=random_areas, ranked_mean=ranked_mean, ranked_se=ranked_se,
        random_mean=random_mean, random_se=random_se, areas=area_summary,
        se_covers=(f"the {int(used.sum())} images used (sd across images / sqrt(B)); each image has its own seed, so "
                   f"this also covers the attack's random start, the Shapley permutations that set the ranking and "
                   f"the random orders"),
        forward_passes=int(sum(c.forward_passes for c in done)), wall_time_s=float(wall_time_s),
        params=plain({**settings["game"], **settings["attack"], "samples": settings["samples"],
                       "random_orders": settings["random_orders"], "min_utility": min_utility, "seed": seed,
                       "per_image_seed": "SeedSequence([seed, gallery index])", "device": device}))
