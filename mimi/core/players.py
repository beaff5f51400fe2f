"""Players of an image game: a grid of cells, baselines, and masked images for whole batches.

The image (C, H, W) is cut into ``rows x cols`` cells; cell ``i = r * cols + c`` is player i.
Cell boundaries are ``edge_k = floor(k * H / rows + 1/2)`` for k = 0..rows (rounded ``linspace``),
and the same for columns, so sizes that do not divide evenly give cells whose sizes differ by at
most one pixel (28 px in 8 rows: 3,4,3,4,... px). A grid finer than the image (rows > H or
cols > W) would leave empty cells and is a ValueError.

A coalition S (a boolean mask over the n cells) is the input x_S with
``x_S[p] = x[p]`` for pixels p in a cell of S and ``baseline[p]`` elsewhere.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import cached_property
from typing import Sequence, Union

import numpy as np
import torch
from torch import nn

from mimi.core.pairs import all_pairs, neighbor_pairs

BASELINES = ("mean", "zero", "blur")
GridSpec = Union[str, int, Sequence[int], "Grid"]


@dataclass(frozen=True)
class Grid:
    """``rows x cols`` cells over an ``height x width`` image."""

    rows: int
    cols: int
    height: int
    width: int

    def __post_init__(self) -> None:
        for name in ("rows", "cols", "height", "width"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"grid {name} must be a positive integer, got {value!r}")
        if self.rows > self.height or self.cols > self.width:
            raise ValueError(f"grid {self.rows}x{self.cols} is finer than the {self.height}x{self.width} image "
                             f"(at most {self.height}x{self.width} cells)")

    @classmethod
    def parse(cls, spec: GridSpec, height: int, width: int) -> "Grid":
        """A grid from ``"7x7"``, ``"7"``, ``7``, ``(7, 7)`` or a Grid (re-fitted to ``height x width``)."""
        rows, cols = parse_grid_spec(spec)
        return cls(rows, cols, int(height), int(width))

    @property
    def n(self) -> int:
        return self.rows * self.cols

    @property
    def spec(self) -> str:
        return f"{self.rows}x{self.cols}"

    @cached_property
    def row_edges(self) -> np.ndarray:
        """(rows + 1,) pixel row boundaries: cell row r spans [edges[r], edges[r + 1])."""
        return _rounded_edges(self.height, self.rows)

    @cached_property
    def col_edges(self) -> np.ndarray:
        return _rounded_edges(self.width, self.cols)

    @cached_property
    def cell_map(self) -> np.ndarray:
        """(H, W) int64: the cell index of every pixel."""
        row_of = np.repeat(np.arange(self.rows), np.diff(self.row_edges))
        col_of = np.repeat(np.arange(self.cols), np.diff(self.col_edges))
        return row_of[:, None] * self.cols + col_of[None, :]

    def index(self, row: int, col: int) -> int:
        if not (0 <= row < self.rows and 0 <= col < self.cols):
            raise ValueError(f"cell ({row}, {col}) is outside the {self.spec} grid")
        return int(row * self.cols + col)

    def cell(self, index: int) -> tuple[int, int]:
        """(row, col) of cell ``index``."""
        if not 0 <= index < self.n:
            raise ValueError(f"cell {index} is outside the {self.spec} grid (0..{self.n - 1})")
        return int(index) // self.cols, int(index) % self.cols

    def bounds(self, index: int) -> tuple[int, int, int, int]:
        """Pixel box (top, bottom, left, right) of cell ``index``, bottom/right exclusive."""
        r, c = self.cell(index)
        return (int(self.row_edges[r]), int(self.row_edges[r + 1]),
                int(self.col_edges[c]), int(self.col_edges[c + 1]))

    def neighbors(self, index: int) -> list[int]:
        """The up to 8 cells touching cell ``index`` (sides and corners)."""
        r, c = self.cell(index)
        return [self.index(r + dr, c + dc) for dr in (-1, 0, 1) for dc in (-1, 0, 1)
                if (dr or dc) and 0 <= r + dr < self.rows and 0 <= c + dc < self.cols]

    def neighbor_pairs(self) -> np.ndarray:
        """(P, 2): all unordered pairs (i, j), i < j, of 8-neighbouring cells, sorted."""
        return neighbor_pairs(self.rows, self.cols)

    def all_pairs(self) -> np.ndarray:
        """(n(n-1)/2, 2): all unordered pairs (i, j), i < j."""
        return all_pairs(self.n)

    def to_image(self, values: np.ndarray) -> np.ndarray:
        """(n,) per-cell values -> (rows, cols)."""
        return np.asarray(values).reshape(self.rows, self.cols)

    def pixel_mask(self, masks: torch.Tensor) -> torch.Tensor:
        """(k, n) bool cell masks -> (k, H, W) bool pixel masks (one gather)."""
        cell_map = torch.as_tensor(self.cell_map, device=masks.device)
        return masks[:, cell_map]


def parse_grid_spec(spec: GridSpec) -> tuple[int, int]:
    """(rows, cols) from ``"7x7"``, ``"7"``, ``7``, ``(7, 7)`` or a Grid."""
    if isinstance(spec, Grid):
        return spec.rows, spec.cols
    if isinstance(spec, (int, np.integer)) and not isinstance(spec, bool):
        return int(spec), int(spec)
    if isinstance(spec, str):
        match = re.fullmatch(r"\s*(\d+)\s*(?:[xX×]\s*(\d+))?\s*", spec)
        if match:
            return int(match.group(1)), int(match.group(2) or match.group(1))
    elif isinstance(spec, Sequence) and len(spec) == 2:
        return int(spec[0]), int(spec[1])
    raise ValueError(f"bad grid {spec!r}: write ROWSxCOLS, e.g. 7x7")


def _rounded_edges(size: int, parts: int) -> np.ndarray:
    """floor(k * size / parts + 1/2) for k = 0..parts, in exact integer arithmetic."""
    k = np.arange(parts + 1)
    return (2 * k * size + parts) // (2 * parts)


def dataset_mean(model: nn.Module | None) -> tuple[float, ...] | None:
    """The per-channel mean of the model's ``Normalize`` layer (its training data mean), if it has one."""
    if model is None:
        return None
    for module in model.modules():
        mean = getattr(module, "mean", None)
        if type(module).__name__ == "Normalize" and isinstance(mean, torch.Tensor):
            return tuple(float(v) for v in mean.flatten())
    return None


