"""Interaction strength by order over images: the normalized order profiles of the defenses page.

Claims read off here (Ren et al.; Zhang et al. 2021): Cutout and adversarial training keep low-order
interactions and suppress high-order ones; dropout lowers interaction strength. For image b and order m,

    s_b^(m) = mean over the image's pairs (i, j) of |I^(m)(i, j)|

(the numerator of D^(m), :func:`mimi.analysis.disentanglement`: bias-corrected, sqrt(max(Î² - SE², 0)) per
pair, because a plug-in |Î| is biased upward where interactions are small). Over the B images:

- strength     S^(m) = mean_b s_b^(m), in units of the value function (log-odds by default), SE sd_b / sqrt(B);
- share        N^(m) = Σ_b s_b^(m) / Σ_b Σ_{m'} s_b^(m'), the strength of order m as a fraction of the sum
               over the orders computed (the normalized order profile: the shares sum to 1);
- band share   the sum of N^(m) over a band of orders: low r < 1/3, high r ≥ 2/3 (:data:`BANDS`);
- total        mean_b Σ_m s_b^(m), the overall strength that dropout is said to lower.

Shares and band shares are ratios of sums over images; their SE is the delete-one-image jackknife.
Every image has its own pairs and contexts (its own seed), so the SEs cover the images, the pairs drawn
and the contexts. Orders m = 0 and n-2 are not in D^(m)'s default orders (D = 1 there by construction),
so the shares are over r = 0.1 … 0.95 of the paper's ratios.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

import numpy as np
import torch
from torch import nn

from mimi.analysis import DEFAULTS, default_pair_count
from mimi.analysis.across_images import ImageContributions, image_contributions, image_plan, pool_contributions
from mimi.analysis.checks import check_grid, check_samples, disentanglement_orders
from mimi.analysis.gallery import each_gallery_image, plain
from mimi.core.games import on_device, predict, resolve_targets
from mimi.core.players import parse_grid_spec
from mimi.core.progress import ProgressFn
from mimi.core.results import Result
from mimi.core.stats import ratio_jackknife_se

#: Order bands as ranges of the ratio r = m / (n - 2): low [0, 1/3), high [2/3, 1].
BANDS = {"low": (0.0, 1 / 3), "high": (2 / 3, 1.0)}
#: The disentanglement settings of the gallery strength (the dashboard's D^(m), :data:`mimi.analysis.DEFAULTS`: 8 pairs
#: per image, 4 samples).
GALLERY_SETTINGS = {"pair_count": DEFAULTS["disentanglement_pair_count"], "samples": DEFAULTS["disentanglement_samples"]}


def band_mask(ratios, band: str) -> np.ndarray:
    """Which orders (by their ratio r) are in ``band``: "low" r < 1/3, "high" r ≥ 2/3."""
    if band not in BANDS:
        raise ValueError(f"unknown order band {band!r}; choose {', '.join(BANDS)}")
    low, high = BANDS[band]
    r = np.asarray(ratios, dtype=np.float64)
    return (r >= low) & (r < high) if band == "low" else (r >= low - 1e-12) & (r <= high)


@dataclass
class OrderStrength(Result):
    """Interaction strength per order over ``count`` images for model ``model`` (module docstring).

    ``strength``/``strength_se`` S^(m); ``share``/``share_se`` N^(m); ``bands`` {"low"|"high": {"share",
    "se", "ratios"}}; ``total``/``total_se``; ``per_image`` (B, M) the s_b^(m). ``estimand``,
    ``normalization`` and ``se_covers`` say it in words; ``source`` what it was computed from."""

    model: str
    orders: np.ndarray
    ratios: np.ndarray
    n: int
    grid: str
    count: int
    estimand: str
    normalization: str
    se_covers: str
    strength: np.ndarray
    strength_se: np.ndarray
    share: np.ndarray
    share_se: np.ndarray
    bands: dict
    total: float
    total_se: float
    per_image: np.ndarray
    source: str
    params: dict = field(default_factory=dict)

    def summary(self) -> str:
        """One line: the low and high bands' shares and the total strength, ± 1 SE."""
        low, high = self.bands["low"], self.bands["high"]
        return (f"{self.model} over {self.count} images: share of interaction strength in low orders (r < 1/3) "
                f"{low['share']:.3f} ± {low['se']:.3f}, high orders (r ≥ 2/3) {high['share']:.3f} ± {high['se']:.3f}; "
                f"total strength Σ_m mean|I^(m)| {self.total:.3f} ± {self.total_se:.3f}")


