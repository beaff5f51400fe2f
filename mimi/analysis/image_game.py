"""The game the image API computes on.

Every single-image computation (:func:`~mimi.analysis.interaction_profile`, ``pair_heatmap``,
``shapley_map``, ``decomposition``) takes an :class:`~mimi.core.games.ImageGame` built by :func:`image_game`:
the clean image x and, when given, its adversarial version x' on the same masks, valued for one class.
The game holds the grid, baseline, value, target, device, batch size, precision and progress callback,
so one game serves several computations:

    game = image_game(model, x, label, x_adv, grid="7x7")
    profile = interaction_profile(game, pair_count=48, samples=2, contexts=1)
    heatmap = pair_heatmap(game, (3, 3))
"""

from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch import nn

from mimi.analysis.checks import Image, Target, _as_image, check_grid
from mimi.core.games import ImageGame, on_device, predict, resolve_targets
from mimi.core.progress import ProgressFn

#: The keyword arguments of :func:`image_game` that set up the game (callers that hold one dict of settings
#: split it by these).
GAME_OPTIONS = ("grid", "baseline", "value", "target", "device", "batch_size", "precision", "progress")


def image_game(model: nn.Module, image: Image, label: Optional[int] = None, adv_image: Optional[Image] = None, *,
               grid="7x7", baseline="mean", value: str = "log-odds", target: Target = "label", device=None,
               batch_size: Optional[int] = None, precision: str = "float32",
               progress: Optional[ProgressFn] = None, twins: Sequence[str] = ()) -> ImageGame:
    """v(S) = value(model(x_S), t) for x (C, H, W) in [0, 1], and on the same masks for x' (``adv_image``,
    then G = 2), with t = ``target``: "label" (``label``), "predicted" (the model's class for x) or a class
    index. ``grid`` at most 16 cells a side; the other options as :class:`~mimi.core.games.ImageGame` (``twins``:
    value functions whose games replay the same forward passes, ``game.twin(kind)``)."""
    model, device = on_device(model, device)
    x = _as_image(image)
    parsed = check_grid(grid, *x.shape[-2:])
    images = x
    if adv_image is not None:
        x_adv = _as_image(adv_image, "adv_image")
        if x_adv.shape != x.shape:
            raise ValueError(f"adv_image has shape {tuple(x_adv.shape)}, the image {tuple(x.shape)}")
        images = torch.stack([x, x_adv])
    predictions, probabilities = predict(model, x[None])
    target = int(resolve_targets(target, [label], predictions, probabilities.shape[1])[0])
    return ImageGame(model, images, [target] * len(images) if adv_image is not None else target, grid=parsed,
                     baseline=baseline, value=value, device=device, batch_size=batch_size, precision=precision,
                     progress=progress, label=label, twins=twins)


def check_image_game(game: ImageGame) -> bool:
    """True when ``game`` holds x and x' (G = 2), False for x alone; a ValueError for any other game, a
    TypeError for anything but a game."""
    if not isinstance(game, ImageGame):
        raise TypeError(f"the image API takes an image game, image_game(model, image, label, adv_image, ...); "
                        f"got a {type(game).__name__}")
    targets = set(game.targets.tolist())
    if game.count not in (1, 2) or len(targets) != 1:
        raise ValueError(f"the image API needs a game of one image, or of an image and its adversarial version, "
                         f"valued for one class (image_game); got {game.count} images and targets {sorted(targets)}")
    return game.count == 2
