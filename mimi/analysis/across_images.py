"""Disentanglement D^(m) over a batch of images (:func:`disentanglement`): each image its own game with its own
masks and pairs, pooled as a ratio of sums, with the delete-one-image jackknife SE and a Student-t band
(:mod:`mimi.core.stats`) from two images on (``docs/science.md`` §6.4)."""

from __future__ import annotations

import time
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
from mimi.core.stats import Z95, ratio_jackknife_se, t95
from mimi.interactions import DEFAULT_COVERAGE, sample_disentanglement


def disentanglement(model: nn.Module, images: Image, labels: Sequence[int], *, grid="7x7", orders=None, ratios=None,
                    pairs="neighbors", pair_count: Optional[int] = None, samples: int = 8,
                    contexts: Optional[int] = None, coverage: int = DEFAULT_COVERAGE, debias: bool = True,
                    baseline="mean",
                    value: str = "log-odds", target: Target = "label", seed: int = 0, device=None, batch_size: Optional[int] = None, precision: str = "float32",
                    progress: Optional[ProgressFn] = None) -> Disentanglement:
    """D^(m) = Σ_images Σ_pairs |I^(m)(i, j)| / Σ_images Σ_pairs E_S |Δv(i, j, S)| over B images (B, C, H, W)
    and the pair set. Each image b is its own game with its own masks and pairs (seeded from (seed, b)),
    so the images are independent replicates and the delete-one-image jackknife SE (B >= 2) covers the
    images, the pair draws and the contexts. ``debias`` (default): numerator sqrt(max(Î² - SE², 0)) per
    pair and image (``d_plugin`` keeps the plug-in |Î|). Orders m = 0 and n-2 (D = 1 by construction)
    are left out of ``ratios``, flagged in ``trivial`` when ``orders`` are given. ``samples`` iid units per
    pair and order, each of at most ``contexts`` contexts (None: a whole design), as in
    :func:`interaction_profile`. ``target`` "label" uses each image's label, "predicted" each prediction, an int one class for all."""
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
    n, count = grid_.n, len(batch)
    order_values, ratio_values, trivial = disentanglement_orders(n, orders, ratios)
    plans = _image_plans(grid_, pairs, pair_count, seed, count)
    tracker = BatchProgress(progress)
    tracker.expect(_disentanglement_rows(n, plans, order_values, samples, coverage, contexts), "disentanglement")
    estimates, mask_rows = [], 0
    for b, (image_seed, image_pairs) in enumerate(plans):
        image_baseline = baseline[b] if isinstance(baseline, torch.Tensor) and baseline.ndim == 4 else baseline
        game = ImageGame(model, batch[b], int(targets[b]), grid=grid_, baseline=image_baseline, value=value,
                         device=device, batch_size=batch_size, precision=precision, progress=tracker)
        batch_size = game.batch_size
        estimates.append(sample_disentanglement(game, n, image_pairs, order_values, samples, image_seed,
                                                coverage=coverage, contexts=contexts))
        mask_rows += game.mask_rows
    plugin = np.stack([e.numerator[:, 0] for e in estimates])  # (B, M) means over each image's pairs
    numerator = np.stack([e.numerator_debiased[:, 0] for e in estimates]) if debias else plugin
    denominator = np.stack([e.denominator[:, 0] for e in estimates])
    per_image_se = np.stack([(e.d_debiased_se if debias else e.d_se)[:, 0] for e in estimates])
    d = numerator.sum(axis=0) / denominator.sum(axis=0)
    if count >= 2:
        d_se, se_covers = ratio_jackknife_se(numerator, denominator), "images, pairs and contexts"
        quantile = t95(count - 1)
    else:
        d_se, se_covers, quantile = per_image_se[0], "contexts only (one image)", Z95
    return Disentanglement(
        orders=order_values, ratios=ratio_values, n=n, grid=grid_.spec,
        estimand=_disentanglement_estimand(grid_, pairs, pair_count, count, debias), debiased=bool(debias),
        trivial=trivial, d=d, d_se=d_se, d_low=np.maximum(d - quantile * d_se, 0.0),
        d_high=np.minimum(d + quantile * d_se, 1.0), se_covers=se_covers,
        d_plugin=plugin.sum(axis=0) / denominator.sum(axis=0), per_image=numerator / denominator,
        per_image_se=per_image_se, strength=numerator, labels=labels, targets=np.asarray(targets), predictions=preds,
        pair_count=len(plans[0][1]), forward_passes=mask_rows, mask_rows=mask_rows, units=estimates[0].units,
        wall_time_s=time.perf_counter() - start,
        params=dict(grid=grid_.spec, baseline=baseline if isinstance(baseline, str) else "custom", value=value,
                    target=target if isinstance(target, str) else int(target), pairs=pairs if isinstance(pairs, str)
                    else "custom", pair_count=pair_count, samples=samples, contexts=contexts, coverage=coverage,
                    debias=bool(debias), seed=seed, batch_size=batch_size, device=str(device), precision=game.precision))


def _disentanglement_estimand(grid: Grid, pairs, pair_count: Optional[int], count: int, debias: bool) -> str:
    """The estimand of :func:`disentanglement` in words."""
    names = {"neighbors": f"all 8-neighbour pairs of the {grid.spec} grid", "all": f"all pairs of the {grid.spec} grid"}
    pair_set = names[pairs] if isinstance(pairs, str) else "the given pairs"
    drawn = f" ({pair_count} drawn per image)" if pair_count is not None else ""
    numerator = "bias-corrected numerator sqrt(max(Î² - SE², 0))" if debias else "plug-in numerator |Î|"
    return (f"D^(m) = Σ_images Σ_pairs |I^(m)(i, j)| / Σ_images Σ_pairs E_S |Δv(i, j, S)| over these {count} "
            f"image(s) and {pair_set}{drawn}; {numerator}")
