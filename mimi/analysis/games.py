"""The game the image API computes on, and its convenience form.

Every single-image computation (:func:`~mimi.analysis.interaction_profile`, ``pair_heatmap``,
``shapley_map``, ``decomposition``) takes an :class:`~mimi.games.ImageGame` built by :func:`image_game`:
the clean image x and, when given, its adversarial version x' on the same masks, valued for one class.
The game holds what used to be repeated in every signature (grid, baseline, value, target, device,
batch size, precision, progress), so one game serves several computations:

    game = image_game(model, x, label, x_adv, grid="7x7")
    profile = interaction_profile(game, pair_count=48, samples=2, contexts=1)
    heatmap = pair_heatmap(game, (3, 3))

Each computation can still be called as ``f(model, image, label, adv_image=None, **options)`` (:func:`takes_game`),
which builds the game from the options that belong to it and passes the rest on.
"""

from __future__ import annotations

import functools
from typing import Callable, Optional, Sequence, TypeVar

import torch
from torch import nn

from mimi.analysis.checks import Image, Target, _as_image, check_grid
from mimi.games import ImageGame, on_device, predict, resolve_targets
from mimi.progress import ProgressFn

#: The keyword arguments of :func:`image_game` that the convenience form passes to it.
GAME_OPTIONS = ("grid", "baseline", "value", "target", "device", "batch_size", "precision", "progress")
Fn = TypeVar("Fn", bound=Callable)


def image_game(model: nn.Module, image: Image, label: Optional[int] = None, adv_image: Optional[Image] = None, *,
               grid="7x7", baseline="mean", value: str = "log-odds", target: Target = "label", device=None,
               batch_size: Optional[int] = None, precision: str = "float32",
               progress: Optional[ProgressFn] = None, twins: Sequence[str] = ()) -> ImageGame:
    """v(S) = value(model(x_S), t) for x (C, H, W) in [0, 1], and on the same masks for x' (``adv_image``,
    then G = 2), with t = ``target``: "label" (``label``), "predicted" (the model's class for x) or a class
    index. ``grid`` at most 16 cells a side; the other options as :class:`~mimi.games.ImageGame` (``twins``:
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
    """True when ``game`` holds x and x' (G = 2), False for x alone; a ValueError for any other game."""
    targets = set(game.targets.tolist())
    if game.count not in (1, 2) or len(targets) != 1:
        raise ValueError(f"the image API needs a game of one image, or of an image and its adversarial version, "
                         f"valued for one class (image_game); got {game.count} images and targets {sorted(targets)}")
    return game.count == 2


def takes_game(*between: str, **defaults) -> Callable[[Fn], Fn]:
    """Decorator: ``fn(game, ...)`` may also be called as ``fn(model, image, label, *between, adv_image,
    **options)``, which builds the game with :func:`image_game` from the options in :data:`GAME_OPTIONS`
    (``defaults`` change image_game's defaults) and passes the other keyword arguments to ``fn``.
    ``between`` names ``fn``'s positional parameters that the convenience form takes after the label
    (the heatmap's cell)."""
    positional = ("image", "label", *between, "adv_image")

    def decorate(fn: Fn) -> Fn:
        @functools.wraps(fn)
        def call(*args, **kwargs):
            if args:
                game, args = args[0], args[1:]
            else:                          # by keyword: fn(game=...) or the convenience form's fn(model=...)
                game = kwargs.pop("game") if "game" in kwargs else kwargs.pop("model", None)
            if isinstance(game, ImageGame):
                misplaced = sorted(set(kwargs) & set(GAME_OPTIONS))
                if misplaced:
                    raise TypeError(f"{fn.__name__}(game, ...): {', '.join(misplaced)} belong to the game; "
                                    f"set them in image_game(...)")
                return fn(game, *args, **kwargs)
            if len(args) > len(positional):
                raise TypeError(f"{fn.__name__}() takes (model, {', '.join(positional)}) positionally, "
                                f"got {len(args) + 1} positional arguments")
            given = dict(zip(positional, args))
            twice = sorted(given.keys() & kwargs.keys())
            if twice:
                raise TypeError(f"{fn.__name__}() got multiple values for argument {twice[0]!r}")
            given.update({name: kwargs.pop(name) for name in positional if name in kwargs})
            if game is None or "image" not in given:
                raise TypeError(f"{fn.__name__}() needs an image game, or a model and an image")
            options = {**defaults, **{name: kwargs.pop(name) for name in GAME_OPTIONS if name in kwargs}}
            built = image_game(game, given["image"], given.get("label"), given.get("adv_image"), **options)
            return fn(built, *(given[name] for name in between if name in given), **kwargs)

        return call  # type: ignore[return-value]

    return decorate