def order_strength(result, model_name: str, source: str = "") -> OrderStrength:
    """The normalized order profile of a :class:`mimi.analysis.Disentanglement` over B >= 2 images."""
    per_image = getattr(result, "strength", None)
    if per_image is None:
        raise ValueError("this disentanglement result has no per-image strength (computed before mimi kept it); "
                         "recompute it")
    per_image = np.asarray(per_image, dtype=np.float64)
    count, orders = per_image.shape
    if count < 2:
        raise ValueError(f"interaction strength across images needs at least 2 images, got {count}")
    totals = per_image.sum(axis=1, keepdims=True)                      # (B, 1) Σ_m s_b^(m)
    whole = np.broadcast_to(totals, per_image.shape)
    share = per_image.sum(axis=0) / totals.sum()
    bands = {}
    for band in BANDS:
        inside = band_mask(result.ratios, band)
        part = per_image[:, inside].sum(axis=1, keepdims=True)
        bands[band] = {"share": float(part.sum() / totals.sum()),
                       "se": float(ratio_jackknife_se(part, totals)[0]),
                       "ratios": [float(r) for r in np.asarray(result.ratios)[inside]]}
    numerator = "bias-corrected sqrt(max(Î² - SE², 0))" if result.debiased else "plug-in |Î|"
    return OrderStrength(
        model=model_name, orders=np.asarray(result.orders), ratios=np.asarray(result.ratios), n=int(result.n),
        grid=result.grid, count=count,
        estimand=(f"s^(m) = mean over each image's pairs (drawn from the {result.params.get('pairs', 'given')} pair set "
                  f"of the {result.grid} grid) of |I^(m)(i, j)|, {numerator} per pair, averaged over {count} images"),
        normalization=("share N^(m) = Σ_images s^(m) / Σ_images Σ_m' s^(m') over the orders shown, so the shares "
                       "sum to 1; low band r < 1/3, high band r ≥ 2/3"),
        se_covers=("the images (strength: sd across images / sqrt(B); shares: delete-one-image jackknife); each "
                   "image has its own pairs and contexts, so this also covers those draws"),
        strength=per_image.mean(axis=0), strength_se=per_image.std(axis=0, ddof=1) / np.sqrt(count),
        share=share, share_se=ratio_jackknife_se(per_image, whole), bands=bands,
        total=float(totals.mean()), total_se=float(totals.std(ddof=1) / np.sqrt(count)), per_image=per_image,
        source=source, params=dict(result.params))


def strength_settings(**settings) -> dict[str, Any]:
    """The settings of the gallery strength as plain JSON values: the dashboard's interaction settings and
    :data:`GALLERY_SETTINGS`, updated with ``settings`` (a pair count not given is fitted to the grid,
    :func:`mimi.analysis.default_pair_count`)."""
    kwargs = {**{k: DEFAULTS[k] for k in ("grid", "pairs", "coverage", "baseline", "value", "target")},
              **GALLERY_SETTINGS, **settings}
    if "pair_count" not in settings:
        kwargs["pair_count"] = default_pair_count(kwargs["grid"], kwargs["pairs"], GALLERY_SETTINGS["pair_count"])
    return plain(kwargs)


def strength_image(model: nn.Module, x: torch.Tensor, label: int, seed: int, settings: dict[str, Any], *,
                   position: int, device=None) -> ImageContributions:
    """The D^(m) contributions of the gallery image at ``position`` b of the selection, as
    :func:`mimi.analysis.disentanglement` computes them for image b of its batch (seed and pairs drawn from
    (``seed``, b)), with resolved ``settings`` (:func:`strength_settings`)."""
    model, device = on_device(model, device)
    grid = check_grid(settings["grid"], *x.shape[-2:])
    orders = disentanglement_orders(grid.n, settings.get("orders"), settings.get("ratios"))[0]
    image_seed, pairs = image_plan(grid, settings["pairs"], settings["pair_count"], seed, position)
    predictions, probabilities = predict(model, x[None])
    target = resolve_targets(settings["target"], [int(label)], predictions, probabilities.shape[1])[0]
    return image_contributions(model, x, label, predictions[0], target, grid=grid, pairs=pairs, orders=orders,
                               samples=check_samples(settings["samples"]), seed=image_seed,
                               coverage=settings["coverage"], contexts=settings.get("contexts"),
                               baseline=settings["baseline"], value=settings["value"], device=device, batch_size=None,
                               precision=settings.get("precision", "float32"))


def combine_strength(parts: Sequence[ImageContributions], indices: Sequence[int], *, model_name: str,
                     settings: dict[str, Any], seed: int, device: str, wall_time_s: float):
    """The Disentanglement of the gallery images' contributions (one per index, in the selection's order), as
    :func:`mimi.analysis.disentanglement` pools them, recording the model and the images."""
    rows, cols = parse_grid_spec(settings["grid"])
    orders, ratios, trivial = disentanglement_orders(rows * cols, settings.get("orders"), settings.get("ratios"))
    debias = bool(settings.get("debias", True))
    params = dict(grid=f"{rows}x{cols}", baseline=settings["baseline"], value=settings["value"], target=settings["target"],
                  pairs=settings["pairs"], pair_count=settings["pair_count"], samples=settings["samples"],
                  contexts=settings.get("contexts"), coverage=settings["coverage"], debias=debias, seed=seed,
                  batch_size=parts[-1].batch_size, device=device, precision=parts[-1].precision,
                  model=model_name, images=[int(i) for i in indices])
    return pool_contributions(parts, grid=f"{rows}x{cols}", n=rows * cols, orders=orders, ratios=ratios, trivial=trivial, debias=debias,
                              wall_time_s=wall_time_s, params=params)


def gallery_strength(model: nn.Module, *, model_name: str, images: Optional[Sequence[int]] = None, seed: int = 0,
                     device=None, gallery=None, progress: Optional[ProgressFn] = None, **settings):
    """D^(m) (as :func:`mimi.analysis.disentanglement` computes it) over the gallery images ``images`` (default all)
    with :func:`strength_settings`, image by image (:func:`strength_image`, :func:`combine_strength`): the
    Disentanglement result, whose :func:`order_strength` is the normalized order profile. ``mimi defenses`` runs
    the same images as jobs of the job engine (:mod:`mimi.batch.gallery`)."""
    start = time.perf_counter()
    resolved = strength_settings(**settings)
    model, device = on_device(model, device)
    indices, parts = each_gallery_image(
        images, lambda b, index, x, label: strength_image(model, x, label, seed, resolved, position=b, device=device),
        gallery=gallery, progress=progress)
    return combine_strength(parts, indices, model_name=model_name, settings=resolved, seed=seed, device=str(device),
                            wall_time_s=time.perf_counter() - start)