def gaussian_blur(image: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable gaussian blur of (..., C, H, W) with std ``sigma`` px, radius ceil(3 sigma), reflect padding."""
    if not sigma > 0:
        raise ValueError(f"blur sigma must be > 0, got {sigma}")
    shape = image.shape
    x = image.reshape(-1, 1, *shape[-2:]).float()
    radius = min(int(math.ceil(3 * sigma)), shape[-2] - 1, shape[-1] - 1)
    if radius < 1:
        return image.clone()
    offsets = torch.arange(-radius, radius + 1, device=image.device, dtype=torch.float32)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    kernel = kernel / kernel.sum()
    x = torch.nn.functional.pad(x, (radius, radius, radius, radius), mode="reflect")
    x = torch.nn.functional.conv2d(x, kernel.view(1, 1, 1, -1))
    x = torch.nn.functional.conv2d(x, kernel.view(1, 1, -1, 1))
    return x.reshape(shape).to(image.dtype)


def make_baseline(image: torch.Tensor, kind: Union[str, float, torch.Tensor] = "mean", *,
                  model: nn.Module | None = None, mean: float | Sequence[float] | None = None,
                  blur_sigma: float | None = None) -> torch.Tensor:
    """The baseline image for ``image`` (C, H, W) (or (G, C, H, W): one baseline per image).

    - ``"mean"``: every pixel at the dataset mean of its channel: ``mean`` if given, else the model's
      ``Normalize`` mean (Fashion-MNIST: 0.2860), i.e. zero after normalization as in the paper;
    - ``"zero"``: black;
    - ``"blur"``: the image blurred with a gaussian of std ``blur_sigma`` (default max(H, W) / 14 px, 2 px at 28 px);
    - a number: that constant; a tensor: itself (broadcast to the image's shape).
    """
    if isinstance(kind, torch.Tensor):
        return torch.broadcast_to(kind.to(image.device, image.dtype), image.shape).clone()
    if isinstance(kind, (int, float)) and not isinstance(kind, bool):
        return torch.full_like(image, float(kind))
    if kind == "zero":
        return torch.zeros_like(image)
    if kind == "blur":
        sigma = max(image.shape[-2:]) / 14 if blur_sigma is None else blur_sigma
        return gaussian_blur(image, sigma)
    if kind == "mean":
        channels = image.shape[-3]
        values = mean if mean is not None else dataset_mean(model)
        if values is None:
            raise ValueError("baseline 'mean' needs the dataset mean: the model has no Normalize layer; "
                             "pass the mean (e.g. 0.2860 for Fashion-MNIST) or use baseline 'zero' or 'blur'")
        values = torch.as_tensor(values, dtype=image.dtype, device=image.device).flatten()
        if len(values) not in (1, channels):
            raise ValueError(f"baseline mean has {len(values)} values for a {channels}-channel image")
        return torch.broadcast_to(values.view(-1, 1, 1).expand(channels, 1, 1), image.shape).clone()
    raise ValueError(f"unknown baseline {kind!r}; choose one of {', '.join(BASELINES)}, a number or a tensor")


def masked_images(image: torch.Tensor, baseline: torch.Tensor, grid: Grid, masks) -> torch.Tensor:
    """x_S for every row S of ``masks`` (k, n): (k, C, H, W), or (k, G, C, H, W) for images (G, C, H, W).

    One gather (cell mask -> pixel mask) and one ``where`` on the image's device; ``baseline``
    has the image's shape. Pixels in cells of S come from the image, all others from the baseline.
    """
    masks = torch.as_tensor(np.asarray(masks) if not isinstance(masks, torch.Tensor) else masks,
                            device=image.device)
    if masks.ndim != 2 or masks.shape[1] != grid.n:
        raise ValueError(f"masks must be (k, {grid.n}) for a {grid.spec} grid, got {tuple(masks.shape)}")
    if tuple(image.shape[-2:]) != (grid.height, grid.width):
        raise ValueError(f"image is {tuple(image.shape[-2:])}, the grid was made for {grid.height}x{grid.width}")
    pixels = grid.pixel_mask(masks.bool())  # (k, H, W)
    pixels = pixels.view(pixels.shape[0], *([1] * (image.ndim - 2)), *pixels.shape[1:])
    return torch.where(pixels, image, baseline)
