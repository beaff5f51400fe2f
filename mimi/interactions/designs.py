r"""Block designs: the near-balanced incomplete block designs of mimi's estimators (:func:`block_design`), relabelled
at random so that every block is a uniform subset of the free players (:func:`_random_blocks`), drawn until they
cover every pair (:func:`_covering_blocks`); and the chunking that bounds the mask rows built at once.

Why balanced designs: for any design, the variance of a unit's mean over its blocks is
(1/K²) Σ_{a,b} C(|B_a ∩ B_b|), C(t) the covariance of Δv at two uniform contexts sharing t players.
Equal coverage removes the part of Δv that is additive in the players (1[k in S] terms); near-equal
intersections (for fixed coverage, the same as near-equal co-occurrence of every two players) remove
most of the pairwise part; what is left is higher order. A plain partition leaves N' mod s players
out, so at middle orders (two or three blocks) its coverage is uneven and its two blocks are near
complements (at m = N'/2 exactly, Δv at S and at its complement share every even-order part).
BENCHMARKS.md has the forward passes for the paper's SE at coverage 1 to 5 (flat from 4 on, the
default).
"""

from __future__ import annotations

import functools

import numpy as np

DEFAULT_COVERAGE = 4
_MAX_ROWS_PER_CHUNK = 1 << 18  # mask rows built at once (memory bound: rows x n bytes)


def block_count(players: int, size: int, coverage: int = DEFAULT_COVERAGE) -> int:
    """Blocks of one design: ``players`` blocks of one player (every context once: exact), else
    max(2, round(coverage · players / size)) so that each player lies in about ``coverage`` blocks."""
    return players if size == 1 else max(2, round(coverage * players / size))


@functools.lru_cache(maxsize=512)
def block_design(players: int, size: int, coverage: int = DEFAULT_COVERAGE) -> np.ndarray:
    """Incidence (K, players) of K = :func:`block_count` blocks of ``size`` players (read-only, cached).

    Each player lies in floor(K size / players) or one more blocks, and two blocks share about
    size (r - 1) / (K - 1) players, r = K size / players (a near-balanced incomplete block design),
    built greedily: each player joins the blocks with room that share the fewest players with the
    blocks it already joined (ties: the least filled). With K size <= players the blocks are disjoint.
    """
    blocks = block_count(players, size, coverage)
    base, extra = divmod(blocks * size, players)
    incidence = np.zeros((blocks, players), dtype=bool)
    fill = np.zeros(blocks, dtype=np.int64)
    for player in range(players):
        joined = np.zeros(blocks, dtype=bool)
        for _ in range(base + (player < extra)):
            shared = incidence.astype(np.int64) @ incidence[joined].sum(axis=0)   # Σ_{b joined} |a ∩ b|
            score = np.where(joined | (fill >= size), np.iinfo(np.int64).max, shared * (size + 1) + fill)
            block = int(np.argmin(score))
            joined[block] = True
            fill[block] += 1
        incidence[joined, player] = True
    if (fill != size).any():
        raise AssertionError(f"block design {players=} {size=} {coverage=} left blocks unfilled")
    incidence.flags.writeable = False
    return incidence


def _random_blocks(rng: np.random.Generator, excluded: np.ndarray, size: int, coverage: int) -> np.ndarray:
    """Blocks of a randomly relabelled design: (draws, K, n) bool.

    Row d places its N' = n - |excluded[d]| free players at uniformly random positions 0..N'-1 and
    block t holds the players at the positions of block t of :func:`block_design` (N', size). A fixed
    ``size``-subset of positions under a uniform relabelling is a uniform ``size``-subset of the free
    players, so every block is one; the design only couples the blocks of a row."""
    draws, n = excluded.shape
    keys = rng.random((draws, n)) + 2.0 * excluded                      # excluded players sort last
    order = np.argsort(keys, axis=1)
    position = np.empty_like(order)
    np.put_along_axis(position, order, np.broadcast_to(np.arange(n), (draws, n)), axis=1)
    free = n - excluded.sum(axis=1)
    designs = {int(f): block_design(int(f), size, coverage) for f in np.unique(free)}
    out = np.zeros((draws, max(len(d) for d in designs.values()), n), dtype=bool)
    for players, design in designs.items():
        rows = np.flatnonzero(free == players)
        padded = np.zeros((len(design), n), dtype=bool)
        padded[:, :players] = design
        out[rows, :len(design)] = padded[:, position[rows]].transpose(1, 0, 2)
    return out


def _covering_blocks(rng, excluded: np.ndarray, size: int, coverage: int, ends: np.ndarray, valid: np.ndarray):
    """Blocks (draws, T, K, n) from T >= 1 relabelled designs per draw, drawn until every valid pair slot
    (``ends`` (draws, k, 2)) is disjoint from some block, and first (draws, k): the first design whose
    blocks cover each slot."""
    rounds = []
    first = np.where(valid, -1, 0)
    while (first < 0).any():
        blocks = _random_blocks(rng, excluded, size, coverage)
        nonempty = blocks.any(axis=2)
        covers = (nonempty[:, :, None]
                  & ~np.take_along_axis(blocks, np.broadcast_to(ends[:, None, :, 0], (*blocks.shape[:2], ends.shape[1])), 2)
                  & ~np.take_along_axis(blocks, np.broadcast_to(ends[:, None, :, 1], (*blocks.shape[:2], ends.shape[1])), 2))
        first[(first < 0) & covers.any(axis=1)] = len(rounds)
        rounds.append(blocks)
    return np.stack(rounds, axis=1), first


def _covering_coverage(players: int, size: int, coverage: int) -> int:
    """The least coverage >= ``coverage`` whose design puts every player in at least one block."""
    while block_count(players, size, coverage) * size < players:
        coverage += 1
    return coverage


def _unit_chunks(units: int, rows_per_unit: int):
    step = max(1, _MAX_ROWS_PER_CHUNK // max(1, rows_per_unit))
    for start in range(0, units, step):
        yield min(step, units - start)
