"""Input checks and resolutions of the image API: grids, sample counts, orders, pair sets, cells (a
ValueError names the offending value)."""

from __future__ import annotations

from typing import Optional, Union

import numpy as np
import torch

from mimi.core.checks import check_pairs
from mimi.core.checks import check_samples as check_units
from mimi.core.players import Grid, parse_grid_spec
from mimi.interactions import PAPER_RATIOS
from mimi.interactions import all_pairs as all_pairs_of
from mimi.interactions import neighbor_pairs as neighbor_pairs_of
from mimi.interactions import paper_orders, sample_pairs

MAX_GRID_SIDE = 16
MAX_SAMPLES = 1024
PAIR_SETS = ("neighbors", "all")
Image = Union[torch.Tensor, np.ndarray]
Target = Union[str, int]


def _as_image(image: Image, name: str = "image") -> torch.Tensor:
    image = torch.as_tensor(np.asarray(image) if not isinstance(image, torch.Tensor) else image).float()
    if image.ndim != 3:
        raise ValueError(f"{name} must be (C, H, W), got shape {tuple(image.shape)}")
    if image.numel() and (image.min() < 0 or image.max() > 1):
        raise ValueError(f"{name} values must be in [0, 1], got [{image.min():.3g}, {image.max():.3g}]")
    return image


def check_grid(grid, height: int, width: int) -> Grid:
    rows, cols = parse_grid_spec(grid)
    if max(rows, cols) > MAX_GRID_SIDE:
        raise ValueError(f"grid {rows}x{cols} is too fine for the analysis: at most {MAX_GRID_SIDE} cells a side")
    return Grid.parse(grid, height, width)


def check_samples(samples: int, name: str = "samples", minimum: int = 2) -> int:
    """:func:`mimi.core.checks.check_samples` with the analysis bound MAX_SAMPLES."""
    return check_units(samples, name, MAX_SAMPLES, minimum)


def resolve_orders(n: int, orders=None, ratios=None) -> tuple[np.ndarray, np.ndarray]:
    """(orders m, their ratios r): ``orders`` as given ("all": 0..n-2), else m = int((n-2) r) for
    ``ratios`` (default the paper's), duplicates removed; the ratio of a given order is m / (n-2)."""
    if orders is not None and ratios is not None:
        raise ValueError("give orders or ratios, not both")
    if isinstance(orders, str):
        if orders != "all":
            raise ValueError(f"orders must be a list of integers or 'all', got {orders!r}")
        orders = range(n - 1)
    if orders is not None:
        values = np.asarray(list(orders))
        if values.size == 0:
            raise ValueError("orders is empty; give at least one order m in 0..n-2")
        if values.dtype.kind not in "iu":
            raise ValueError(f"orders must be integers 0..{n - 2}, got {values.tolist()}")
        bad = values[(values < 0) | (values > n - 2)]
        if bad.size:
            raise ValueError(f"order {int(bad[0])} is outside 0..{n - 2} for a grid of n={n} cells")
        values = np.unique(values)
        return values.astype(np.int64), values / max(1, n - 2)
    ratios = np.asarray(PAPER_RATIOS if ratios is None else list(ratios), dtype=np.float64)
    found = paper_orders(n, ratios)
    first_ratio = {int(np.int64((n - 2) * r + 1e-9)): float(r) for r in ratios[::-1]}
    return found, np.array([first_ratio[int(m)] for m in found])


def resolve_pairs(grid: Grid, pairs, pair_count: Optional[int], seed: int) -> np.ndarray:
    """The pair set (:func:`pair_set_of`), then ``pair_count`` of them drawn at random (seeded) when
    given, as in the paper (200 random pairs); a count above the set's size is refused, never cut."""
    found = pair_set_of(grid, pairs)
    if pair_count is not None:
        if isinstance(pair_count, bool) or not isinstance(pair_count, (int, np.integer)) or pair_count < 1:
            raise ValueError(f"pair_count must be a positive integer, got {pair_count!r}")
        if pair_count > len(found):
            raise ValueError(f"pair_count={pair_count} is more than the {len(found)} pairs the pair set holds "
                             f"(None: all of them)")
        found = sample_pairs(found, int(pair_count), seed)
    return found


def default_pair_count(grid, pairs, default: Optional[int]) -> Optional[int]:
    """The pair count of a computation whose user named none: its ``default``, clamped to the pair set of
    ``grid`` (a spec or Grid) and ``pairs`` (every pair of a smaller set; None, all of it, below 2 pairs,
    which no draw takes). Only a default adapts: a count the user names is used as given, and one the set
    cannot give is refused (:func:`resolve_pairs`, :func:`mimi.interactions.draw_pairs`)."""
    size = len(pair_set_of(check_grid(grid, MAX_GRID_SIDE, MAX_GRID_SIDE), pairs))   # the set: cells only
    if default is None or size < 2:
        return None
    return min(default, size)


def pair_set_of(grid: Grid, pairs) -> np.ndarray:
    """The pair set: "neighbors" (8-neighbour cells), "all", or explicit (i, j) pairs."""
    if isinstance(pairs, str):
        if pairs == "neighbors":
            found = neighbor_pairs_of(grid.rows, grid.cols)
        elif pairs == "all":
            found = all_pairs_of(grid.n)
        else:
            raise ValueError(f"unknown pair set {pairs!r}; choose {', '.join(PAIR_SETS)} or give (i, j) pairs")
    else:
        found = check_pairs(pairs, grid.n)
    return found


def resolve_cell(grid: Grid, cell) -> int:
    if isinstance(cell, (tuple, list, np.ndarray)) and len(cell) == 2:
        return grid.index(int(cell[0]), int(cell[1]))
    if isinstance(cell, bool) or not isinstance(cell, (int, np.integer)):
        raise ValueError(f"cell must be an index or (row, col), got {cell!r}")
    grid.cell(int(cell))  # range check
    return int(cell)


def disentanglement_orders(n: int, orders=None, ratios=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(orders, ratios, trivial) of a D^(m) curve: as :func:`resolve_orders`; an order m = 0 or n-2 has
    one context per pair, so D^(m) = 1 by construction (``trivial``): dropped from ``ratios`` (the
    default), kept and flagged when ``orders`` are given."""
    order_values, ratio_values = resolve_orders(n, orders, ratios)
    trivial = (order_values == 0) | (order_values == n - 2)
    if orders is not None:
        return order_values, ratio_values, trivial
    if trivial.all():
        raise ValueError(f"the ratios give only the trivial orders {order_values.tolist()} (m = 0 or n-2 = {n - 2}: "
                         f"one context per pair, D = 1 by construction); choose ratios strictly between them")
    return order_values[~trivial], ratio_values[~trivial], trivial[~trivial]
