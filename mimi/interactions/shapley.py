"""Shapley values of large games by antithetic permutation sampling.

φ(i) = E_π [v(Pre_π(i) + i) - v(Pre_π(i))], π a uniformly random order of the players and Pre_π(i)
the players before i. One unit is a permutation π and its reverse (antithetic: a player early in π
is late in its reverse, which cancels much of the size effect); each permutation costs n - 1 rows
(v(∅) and v(N) are evaluated once for all), and its contributions sum to v(N) - v(∅) exactly.
"""

from __future__ import annotations

import numpy as np

from mimi.core.checks import check_players, check_samples
from mimi.core.games import DEFAULT_BATCH_ROWS, CountingGame, Game
from mimi.interactions.estimate import Estimate


def sample_shapley(v: Game, n: int, samples: int = 32, seed: int = 0, *,
                   batch_rows: int = DEFAULT_BATCH_ROWS) -> Estimate:
    """Shapley values (n,) (or (n, G)) from ``samples`` antithetic permutation pairs: 2 (n-1) samples + 2 rows."""
    n, samples = check_players(n), check_samples(samples)
    game = CountingGame(v, n, batch_rows)
    rng = np.random.default_rng(seed)
    ends = game(np.stack([np.zeros(n, dtype=bool), np.ones(n, dtype=bool)]))
    rank = np.argsort(np.argsort(rng.random((samples, n)), axis=1), axis=1)       # position of each player
    rank = np.concatenate([rank, n - 1 - rank])                                  # antithetic partners
    sizes = np.arange(1, n)
    prefixes = (rank[:, None, :] < sizes[None, :, None]).reshape(-1, n)          # prefixes of size 1..n-1
    inner = game(prefixes).reshape(2 * samples, n - 1, -1)
    chain = np.concatenate([np.broadcast_to(ends[0], (2 * samples, 1, ends.shape[1])), inner,
                            np.broadcast_to(ends[1], (2 * samples, 1, ends.shape[1]))], axis=1)
    gains = np.diff(chain, axis=1)                                               # (2K, n, G) by position
    contributions = np.take_along_axis(gains, rank[:, :, None], axis=1)          # by player
    units = 0.5 * (contributions[:samples] + contributions[samples:])
    info = {"estimator": "antithetic permutations", "axes": ["player"] + ([] if game.squeeze else ["game"])}
    return Estimate.from_units(game.shape_out(units), game.mask_rows, info)
