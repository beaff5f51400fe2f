"""Disentanglement D^(m) over a batch of images (:func:`disentanglement`): each image its own game with its own
masks and pairs, pooled as a ratio of sums, with the delete-one-image jackknife SE and a Student-t band
(:mod:`mimi.core.stats`) from two images on (``docs/science.md`` §6.4)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
import torch
from torch import nn

from mimi.analysis.checks import Image, Target, _as_image, check_grid, check_samples, disentanglement_orders
from mimi.analysis.planning import _disentanglement_rows, _image_plans
from mimi.analysis.results import Disentanglement
from mimi.core.compute import BatchProgress
from mimi.core.games import ImageGame, on_device, predict, resolve_targets
from mimi.core.players import Grid
from mimi.core.progress import ProgressFn
from mimi.core.results import Result
from mimi.core.stats import Z95, ratio_jackknife_se, t95
from mimi.interactions import DEFAULT_COVERAGE, sample_disentanglement


@dataclass
class ImageContributions(Result):
    """One image's part of D^(m) (:func:`image_contributions`): per order, the means over its pairs of the
    bias-corrected numerator sqrt(max(Î² - SE², 0)) (``numerator``), of the plug-in |Î| (``numerator_plugin``) and of
    Ê|Δv| (``denominator``); the unit-jackknife SE of the image's own D with each numerator (``se``,
    ``se_plugin``); its label, the model's class (``prediction``) and the class whose value is v (``target``); and
    what its game ran (pairs drawn, units, mask rows, batch size, precision)."""

    numerator: np.ndarray
    numerator_plugin: np.ndarray
    denominator: np.ndarray
    se: np.ndarray
    se_plugin: np.ndarray
    label: int
    prediction: int
    target: int
    pair_count: int
    units: int
    mask_rows: int
    batch_size: int
    precision: str


def image_plan(grid: Grid, pairs, pair_count: Optional[int], seed: int, position: int) -> tuple[int, np.ndarray]:
    """The seed and pairs of the image at ``position`` b of a D^(m) batch: drawn from (``seed``, b)."""
    return _image_plans(grid, pairs, pair_count, seed, position + 1)[position]


def image_contributions(model: nn.Module, image: torch.Tensor, label: int, prediction: int, target: int, *,
                        grid: Grid, pairs: np.ndarray, orders: np.ndarray, samples: int, seed: int, coverage: int,
                        contexts: Optional[int], baseline, value: str, device, batch_size: Optional[int],
                        precision: str, progress=None) -> ImageContributions:
    """One image's game (class ``target``) and its D^(m) contributions over ``pairs`` at ``orders``, seeded with
    the image's ``seed`` (:func:`mimi.interactions.sample_disentanglement`)."""
    game = ImageGame(model, image, int(target), grid=grid, baseline=baseline, value=value, device=device,
                     batch_size=batch_size, precision=precision, progress=progress)
    estimate = sample_disentanglement(game, grid.n, pairs, orders, samples, seed, coverage=coverage, contexts=contexts)
    return ImageContributions(
        numerator=estimate.numerator_debiased[:, 0], numerator_plugin=estimate.numerator[:, 0],
        denominator=estimate.denominator[:, 0], se=estimate.d_debiased_se[:, 0], se_plugin=estimate.d_se[:, 0],
        label=int(label), prediction=int(prediction), target=int(target), pair_count=len(pairs),
        units=int(estimate.units), mask_rows=int(game.mask_rows), batch_size=int(game.batch_size),
        precision=str(game.precision))


