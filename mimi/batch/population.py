"""Population context for one image: the default view's order profile averaged over the gallery.

:func:`gallery_profile` runs, for each gallery image, PGD with the attack settings of
:data:`mimi.analysis.DEFAULTS` and then the clean + adversarial order profile with its interaction
settings (read from ``DEFAULTS`` at call time), and averages per order over the B images:

    reference^(m) = (1/B) Σ_b Q_b^(m),   SE = sd_b(Q_b^(m)) / sqrt(B)   (sd with ddof = 1),

for Q = clean Ī^(m), adversarial Ī^(m), their difference and ΔJ^(m). Every image has its own seed,
drawn from (seed, gallery index), so its own PGD start, pairs and contexts: the images are independent
replicates, and the SE across images covers the draw of the images and, within each image, that of
the pairs, the contexts and the attack's random start. It does not depend on the order the images are
run in.

``mimi population`` writes one :class:`GalleryProfile` per zoo model to ``assets/population/<model>.json``;
:func:`load_gallery_profile` reads it back, and the dashboard draws it as a faint reference under a
single image's charts (:func:`mimi.figures.profiles.order_profile_figure`, :func:`mimi.figures.profiles.delta_j_figure`)
when :func:`reference_matches` says the settings agree.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
from torch import nn

from mimi import analysis
from mimi.analysis import DEFAULTS
from mimi.analysis.gallery import (PROFILE_ATTACK_KEYS, PROFILE_KEYS, describe_selection, each_gallery_image,
                                   gallery_image_seed, plain)
from mimi.analysis.results import Contrast, Estimated, OrderProfile
from mimi.core.progress import ProgressFn
from mimi.core.results import load_shipped_result
from mimi.data.datasets import ASSETS_DIR

POPULATION_DIR = ASSETS_DIR / "population"


@dataclass
class GalleryProfile(OrderProfile):
    """The default view's order profile (:class:`mimi.analysis.OrderProfile`) averaged over ``count`` gallery
    images for model ``model``.

    ``interaction.clean.mean[k]`` is the mean over the images of each image's clean Ī^(m_k) (``estimand``);
    ``interaction.adversarial``, ``interaction.difference`` (clean − adversarial) and ``utility_by_order``
    (ΔJ^(m), ``delta_j_estimand``) likewise. Every ``se`` is the SE of that mean across images, sd over
    images (ddof 1) / sqrt(count) (``se_covers``). ``images`` are the gallery indices (``selection`` says
    which in words), ``labels``/``predictions``/``adv_predictions`` per image; ``clean_accuracy`` and
    ``attack_success`` the fractions of images classified correctly before and misclassified after PGD;
    ``attack_utility`` the mean v(N|x) − v(N|x'). ``forward_passes``: images run through the model by the
    order profiles (the PGD steps not counted); ``params``: DEFAULTS' settings used, the seed and, from the
    command line, the command.
    """

    model: str
    selection: str
    images: np.ndarray
    count: int
    labels: np.ndarray
    predictions: np.ndarray
    adv_predictions: np.ndarray
    clean_accuracy: float
    attack_success: float
    attack_utility: float
    forward_passes: int
    wall_time_s: float
    params: dict = field(default_factory=dict)


def population_settings() -> dict[str, dict[str, Any]]:
    """The settings of the gallery references, read from :data:`mimi.analysis.DEFAULTS` now (the dashboard's
    current default view; the pair count fitted to the grid, :func:`mimi.analysis.default_pair_count`): the
    order profile's (``profile``) and PGD's (``attack``), as plain JSON values."""
    defaults = analysis.DEFAULTS
    profile = {k: defaults[k] for k in PROFILE_KEYS if k in defaults}
    profile["pair_count"] = analysis.default_pair_count(defaults["grid"], defaults["pairs"], defaults["pair_count"])
    return plain({"profile": profile, "attack": {k: defaults[k] for k in PROFILE_ATTACK_KEYS if k in defaults}})


def population_image(model: nn.Module, x, label: int, seed: int, settings: dict[str, dict[str, Any]], *,
                     device=None) -> OrderProfile:
    """One gallery image's part of the reference: PGD with ``settings["attack"]``, then the clean + adversarial
    order profile with ``settings["profile"]``, both seeded with the image's ``seed``."""
    profile = settings["profile"]
    attack = analysis.run_attack(model, x, label, value=profile["value"], seed=seed, device=device,
                                 **settings["attack"])
    game = analysis.image_game(model, x, label, attack.x_adv[0].cpu(), device=device,
                               **{k: v for k, v in profile.items() if k in analysis.GAME_OPTIONS})
    return analysis.interaction_profile(game, seed=seed,
                                        **{k: v for k, v in profile.items() if k not in analysis.GAME_OPTIONS})


def gallery_profile(model: nn.Module, *, images: Optional[Sequence[int]] = None, model_name: str, seed: int = 0,
                    progress: Optional[ProgressFn] = None, device=None, gallery=None) -> GalleryProfile:
    """PGD then the clean + adversarial order profile with :func:`population_settings` on each gallery image of
    ``images`` (indices; default all 100; :func:`population_image` with the image's own seed), averaged per order
    with the SE across images (:func:`summarize`).

    ``gallery`` is an :class:`mimi.data.datasets.ImageSet` (default :func:`mimi.data.datasets.load_gallery`). ``progress``
    is told (images done, images, message) after each image. At least 2 images (an SE across images). ``mimi
    population`` runs the same images as jobs of the job engine (:mod:`mimi.batch.gallery`)."""
    start = time.perf_counter()
    settings = population_settings()
    indices, profiles = each_gallery_image(
        images, lambda b, index, x, label: population_image(model, x, label, gallery_image_seed(seed, index), settings,
                                                            device=device),
        gallery=gallery, progress=progress)
    return summarize(profiles, indices, model_name=model_name, seed=seed, settings=settings,
                     wall_time_s=time.perf_counter() - start)


def summarize(profiles: Sequence[Any], indices: Sequence[int], *, model_name: str, seed: int,
              settings: dict[str, dict[str, Any]], wall_time_s: float) -> GalleryProfile:
    """The GalleryProfile of per-image InteractionProfiles (one per gallery index, same orders and settings:
    :func:`population_settings`)."""
    if len(profiles) < 2:
        raise ValueError(f"the SE across images needs at least 2 gallery images, got {len(profiles)}")
    first, count = profiles[0], len(profiles)
    for p in profiles[1:]:
        if not np.array_equal(p.orders, first.orders) or p.grid != first.grid or p.pair_set != first.pair_set:
            raise ValueError("the per-image profiles differ in orders, grid or pair set; they cannot be averaged")

    def across_images(per_image: list[Estimated]) -> Estimated:
        values = np.stack([np.asarray(e.mean, dtype=np.float64) for e in per_image])  # (B, M)
        return Estimated(values.mean(axis=0), values.std(axis=0, ddof=1) / np.sqrt(count))

    labels = np.array([p.label for p in profiles], dtype=np.int64)
    predictions = np.array([p.prediction for p in profiles], dtype=np.int64)
    adv_predictions = np.array([-1 if p.adv_prediction is None else p.adv_prediction for p in profiles], dtype=np.int64)
    utilities = [p.attack_utility for p in profiles if p.attack_utility is not None]
    images_words = f"{count} gallery images"
    return GalleryProfile(
        model=model_name, orders=np.asarray(first.orders), ratios=np.asarray(first.ratios), n=int(first.n),
        grid=first.grid, pair_set=first.pair_set, pair_set_size=int(first.pair_set_size),
        estimand=f"mean over {images_words} of: {first.estimand}",
        delta_j_estimand=f"mean over {images_words} of: {first.delta_j_estimand}",
        se_covers=("the images (sd across images / sqrt(B)); each image has its own PGD start, pairs and "
                   "contexts, so this also covers those draws"),
        selection=describe_selection(indices), images=np.asarray(indices, dtype=np.int64), count=count,
        labels=labels, predictions=predictions, adv_predictions=adv_predictions,
        clean_accuracy=float(np.mean(predictions == labels)),
        attack_success=float(np.mean(adv_predictions != labels)),
        attack_utility=float(np.mean(utilities)) if utilities else float("nan"),
        interaction=Contrast.merge([p.interaction for p in profiles], across_images),
        utility_by_order=(None if first.utility_by_order is None
                          else across_images([p.utility_by_order for p in profiles])),
        forward_passes=int(sum(p.forward_passes for p in profiles)), wall_time_s=float(wall_time_s),
        params=plain({**settings["profile"], **settings["attack"], "seed": int(seed), "per_image_seed": "SeedSequence([seed, gallery index])",
                       "device": first.params.get("device"), "precision": first.params.get("precision"),
                       "batch_size": first.params.get("batch_size")}))


# --------------------------------------------------------------------------- files
def reference_path(name: str, folder: str | Path = POPULATION_DIR) -> Path:
    return Path(folder) / f"{name}.json"


def load_gallery_profile(name: str, folder: str | Path = POPULATION_DIR) -> Optional[GalleryProfile]:
    """The shipped gallery reference of model ``name``, or None when there is none.

    A file that cannot be read as a GalleryProfile of that model raises ValueError with a one-line
    message naming the file and the command that rewrites it."""
    path = reference_path(name, folder)
    if not path.exists():
        return None
    fix = f"recompute it with `mimi population --models {name}`"
    result = load_shipped_result(path, "gallery reference", fix, GalleryProfile)
    problem = _inconsistency(result, name)
    if problem:
        raise ValueError(f"the gallery reference {path} is inconsistent ({problem}); {fix}")
    return result


def _inconsistency(result: GalleryProfile, name: str) -> str:
    """What is wrong with a GalleryProfile read from a file ("" when nothing)."""
    if result.model != name:
        return f"it is for model {result.model!r}, not {name!r}"
    if result.interaction is None or result.interaction.clean is None:
        return "it has no clean profile"
    size = len(np.atleast_1d(result.orders))
    for path, estimate in result.estimates().items():
        if estimate is not None and (np.shape(estimate.mean) != (size,) or np.shape(estimate.se) != (size,)):
            return f"{path} does not have one mean and one SE per order"
    if len(np.atleast_1d(result.ratios)) != size or len(np.atleast_1d(result.images)) != result.count:
        return "the ratios or the images do not match the orders or the count"
    return ""


# --------------------------------------------------------------------------- matching
def reference_matches(profile: Any, reference: Any) -> bool:
    """Whether a gallery reference shows the same quantity as a single image's profile: the same orders
    (and ratios), grid, pair set, value function and baseline. A custom pair set or baseline never matches."""
    try:
        params = getattr(profile, "params", None) or {}
        ref_params = getattr(reference, "params", None) or {}
        orders, ref_orders = np.asarray(profile.orders), np.asarray(reference.orders)
        return bool(
            orders.shape == ref_orders.shape and np.array_equal(orders, ref_orders)
            and np.allclose(np.asarray(profile.ratios, dtype=float), np.asarray(reference.ratios, dtype=float))
            and profile.grid == reference.grid
            and profile.pair_set == reference.pair_set and reference.pair_set != "custom"
            and int(profile.pair_set_size) == int(reference.pair_set_size)
            and params.get("value") is not None and params.get("value") == ref_params.get("value")
            and params.get("baseline") not in (None, "custom") and params.get("baseline") == ref_params.get("baseline"))
    except (AttributeError, TypeError, ValueError):
        return False


def without_attack(reference: GalleryProfile) -> GalleryProfile:
    """The reference with only its clean profile: for a view whose attack differs from the default one."""
    return dataclasses.replace(reference, interaction=Contrast(reference.interaction.clean), utility_by_order=None)


def attack_is_default(eps: float, steps: int, norm: str, *, step_size: Optional[float] = None, restarts: int = 1,
                      targeted: Optional[int] = None, stop_utility: Optional[float] = None,
                      early_stop: bool = False, **_: Any) -> bool:
    """Whether PGD settings (keyword arguments of :func:`mimi.attacks.pgd`) are DEFAULTS' attack, as the
    references were computed (the default step 2.5 eps / steps, one restart, untargeted, all steps)."""
    return (abs(float(eps) - float(DEFAULTS["eps"])) < 1e-12 and int(steps) == int(DEFAULTS["steps"])
            and norm == DEFAULTS["norm"] and step_size is None and int(restarts) == 1 and targeted is None
            and stop_utility == DEFAULTS["stop_utility"] and not early_stop)
