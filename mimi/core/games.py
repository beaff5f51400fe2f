"""Games: any callable v(masks) -> values, the counting wrapper every estimator calls, and image games.

A game is any callable ``v(masks) -> values``: ``masks`` a (k, n) bool array (row r is the
coalition S_r, ``masks[r, i]`` true iff player i is in S_r), ``values`` (k,) float, or (k, G)
for G games evaluated on the same coalitions (common random numbers between a clean and an
adversarial image, several images at once). :class:`CountingGame` calls ``v`` in chunks of at
most ``batch_rows`` rows, always returns float64 (k, G) and counts ``mask_rows``: the
number of mask rows passed to ``v``, counted once per row whatever G is (an image game's
``forward_passes`` counts rows x G images).

``ImageGame(model, image, target)`` is a callable ``v(masks) -> values`` over a (k, n) boolean
mask array, as every estimator in :mod:`mimi.interactions` expects:

    v(S) = value(model(x_S), target)     (value: mimi.core.values.class_value, log-odds by default)

with x_S the masked image of :func:`mimi.core.players.masked_images`. Given G images (G, C, H, W)
and G targets, the game returns (k, G): every mask row is applied to all G images in the same
batch, so a clean and an adversarial image (or B images of a data set) are evaluated on
identical coalitions (common random numbers). Values are returned as float64 numpy arrays
(the network and the value function run in float32, or bf16 autocast on CUDA when asked).
"""

from __future__ import annotations

import collections
import copy
import functools
from typing import Callable, Optional, Sequence, Union

import numpy as np
import torch
from torch import nn

from mimi.core.checks import check_players, check_positive_int
from mimi.core.compute import (BatchProgress, choose_device, default_batch_size, forward_context, freeze,
                               inference_model, model_device, resolve_precision)
from mimi.core.players import Grid, GridSpec, make_baseline, masked_images
from mimi.core.progress import ProgressFn
from mimi.core.values import check_value_function, class_value

Game = Callable[[np.ndarray], np.ndarray]
DEFAULT_BATCH_ROWS = 8192
TARGETS = ("label", "predicted")
Target = Union[str, int]



class CountingGame:
    """Wraps ``v``: chunked calls, shape checks, float64 (k, G) values, a mask-row counter."""

    def __init__(self, v: Game, n: int, batch_rows: int = DEFAULT_BATCH_ROWS) -> None:
        if not callable(v):
            raise ValueError(f"the game must be a callable v(masks) -> values, got {type(v).__name__}")
        self.v, self.n = v, check_players(n)
        self.batch_rows = check_positive_int(batch_rows, "batch_rows")
        self.mask_rows = 0
        self.games: int | None = None     # G, known after the first call
        self.squeeze: bool | None = None  # True when v returns 1-D values

    def __call__(self, masks: np.ndarray) -> np.ndarray:
        masks = np.ascontiguousarray(masks, dtype=bool)
        if masks.ndim != 2 or masks.shape[1] != self.n:
            raise ValueError(f"masks must be (k, {self.n}), got {masks.shape}")
        chunks = [self._call(masks[start:start + self.batch_rows])
                  for start in range(0, len(masks), self.batch_rows)]
        if not chunks:
            return np.zeros((0, self.games or 1))
        return np.concatenate(chunks, axis=0)

    def _call(self, masks: np.ndarray) -> np.ndarray:
        values = np.asarray(self.v(masks), dtype=np.float64)
        if values.ndim not in (1, 2) or values.shape[0] != len(masks):
            raise ValueError(f"the game returned shape {values.shape} for {len(masks)} masks; "
                             f"expected ({len(masks)},) or ({len(masks)}, G)")
        squeeze = values.ndim == 1
        values = values.reshape(len(masks), -1)
        if self.games is None:
            self.games, self.squeeze = values.shape[1], squeeze
        elif values.shape[1] != self.games or squeeze != self.squeeze:
            raise ValueError(f"the game returned {values.shape[1]} values per row after {self.games} before")
        self.mask_rows += len(masks)
        return values

    def shape_out(self, array: np.ndarray) -> np.ndarray:
        """Drop the trailing G axis when the game returns 1-D values."""
        return array[..., 0] if self.squeeze else array


def on_device(model: nn.Module, device: str | torch.device | None) -> tuple[nn.Module, torch.device]:
    """The model on ``device`` (None: where it already is). A model elsewhere is copied, never moved:
    shared models are not mutated."""
    current = model_device(model)
    if device is None:
        return model, current
    target = choose_device(device)
    if target.type == current.type and (target.index is None or target.index == current.index):
        return model, current
    return freeze(copy.deepcopy(model).to(target)), target


