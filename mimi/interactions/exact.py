"""Exact computation for small games (n <= 16): all 2^n coalitions evaluated once.

Coalitions are in bitmask order: row b of :func:`all_masks` holds player i iff bit i of b is
set, so ``values[b] = v(S_b)``. From these values:

- order-m interaction  I^(m)(i, j) = mean over S ⊆ N\\{i,j}, |S| = m, of
  Δv(i, j, S) = v(S+i+j) - v(S+i) - v(S+j) + v(S);
- order-m marginal     φ^(m)(i) = mean over S ⊆ N\\{i}, |S| = m, of v(S+i) - v(S);
- Shapley value        φ(i) = Σ_S |S|!(n-|S|-1)!/n! [v(S+i) - v(S)] = mean_m φ^(m)(i);
- Shapley interaction  I(i, j) = 1/(n-1) Σ_m I^(m)(i, j);
- efficiency           v(N) - v(∅) = Σ_i φ^(0)(i) + Σ_{i≠j} Σ_m J^(m)(i, j),
                       J^(m)(i, j) = (n-1-m) / (n(n-1)) · I^(m)(i, j).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from mimi.core.checks import check_players
from mimi.core.games import DEFAULT_BATCH_ROWS, CountingGame, Game
from mimi.core.results import Result

EXACT_LIMIT = 16


def check_exact_players(n: int) -> int:
    n = check_players(n)
    if n > EXACT_LIMIT:
        raise ValueError(f"n={n} players is above the exact limit of {EXACT_LIMIT} (exact needs 2^n = {2 ** n:,} "
                         f"evaluations); use the sampled estimators instead, e.g. "
                         f"sample_order_interactions(v, n, pairs, orders, samples)")
    return n


def all_masks(n: int) -> np.ndarray:
    """(2^n, n) bool: row b is the coalition {i : bit i of b is set}."""
    check_exact_players(n)
    return ((np.arange(2 ** n)[:, None] >> np.arange(n)) & 1).astype(bool)


def exact_values(v: Game, n: int, batch_rows: int = DEFAULT_BATCH_ROWS) -> np.ndarray:
    """v(S) for all 2^n coalitions in bitmask order: (2^n,) or (2^n, G)."""
    game = CountingGame(v, check_exact_players(n), batch_rows)
    return game.shape_out(game(all_masks(n)))


def _as_tensor(values: np.ndarray, n: int) -> tuple[np.ndarray, bool]:
    """Values as a (2,)*n + (G,) tensor; axis n-1-i is player i (bit i of the bitmask)."""
    values = np.asarray(values, dtype=np.float64)
    if values.shape[0] != 2 ** n:
        raise ValueError(f"expected 2^{n} = {2 ** n} values in bitmask order, got {values.shape[0]}")
    squeeze = values.ndim == 1
    return values.reshape((2,) * n + (-1,)), squeeze


def _axis(i: int, n: int) -> int:
    return n - 1 - i


def _by_size(diff: np.ndarray, players: int) -> np.ndarray:
    """Mean of a (2,)*players + (G,) tensor over coalitions grouped by size: (players+1, G)."""
    flat = diff.reshape(2 ** players, -1)
    sizes = np.bitwise_count(np.arange(2 ** players, dtype=np.uint32)).astype(np.int64)
    sums = np.zeros((players + 1, flat.shape[1]))
    np.add.at(sums, sizes, flat)
    counts = np.array([math.comb(players, size) for size in range(players + 1)], dtype=np.float64)
    return sums / counts[:, None]


def order_interactions_from_values(values: np.ndarray, n: int) -> np.ndarray:
    """I[m, i, j] = I^(m)(i, j) for m = 0..n-2: (n-1, n, n) or (n-1, n, n, G); zero diagonal."""
    tensor, squeeze = _as_tensor(values, n)
    out = np.zeros((n - 1, n, n, tensor.shape[-1]))
    for i in range(n):
        marginal = np.take(tensor, 1, axis=_axis(i, n)) - np.take(tensor, 0, axis=_axis(i, n))
        for j in range(i + 1, n):
            axis_j = _axis(j, n) - (1 if _axis(j, n) > _axis(i, n) else 0)
            delta = np.take(marginal, 1, axis=axis_j) - np.take(marginal, 0, axis=axis_j)
            out[:, i, j] = out[:, j, i] = _by_size(delta, n - 2)
    return out[..., 0] if squeeze else out


def order_marginals_from_values(values: np.ndarray, n: int) -> np.ndarray:
    """phi[m, i] = φ^(m)(i), m = 0..n-1: (n, n) or (n, n, G)."""
    tensor, squeeze = _as_tensor(values, n)
    out = np.zeros((n, n, tensor.shape[-1]))
    for i in range(n):
        marginal = np.take(tensor, 1, axis=_axis(i, n)) - np.take(tensor, 0, axis=_axis(i, n))
        out[:, i] = _by_size(marginal, n - 1)
    return out[..., 0] if squeeze else out


def shapley_from_values(values: np.ndarray, n: int) -> np.ndarray:
    """φ(i) = (1/n) Σ_{m=0}^{n-1} φ^(m)(i): (n,) or (n, G)."""
    return order_marginals_from_values(values, n).mean(axis=0)


def interaction_weights(n: int) -> np.ndarray:
    """w[m] = (n-1-m) / (n(n-1)), so that J^(m)(i, j) = w[m] · I^(m)(i, j), m = 0..n-2."""
    m = np.arange(n - 1)
    return (n - 1 - m) / (n * (n - 1))


def exact_order_interactions(v: Game, n: int, batch_rows: int = DEFAULT_BATCH_ROWS) -> np.ndarray:
    """All I^(m)(i, j) exactly from 2^n evaluations: (n-1, n, n) float64 (a trailing G axis when
    v returns (k, G)); symmetric in i, j, zero diagonal. n <= 16."""
    return order_interactions_from_values(exact_values(v, n, batch_rows), n)


def exact_shapley(v: Game, n: int, batch_rows: int = DEFAULT_BATCH_ROWS) -> np.ndarray:
    """Shapley values φ(i) exactly: (n,) (or (n, G))."""
    return shapley_from_values(exact_values(v, n, batch_rows), n)


def exact_shapley_interaction(v: Game, n: int, batch_rows: int = DEFAULT_BATCH_ROWS) -> np.ndarray:
    """Shapley interaction index I(i, j) = 1/(n-1) Σ_{m=0}^{n-2} I^(m)(i, j) exactly: (n, n) (or (n, n, G))."""
    return exact_order_interactions(v, n, batch_rows).mean(axis=0)


@dataclass
class ExactDecomposition(Result):
    """Everything exact about one game (or G games), with the efficiency check.

    ``v_full - v_empty = phi0.sum() + order_totals.sum() + residual``, where
    ``order_totals[m] = Σ_{i≠j} J^(m)(i, j)``; ``residual`` vanishes to float precision.
    Arrays carry a trailing G axis when the game returns (k, G) values.
    """

    n: int
    v_full: np.ndarray
    v_empty: np.ndarray
    phi0: np.ndarray                 # (n,)       φ^(0)(i) = v({i}) - v(∅)
    shapley: np.ndarray              # (n,)       φ(i)
    interactions: np.ndarray         # (n-1,n,n)  I^(m)(i, j)
    shapley_interaction: np.ndarray  # (n,n)      I(i, j)
    order_totals: np.ndarray         # (n-1,)     Σ_{i≠j} J^(m)(i, j)
    residual: np.ndarray             # v(N) - v(∅) - Σ φ^(0) - Σ_m order_totals[m]
    mask_rows: int


def efficiency_decomposition(v: Game, n: int, batch_rows: int = DEFAULT_BATCH_ROWS) -> ExactDecomposition:
    """Exact I^(m), Shapley values and the efficiency decomposition of v(N) - v(∅) (n <= 16)."""
    game = CountingGame(v, check_exact_players(n), batch_rows)
    values = game.shape_out(game(all_masks(n)))
    interactions = order_interactions_from_values(values, n)
    marginals = order_marginals_from_values(values, n)
    extra = (1,) * (values.ndim - 1)
    order_totals = (interaction_weights(n).reshape((-1,) + extra)
                    * interactions.sum(axis=(1, 2)))
    v_full, v_empty = values[-1], values[0]
    phi0 = marginals[0]
    residual = v_full - v_empty - phi0.sum(axis=0) - order_totals.sum(axis=0)
    return ExactDecomposition(n, np.asarray(v_full), np.asarray(v_empty), phi0, marginals.mean(axis=0),
                              interactions, interactions.mean(axis=0), order_totals, np.asarray(residual),
                              game.mask_rows)
