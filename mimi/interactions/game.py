"""Games as callables and the checks every estimator shares.

A game is any callable ``v(masks) -> values``: ``masks`` a (k, n) bool array (row r is the
coalition S_r, ``masks[r, i]`` true iff player i is in S_r), ``values`` (k,) float, or (k, G)
for G games evaluated on the same coalitions (common random numbers between a clean and an
adversarial image, several images at once). :class:`CountingGame` calls ``v`` in chunks of at
most ``batch_rows`` rows, always returns float64 (k, G) and counts ``mask_rows``: the
number of mask rows passed to ``v``, counted once per row whatever G is (an image game's
``forward_passes`` counts rows x G images).
"""

from __future__ import annotations

import operator
from typing import Callable, Iterable, Sequence

import numpy as np

Game = Callable[[np.ndarray], np.ndarray]
DEFAULT_BATCH_ROWS = 8192


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


def check_players(n: int) -> int:
    n = _as_int(n, "n")
    if n < 2:
        raise ValueError(f"a game needs at least 2 players for pairwise interactions, got n={n}")
    return n


def check_positive_int(value: int, name: str, minimum: int = 1) -> int:
    value = _as_int(value, name)
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def check_samples(samples: int, name: str = "samples", maximum: int | None = None, minimum: int = 2) -> int:
    """An integer number of independent units, at least ``minimum`` (2 by default: a standard error needs two;
    1 where the strata themselves are drawn), at most ``maximum``."""
    try:
        value = _as_int(samples, name)
    except ValueError:
        value = None
    if value is None or value < minimum or (maximum is not None and value > maximum):
        wanted = (f"an integer in {minimum}..{maximum}" if maximum is not None
                  else f"an integer >= {minimum}" + (" (a standard error needs two independent units)"
                                                     if minimum == 2 else ""))
        raise ValueError(f"{name} must be {wanted}, got {samples!r}")
    return value


def check_pairs(pairs: Iterable[Sequence[int]], n: int) -> np.ndarray:
    """Pairs as a (P, 2) int array; each (i, j) with i != j and 0 <= i, j < n."""
    rows = [tuple(pair) for pair in pairs]
    if not rows:
        raise ValueError("pairs is empty; give at least one pair (i, j)")
    for pair in rows:
        if len(pair) != 2:
            raise ValueError(f"pair {pair!r} must have two players (i, j)")
        i, j = (_as_int(x, "pair player") for x in pair)
        if i == j:
            raise ValueError(f"pair ({i}, {j}) has i == j; a pair needs two different players")
        if not (0 <= i < n and 0 <= j < n):
            raise ValueError(f"pair ({i}, {j}) is out of range for n={n} players (0..{n - 1})")
    return np.asarray(rows, dtype=np.int64).reshape(-1, 2)


def check_orders(orders: Iterable[int], n: int) -> np.ndarray:
    """Orders (context sizes) as an int array, each in 0..n-2."""
    values = [_as_int(m, "order") for m in orders]
    if not values:
        raise ValueError("orders is empty; give at least one order m in 0..n-2")
    for m in values:
        if not 0 <= m <= n - 2:
            raise ValueError(f"order {m} is outside 0..{n - 2} (n={n} players)")
    return np.asarray(values, dtype=np.int64)


def _as_int(value, name: str) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    try:
        return operator.index(value)
    except TypeError:
        raise ValueError(f"{name} must be an integer, got {value!r}") from None