@torch.inference_mode()
def predict(model: nn.Module, images: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Predicted classes (B,) and softmax probabilities (B, classes) of images (B, C, H, W)."""
    logits = model(images.to(model_device(model)))
    probs = torch.softmax(logits.double(), dim=1)
    return probs.argmax(1).cpu().numpy(), probs.cpu().numpy()


def resolve_targets(target: Target, labels: Optional[Sequence[Optional[int]]], predictions: np.ndarray,
                    classes: int) -> np.ndarray:
    """The class of each of B images whose value is the game's output: its true label (``"label"``; ``labels``
    one per image), the model's prediction on it (``"predicted"``; ``predictions`` (B,)) or one class index
    for all. A ValueError names a missing label, an unknown target or a class outside 0..classes-1."""
    count = len(predictions)
    if isinstance(target, str):
        if target == "label":
            if labels is None or any(label is None for label in labels):
                raise ValueError("target 'label' needs the image's label")
            targets = np.asarray(labels, dtype=np.int64).reshape(-1)
            if len(targets) != count:
                raise ValueError(f"{count} images need {count} labels, got {len(targets)}")
        elif target == "predicted":
            targets = np.asarray(predictions, dtype=np.int64).reshape(-1)
        else:
            raise ValueError(f"unknown target {target!r}; choose label, predicted or a class index")
    elif isinstance(target, (int, np.integer)) and not isinstance(target, bool):
        targets = np.full(count, int(target), dtype=np.int64)
    else:
        raise ValueError(f"unknown target {target!r}; choose label, predicted or a class index")
    if count and (targets.min() < 0 or targets.max() >= classes):
        raise ValueError(f"target class {targets.tolist() if count > 1 else int(targets[0])} is outside "
                         f"0..{classes - 1}")
    return targets


def resolve_target(model: nn.Module, image: torch.Tensor, label: Optional[int], target: Target) -> int:
    """:func:`resolve_targets` for one image (C, H, W)."""
    predictions, probabilities = predict(model, image[None])
    return int(resolve_targets(target, [label], predictions, probabilities.shape[1])[0])


class ImageGame:
    """v(masks) for one image (C, H, W) -> (k,) or G images (G, C, H, W) sharing masks -> (k, G).

    Arguments: ``target`` a class index or one per image; ``grid`` a spec such as ``"7x7"``;
    ``baseline`` as :func:`mimi.core.players.make_baseline`; ``value`` a kind of
    :func:`mimi.core.values.class_value`; ``batch_size`` images per forward pass (default: fits the
    device); ``precision`` float32, bf16 (CUDA autocast) or auto (bf16 on CUDA, else float32); ``progress`` a ProgressFn called once
    per batch (it may raise ``Cancelled``); ``label`` the images' true class when known (results record
    it). ``forward_passes`` counts images evaluated by the model (mask rows x G); ``mask_rows`` counts rows
    of masks. On CPU the batches run through a cached channels-last copy of the model
    (:func:`mimi.core.compute.inference_model`).
    """

    def __init__(self, model: nn.Module, image: torch.Tensor, target: Union[int, Sequence[int]], *,
                 grid: GridSpec = "7x7", baseline: Union[str, float, torch.Tensor] = "mean",
                 value: str = "log-odds", device: str | torch.device | None = None,
                 batch_size: Optional[int] = None, precision: str = "float32",
                 progress: Union[ProgressFn, BatchProgress, None] = None,
                 baseline_mean: Optional[Union[float, Sequence[float]]] = None,
                 blur_sigma: Optional[float] = None, label: Optional[int] = None,
                 twins: Sequence[str] = ()) -> None:
        image = torch.as_tensor(image)
        if image.ndim not in (3, 4):
            raise ValueError(f"image must be (C, H, W) or (G, C, H, W), got shape {tuple(image.shape)}")
        self.model, self.device = on_device(model, device)
        self.single = image.ndim == 3
        self.images = (image[None] if self.single else image).float().to(self.device)
        self.count = self.images.shape[0]
        targets = np.atleast_1d(np.asarray(target, dtype=np.int64))
        if targets.shape != (self.count,):
            raise ValueError(f"{self.count} image(s) need {self.count} target(s), got {targets.tolist()}")
        self.targets = torch.as_tensor(targets, device=self.device)
        self.grid = Grid.parse(grid, *self.images.shape[-2:])
        self.n = self.grid.n
        self.value = check_value_function(value)
        self._recorded = {check_value_function(kind): [] for kind in twins if kind != self.value}
        self.label = None if label is None else int(label)
        self.baseline_name = baseline if isinstance(baseline, str) else "custom"
        self.precision = resolve_precision(precision, self.device)
        self.baseline = make_baseline(self.images, baseline, model=self.model, mean=baseline_mean,
                                      blur_sigma=blur_sigma)
        if batch_size is None:
            batch_size = default_batch_size(self.model, tuple(self.images.shape[1:]), self.device, precision)
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.batch_size = int(batch_size)
        self.rows_per_batch = max(1, self.batch_size // self.count)
        self.tracker = progress if isinstance(progress, BatchProgress) else BatchProgress(progress)
        self._cell_map = torch.as_tensor(self.grid.cell_map, device=self.device)
        self._runner = inference_model(self.model, self.device)
        self._batch_targets = self.targets.repeat(self.rows_per_batch)
        self.forward_passes = 0
        self.mask_rows = 0

    @functools.cached_property
    def predictions(self) -> tuple[np.ndarray, np.ndarray]:
        """The model's classes (G,) and softmax probabilities (G, classes) on the unmasked images."""
        return predict(self.model, self.images)

    @property
    def params(self) -> dict:
        """The game's settings as results record them."""
        targets = self.targets.tolist()
        return dict(grid=self.grid.spec, baseline=self.baseline_name, value=self.value,
                    target=targets[0] if len(set(targets)) == 1 else targets, precision=self.precision,
                    batch_size=self.batch_size, device=str(self.device))

    def expect(self, rows: int, message: str | None = None) -> None:
        """Announce ``rows`` mask rows to come, for the progress total."""
        self.tracker.expect(rows * self.count, message)

    def masked(self, masks: torch.Tensor) -> torch.Tensor:
        """(k, n) bool masks on the device -> (k * G, C, H, W) masked images, row-major in (k, G)."""
        pixels = masks[:, self._cell_map][:, None, None]  # (k, 1, 1, H, W)
        return torch.where(pixels, self.images, self.baseline).flatten(0, 1)

    def __call__(self, masks) -> np.ndarray:
        masks = torch.as_tensor(np.asarray(masks) if not isinstance(masks, torch.Tensor) else masks)
        if masks.ndim != 2 or masks.shape[1] != self.n:
            raise ValueError(f"masks must be (k, {self.n}) for a {self.grid.spec} grid, got {tuple(masks.shape)}")
        masks = masks.to(self.device, torch.bool)
        k = masks.shape[0]
        kinds = (self.value, *self._recorded)
        out = torch.empty((len(kinds), k, self.count), dtype=torch.float64, device=self.device)
        with forward_context(self.device, self.precision):
            for start in range(0, k, self.rows_per_batch):
                rows = masks[start:start + self.rows_per_batch]
                logits = self._runner(self.masked(rows))
                targets = self._batch_targets[:logits.shape[0]]
                for index, kind in enumerate(kinds):
                    out[index, start:start + len(rows)] = class_value(logits, targets, kind).view(len(rows), -1)
                self.mask_rows += len(rows)
                self.forward_passes += len(rows) * self.count
                self.tracker.advance(len(rows) * self.count)
        values = out.cpu().numpy()
        if self._recorded:
            shown = masks.cpu().numpy()
            for index, kind in enumerate(kinds[1:], start=1):
                self._recorded[kind].append((shown, self._shaped(values[index])))
        return self._shaped(values[0])

    def _shaped(self, values: np.ndarray) -> np.ndarray:
        """(k, G) values, or (k,) for a single image."""
        return values[:, 0] if self.single else values

    def twin(self, kind: str) -> "TwinGame":
        """The game of value function ``kind`` (one of ``twins``) on the same image(s), answering from the logits
        this game has computed so far: run the same computation on it, with the same seed, and it costs no
        forward pass."""
        if kind not in self._recorded:
            raise ValueError(f"this game records no {kind!r} values; create it with twins=({kind!r},)")
        return TwinGame(self, kind)

    def masked_images(self, masks) -> torch.Tensor:
        """The masked inputs x_S for ``masks`` (k, n): (k, C, H, W), or (k, G, C, H, W) for G images."""
        images = self.images[0] if self.single else self.images
        baseline = self.baseline[0] if self.single else self.baseline
        return masked_images(images, baseline, self.grid, masks)


