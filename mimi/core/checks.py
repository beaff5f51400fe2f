"""Argument checks every estimator shares: players, counts, pairs and orders, each with a message that says
what was expected."""

from __future__ import annotations

import operator
from typing import Iterable, Sequence

import numpy as np


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
