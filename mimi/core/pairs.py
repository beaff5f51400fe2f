"""Pair sets and order sets: generic ones, and the paper protocol's (8-neighbour cells, ratio orders).

Grid cells are numbered row-major: cell (r, c) of a rows x cols grid is player r * cols + c.
"""

from __future__ import annotations

import numpy as np

from mimi.core.checks import check_players, check_positive_int

PAPER_RATIOS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0)
#: The 12 order ratios of the paper's released code (0.85 added), m = int((n - 2) r).
RELEASED_RATIOS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 1.0)


def all_pairs(n: int) -> np.ndarray:
    """Every unordered pair (i, j), i < j: (n(n-1)/2, 2)."""
    i, j = np.triu_indices(check_players(n), k=1)
    return np.stack([i, j], axis=1)


def cell_pairs(cell: int, n: int) -> np.ndarray:
    """The pairs (cell, j) for every j != cell, in increasing j: (n-1, 2) (a heatmap's pair set)."""
    n = check_players(n)
    if isinstance(cell, bool) or not isinstance(cell, (int, np.integer)) or not 0 <= cell < n:
        raise ValueError(f"cell {cell!r} is out of range for n={n} players (0..{n - 1})")
    others = np.delete(np.arange(n), cell)
    return np.stack([np.full(n - 1, cell), others], axis=1)


def neighbor_pairs(rows: int, cols: int) -> np.ndarray:
    """All pairs of 8-neighbouring cells (horizontal, vertical, both diagonals) of a rows x cols grid,
    each once with i < j: (P, 2)."""
    rows, cols = check_positive_int(rows, "rows"), check_positive_int(cols, "cols")
    r, c = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
    found = []
    for dr, dc in ((0, 1), (1, -1), (1, 0), (1, 1)):
        ok = (r + dr < rows) & (c + dc >= 0) & (c + dc < cols)
        found.append(np.stack([(r * cols + c)[ok], ((r + dr) * cols + c + dc)[ok]], axis=1))
    pairs = np.concatenate(found)
    if len(pairs) == 0:
        raise ValueError(f"a {rows}x{cols} grid has no neighbouring cells")
    return pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))]


def sample_pairs(pairs: np.ndarray, count: int | None, seed: int | list[int] = 0) -> np.ndarray:
    """``count`` pairs drawn without replacement (all of them if count is None or >= len(pairs)),
    in their original order; the paper draws 200 random neighbour pairs per image. ``seed``: anything
    ``np.random.default_rng`` takes (a list names a stream of its own)."""
    pairs = np.asarray(pairs)
    if count is None or count >= len(pairs):
        return pairs
    count = check_positive_int(count, "pair count")
    keep = np.sort(np.random.default_rng(seed).choice(len(pairs), size=count, replace=False))
    return pairs[keep]


def paper_orders(n: int, ratios=PAPER_RATIOS) -> np.ndarray:
    """Orders m = int((n - 2) r) for the paper's ratios r, duplicates removed, increasing."""
    n = check_players(n)
    ratios = np.asarray(ratios, dtype=np.float64)
    if ratios.size == 0 or np.any((ratios < 0) | (ratios > 1)):
        raise ValueError(f"order ratios must be in [0, 1], got {ratios.tolist()}")
    return np.unique(((n - 2) * ratios + 1e-9).astype(np.int64))