class TwinGame(ImageGame):
    """v(masks) of another value function on an :class:`ImageGame`'s image(s), replayed from the logits that game
    computed (its ``twins``): the calls must bring the same masks in the same order, as a computation rerun
    with the same seed does (ValueError otherwise). ``forward_passes`` stays 0; ``mask_rows`` counts the rows
    replayed."""

    def __init__(self, source: ImageGame, kind: str) -> None:  # noqa: the source's state, not a fresh game
        self.__dict__.update(source.__dict__)
        self.value = kind
        self._replay = collections.deque(source._recorded[kind])
        self._recorded = {}
        self.tracker = BatchProgress(None)
        self.forward_passes = 0
        self.mask_rows = 0

    def __call__(self, masks) -> np.ndarray:
        shown = np.asarray(masks.cpu() if isinstance(masks, torch.Tensor) else masks, dtype=bool)
        if not self._replay:
            raise ValueError(f"the {self.value} twin has no recorded values left: run the same computation, with "
                             f"the same seed, as on the game that recorded them")
        recorded, values = self._replay.popleft()
        if recorded.shape != shown.shape or not np.array_equal(recorded, shown):
            raise ValueError(f"the {self.value} twin was asked for other masks than the recording game evaluated: "
                             f"run the same computation, with the same seed")
        self.mask_rows += len(shown)
        return values