def disentanglement(model: nn.Module, images: Image, labels: Sequence[int], *, grid="7x7", orders=None, ratios=None,
                    pairs="neighbors", pair_count: Optional[int] = None, samples: int = 8,
                    contexts: Optional[int] = None, coverage: int = DEFAULT_COVERAGE, debias: bool = True,
                    baseline="mean", value: str = "log-odds", target: Target = "label", seed: int = 0, device=None,
                    batch_size: Optional[int] = None, precision: str = "float32",
                    progress: Optional[ProgressFn] = None) -> Disentanglement:
    """D^(m) = Σ_images Σ_pairs |I^(m)(i, j)| / Σ_images Σ_pairs E_S |Δv(i, j, S)| over B images (B, C, H, W)
    and the pair set. Each image b is its own game with its own masks and pairs (seeded from (seed, b),
    :func:`image_contributions`), so the images are independent replicates and the delete-one-image jackknife SE
    (B >= 2) covers the images, the pair draws and the contexts (:func:`pool_contributions`). ``debias``
    (default): numerator sqrt(max(Î² - SE², 0)) per pair and image (``d_plugin`` keeps the plug-in |Î|). Orders
    m = 0 and n-2 (D = 1 by construction) are left out of ``ratios``, flagged in ``trivial`` when ``orders`` are
    given. ``samples`` iid units per pair and order, each of at most ``contexts`` contexts (None: a whole
    design), as in :func:`interaction_profile`. ``target`` "label" uses each image's label, "predicted" each
    prediction, an int one class for all."""
    start = time.perf_counter()
    samples = check_samples(samples)
    model, device = on_device(model, device)
    batch = torch.as_tensor(np.asarray(images) if not isinstance(images, torch.Tensor) else images).float()
    if batch.ndim != 4 or len(batch) == 0:
        raise ValueError(f"images must be (B, C, H, W) with B >= 1, got shape {tuple(batch.shape)}")
    for b in range(len(batch)):
        _as_image(batch[b], f"image {b}")
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    if len(labels) != len(batch):
        raise ValueError(f"{len(batch)} images need {len(batch)} labels, got {len(labels)}")
    grid_ = check_grid(grid, *batch.shape[-2:])
    preds, probs = predict(model, batch)
    targets = resolve_targets(target, labels.tolist(), preds, probs.shape[1])
    order_values, ratio_values, trivial = disentanglement_orders(grid_.n, orders, ratios)
    plans = _image_plans(grid_, pairs, pair_count, seed, len(batch))
    tracker = BatchProgress(progress)
    tracker.expect(_disentanglement_rows(grid_.n, plans, order_values, samples, coverage, contexts), "disentanglement")
    parts = []
    for b, (image_seed, image_pairs) in enumerate(plans):
        parts.append(image_contributions(
            model, batch[b], labels[b], preds[b], targets[b], grid=grid_, pairs=image_pairs, orders=order_values,
            samples=samples, seed=image_seed, coverage=coverage, contexts=contexts,
            baseline=baseline[b] if isinstance(baseline, torch.Tensor) and baseline.ndim == 4 else baseline,
            value=value, device=device, batch_size=batch_size, precision=precision, progress=tracker))
        batch_size = parts[-1].batch_size
    return pool_contributions(parts, grid=grid_.spec, n=grid_.n, orders=order_values, ratios=ratio_values, trivial=trivial,
                              debias=debias, wall_time_s=time.perf_counter() - start,
                              params=dict(grid=grid_.spec, baseline=baseline if isinstance(baseline, str) else "custom",
                                          value=value, target=target if isinstance(target, str) else int(target),
                                          pairs=pairs if isinstance(pairs, str) else "custom", pair_count=pair_count,
                                          samples=samples, contexts=contexts, coverage=coverage, debias=bool(debias),
                                          seed=seed, batch_size=batch_size, device=str(device),
                                          precision=parts[-1].precision))


def pool_contributions(parts: Sequence[ImageContributions], *, grid: str, n: int, orders: np.ndarray, ratios: np.ndarray,
                       trivial: np.ndarray, debias: bool, wall_time_s: float, params: dict) -> Disentanglement:
    """D^(m) of the images' contributions on the ``grid`` of ``n`` cells, pooled as a ratio of sums, with the delete-one-image jackknife SE and a
    Student-t band from two images on (one image: its own unit-jackknife SE and a normal band)."""
    count = len(parts)
    plugin = np.stack([part.numerator_plugin for part in parts])   # (B, M) means over each image's pairs
    numerator = np.stack([part.numerator for part in parts]) if debias else plugin
    denominator = np.stack([part.denominator for part in parts])
    per_image_se = np.stack([part.se if debias else part.se_plugin for part in parts])
    d = numerator.sum(axis=0) / denominator.sum(axis=0)
    if count >= 2:
        d_se, se_covers = ratio_jackknife_se(numerator, denominator), "images, pairs and contexts"
        quantile = t95(count - 1)
    else:
        d_se, se_covers, quantile = per_image_se[0], "contexts only (one image)", Z95
    mask_rows = int(sum(part.mask_rows for part in parts))
    return Disentanglement(
        orders=orders, ratios=ratios, n=int(n), grid=grid,
        estimand=_disentanglement_estimand(grid, params["pairs"], params["pair_count"], count, debias),
        debiased=bool(debias), trivial=trivial, d=d, d_se=d_se, d_low=np.maximum(d - quantile * d_se, 0.0),
        d_high=np.minimum(d + quantile * d_se, 1.0), se_covers=se_covers,
        d_plugin=plugin.sum(axis=0) / denominator.sum(axis=0), per_image=numerator / denominator,
        per_image_se=per_image_se, strength=numerator,
        labels=np.array([part.label for part in parts], dtype=np.int64),
        targets=np.array([part.target for part in parts], dtype=np.int64),
        predictions=np.array([part.prediction for part in parts], dtype=np.int64),
        pair_count=parts[0].pair_count, forward_passes=mask_rows, mask_rows=mask_rows, units=parts[0].units,
        wall_time_s=float(wall_time_s), params=params)


def _disentanglement_estimand(grid: str, pairs, pair_count: Optional[int], count: int, debias: bool) -> str:
    """The estimand of :func:`disentanglement` in words."""
    names = {"neighbors": f"all 8-neighbour pairs of the {grid} grid", "all": f"all pairs of the {grid} grid"}
    pair_set = names.get(pairs, "the given pairs") if isinstance(pairs, str) else "the given pairs"
    drawn = f" ({pair_count} drawn per image)" if pair_count is not None else ""
    numerator = "bias-corrected numerator sqrt(max(Î² - SE², 0))" if debias else "plug-in numerator |Î|"
    return (f"D^(m) = Σ_images Σ_pairs |I^(m)(i, j)| / Σ_images Σ_pairs E_S |Δv(i, j, S)| over these {count} "
            f"image(s) and {pair_set}{drawn}; {numerator}")
