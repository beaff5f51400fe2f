"""Sampled order-m interactions with standard errors: mimi's shared-context estimator and the paper's.

Target: I^(m)(i, j) = E_{S ~ U_m(N\\{i,j})} Δv(i, j, S), U_m(A) the uniform law on m-subsets of A,
Δv(i, j, S) = v(S+i+j) - v(S+i) - v(S+j) + v(S).

**Paper protocol** (:func:`paper_order_interactions`): for every pair and order, ``samples``
independent contexts S ~ U_m(N\\{i,j}), four evaluations each: 4 · samples · P rows per order.

**mimi** (:func:`sample_order_interactions`) shares evaluations between pairs with a *block star*:
- low orders (m <= n-2-m): a block B of m players is a shared context S = B. Every pair p disjoint
  from B gets Δv(p, B) from v(B), v(B+k) for the players k of those pairs, and v(B+i+j):
  1 + (players) + (pairs) rows instead of 4 per pair.
- high orders (m > n-2-m): a block R of r = n-2-m players is a shared *removed* set. Every pair p
  disjoint from R gets the context S_p = N \\ (R ∪ p) (a different context per pair, of size m), and
  Δv(p, S_p) = v(N\\R) - v(N\\R\\i) - v(N\\R\\j) + v(N\\R\\{i,j}) again shares v(N\\R) and v(N\\R\\k).
- m = 0 and m = n-2 are deterministic (one context per pair): evaluated once, exact, SE 0.

Blocks come from random partitions: a random permutation of the n players cut into L = n // s
consecutive blocks of s = min(m, n-2-m) players (the n mod s leftover players are in no block).
One *unit* (the iid unit of the standard error) is a run of independent partitions, stopped at the
first partition in which every pair is disjoint from at least one block; pair p uses, with
``design="partition"``, every block of the first partition that covers it (its Δv averaged), or
with ``design="cover"`` only the first such block. Unbiasedness: given the positions of i and j in
the permutation (which alone decide which blocks cover p and when), the other n-2 players fill the
remaining positions uniformly, so each block disjoint from p is a uniform s-subset of N\\{i,j}, its
context a draw from U_m(N\\{i,j}). Hence each unit's per-pair value is unbiased, the units are iid,
and mean and SE follow (:class:`~mimi.interactions.estimate.Estimate`). Different pairs of one unit
are correlated (shared blocks); the SE of any average over pairs is computed from the units, so it
includes that correlation. Blocks of one partition are disjoint: their contexts are negatively
dependent (a stratified design), which lowers the variance of the per-unit average further.
"""

from __future__ import annotations

import numpy as np

from mimi.interactions.estimate import Estimate
from mimi.interactions.game import (DEFAULT_BATCH_ROWS, CountingGame, Game, check_orders, check_pairs,
                                    check_players, check_samples)

DESIGNS = ("partition", "cover")
_MAX_ROWS_PER_CHUNK = 1 << 18  # mask rows built at once (memory bound: rows x n bytes)


def _random_blocks(rng: np.random.Generator, count: int, n: int, size: int) -> np.ndarray:
    """(count, n) block index of every player in ``count`` random partitions into n // size blocks of
    ``size`` players (leftover players: -1)."""
    order = np.argsort(rng.random((count, n)), axis=1)          # a random permutation per row
    position = np.empty_like(order)
    np.put_along_axis(position, order, np.arange(n)[None, :].repeat(count, axis=0), axis=1)
    block = position // size
    block[block >= n // size] = -1
    return block


def _covering_partitions(rng, units: int, n: int, size: int, pairs: np.ndarray):
    """Draw partitions per unit until every pair is covered; returns block (units, T, n) and the first
    covering partition of each pair, first (units, P)."""
    blocks_per_partition = n // size
    partitions = []
    first = np.full((units, len(pairs)), -1)
    while True:
        block = _random_blocks(rng, units, n, size)
        bi, bj = block[:, pairs[:, 0]], block[:, pairs[:, 1]]
        touched = (bi >= 0).astype(np.int64) + (bj >= 0) - ((bi == bj) & (bi >= 0))
        covered = touched < blocks_per_partition
        first[(first < 0) & covered] = len(partitions)
        partitions.append(block)
        if (first >= 0).all():
            return np.stack(partitions, axis=1), first


def _star_rows(members: np.ndarray, used: np.ndarray, pairs: np.ndarray):
    """Masks of a set of block stars. ``members`` (B, n) is the base coalition of each star (S, or N\\R),
    ``used`` (B, P) the pairs it serves. Returns masks and the row indices of base, singles, doubles."""
    n = members.shape[1]
    incidence = np.zeros((len(pairs), n), dtype=np.int64)
    np.add.at(incidence, (np.arange(len(pairs)), pairs[:, 0]), 1)
    np.add.at(incidence, (np.arange(len(pairs)), pairs[:, 1]), 1)
    need = (used.astype(np.int64) @ incidence) > 0
    star_s, player_s = np.nonzero(need)
    star_d, pair_d = np.nonzero(used)
    eye = np.eye(n, dtype=bool)
    singles = members[star_s] ^ eye[player_s]
    doubles = members[star_d] ^ eye[pairs[pair_d, 0]] ^ eye[pairs[pair_d, 1]]
    masks = np.concatenate([members, singles, doubles])
    single_row = np.full(need.shape, -1)
    single_row[star_s, player_s] = len(members) + np.arange(len(star_s))
    double_row = len(members) + len(star_s) + np.arange(len(star_d))
    return masks, single_row, star_d, pair_d, double_row


def _order_units(game: CountingGame, pairs: np.ndarray, m: int, units: int, rng: np.random.Generator,
                 design: str):
    """Per-unit mean of Δv and of |Δv| per pair at order m: two (units, P, G) arrays."""
    n, P = game.n, len(pairs)
    high = m > n - 2 - m
    size = n - 2 - m if high else m
    if size == 0:  # m = 0 (S = ∅) or m = n-2 (R = ∅): one deterministic context per pair
        members = np.full((1, n), high)
        delta = _star_deltas(game, members, np.ones((1, P), dtype=bool), pairs)[2]
        return np.repeat(delta[None], units, 0), np.repeat(np.abs(delta)[None], units, 0)
    block, first = _covering_partitions(rng, units, n, size, pairs)
    T, L = block.shape[1], n // size
    bi, bj = block[:, :, pairs[:, 0]], block[:, :, pairs[:, 1]]      # (units, T, P)
    b = np.arange(L)[None, None, :, None]
    covers = (b != bi[:, :, None]) & (b != bj[:, :, None])           # (units, T, L, P)
    in_first = np.arange(T)[None, :, None] == first[:, None, :]      # (units, T, P)
    if design == "partition":
        used = covers & in_first[:, :, None, :]
    else:
        first_block = np.argmax(covers, axis=2)                      # smallest covering block
        used = in_first[:, :, None, :] & (b == first_block[:, :, None, :])
    unit_idx, part_idx, block_idx = np.nonzero(used.any(axis=3))
    members = block[unit_idx, part_idx] == block_idx[:, None]
    if high:
        members = ~members
    star_d, pair_d, delta = _star_deltas(game, members, used[unit_idx, part_idx, block_idx], pairs)
    G = delta.shape[1]
    sums, abs_sums = np.zeros((units, P, G)), np.zeros((units, P, G))
    counts = np.zeros((units, P))
    np.add.at(sums, (unit_idx[star_d], pair_d), delta)
    np.add.at(abs_sums, (unit_idx[star_d], pair_d), np.abs(delta))
    np.add.at(counts, (unit_idx[star_d], pair_d), 1)
    return sums / counts[..., None], abs_sums / counts[..., None]


def _star_deltas(game: CountingGame, members: np.ndarray, used: np.ndarray, pairs: np.ndarray):
    """Evaluate stars; Δv per (star, pair) incidence: (incidences, G) with its star and pair indices.

    Low stars (base S): Δv = v(S+i+j) - v(S+i) - v(S+j) + v(S). High stars (base N\\R) with
    S = N\\R\\{i,j}: Δv = v(N\\R) - v(N\\R\\j) - v(N\\R\\i) + v(N\\R\\{i,j}). Both read
    double - single_i - single_j + base with double = base xor {i, j}, single_k = base xor {k}.
    """
    masks, single_row, star_d, pair_d, double_row = _star_rows(members, used, pairs)
    values = game(masks)
    i, j = pairs[pair_d, 0], pairs[pair_d, 1]
    delta = (values[double_row] - values[single_row[star_d, i]] - values[single_row[star_d, j]]
             + values[star_d])
    return star_d, pair_d, delta


def _unit_chunks(units: int, rows_per_unit: int):
    step = max(1, _MAX_ROWS_PER_CHUNK // max(1, rows_per_unit))
    for start in range(0, units, step):
        yield min(step, units - start)


def _check_design(design: str) -> str:
    if design not in DESIGNS:
        raise ValueError(f"unknown design {design!r}; choose one of {', '.join(DESIGNS)}")
    return design


def _order_interaction_units(v: Game, n: int, pairs, orders, samples: int, seed: int, design: str,
                             batch_rows: int):
    n = check_players(n)
    pairs, orders = check_pairs(pairs, n), check_orders(orders, n)
    samples, design = check_samples(samples), _check_design(design)
    game = CountingGame(v, n, batch_rows)
    rng = np.random.default_rng(seed)
    deltas, abs_deltas = [], []
    for m in orders:
        parts = [_order_units(game, pairs, int(m), chunk, rng, design)
                 for chunk in _unit_chunks(samples, 2 * n * (1 + n + len(pairs)))]
        deltas.append(np.concatenate([p[0] for p in parts]))
        abs_deltas.append(np.concatenate([p[1] for p in parts]))
    info = {"orders": orders.tolist(), "pairs": pairs.tolist(), "design": design, "estimator": "mimi",
            "axes": ["order", "pair"] + ([] if game.squeeze else ["game"])}
    return game, np.stack(deltas, axis=1), np.stack(abs_deltas, axis=1), info


def sample_order_interactions(v: Game, n: int, pairs, orders, samples: int = 32, seed: int = 0, *,
                              design: str = "partition", batch_rows: int = DEFAULT_BATCH_ROWS) -> Estimate:
    """I^(m)(i, j) for the given pairs and orders by block-star sampling (module docstring).

    ``samples`` is the number of iid units per order (each unit gives every pair at least one
    context; at low and high orders a unit gives each pair about L - 2 disjoint contexts).
    Returns an :class:`Estimate`: ``mean``/``se`` of shape (len(orders), len(pairs)), plus a trailing
    G axis when v returns (k, G); ``forward_passes`` counts mask rows (once per row for any G);
    ``unit_values`` (samples, orders, pairs[, G]) for SEs of differences and averages.
    """
    game, deltas, _, info = _order_interaction_units(v, n, pairs, orders, samples, seed, design, batch_rows)
    return Estimate.from_units(game.shape_out(deltas), game.forward_passes, info)


def sample_order_profile(v: Game, n: int, pairs, orders, samples: int = 32, seed: int = 0, *,
                         design: str = "partition", batch_rows: int = DEFAULT_BATCH_ROWS) -> Estimate:
    """Order profile: mean over the pair set of I^(m)(i, j) per order, (len(orders),) (or (M, G)).

    The SE comes from the units, so it includes the correlation between pairs that share blocks.
    For G games on shared masks, ``.difference(0, 1)`` gives clean-minus-adversarial with its SE.
    """
    return sample_order_interactions(v, n, pairs, orders, samples, seed, design=design,
                                     batch_rows=batch_rows).average(axis=1)


def paper_order_interactions(v: Game, n: int, pairs, orders, samples: int = 100, seed: int = 0, *,
                             batch_rows: int = DEFAULT_BATCH_ROWS) -> Estimate:
    """The released protocol: per pair and order, ``samples`` iid contexts S ~ U_m(N\\{i,j}) and the four
    evaluations of Δv(i, j, S) on that same S (4 · samples · P rows per order). Unit k is the k-th
    context of every pair (independent across pairs), so SEs of pair averages are plain.
    ``mean``/``se``: (len(orders), len(pairs)) (trailing G axis for (k, G) games)."""
    n = check_players(n)
    pairs, orders, samples = check_pairs(pairs, n), check_orders(orders, n), check_samples(samples)
    game = CountingGame(v, n, batch_rows)
    rng = np.random.default_rng(seed)
    eye = np.eye(n, dtype=bool)
    out = []
    for m in orders:
        per_order = []
        for chunk in _unit_chunks(samples, 4 * len(pairs)):
            keys = rng.random((chunk, len(pairs), n))
            keys[:, np.arange(len(pairs)), pairs[:, 0]] = np.inf
            keys[:, np.arange(len(pairs)), pairs[:, 1]] = np.inf
            rank = np.argsort(np.argsort(keys, axis=2), axis=2)
            context = (rank < m).reshape(-1, n)
            ei, ej = np.tile(eye[pairs[:, 0]], (chunk, 1)), np.tile(eye[pairs[:, 1]], (chunk, 1))
            values = game(np.concatenate([context | ei | ej, context | ei, context | ej, context]))
            double, single_i, single_j, base = np.split(values, 4)
            per_order.append((double - single_i - single_j + base).reshape(chunk, len(pairs), -1))
        out.append(np.concatenate(per_order))
    info = {"orders": orders.tolist(), "pairs": pairs.tolist(), "estimator": "paper",
            "axes": ["order", "pair"] + ([] if game.squeeze else ["game"])}
    return Estimate.from_units(game.shape_out(np.stack(out, axis=1)), game.forward_passes, info)


def sample_cell_heatmap(v: Game, n: int, cell: int, orders, samples: int = 32, seed: int = 0, *,
                        pool: bool = False, design: str = "partition",
                        batch_rows: int = DEFAULT_BATCH_ROWS) -> Estimate:
    """One cell against every other: I^(m)(cell, j) for all j, shape (len(orders), n) (0, SE 0 at the
    cell itself), or with ``pool=True`` the mean over the orders, shape (n,); trailing G axis for
    (k, G) games. The pair set {(cell, j)} makes every block star share v(S) and v(S+cell)
    (low orders) or v(N\\R) and v(N\\R\\cell) (high orders): about 2 rows per Δv instead of 4.
    Orders are sampled independently, so the pooled SE is that of an average of independent terms."""
    n = check_players(n)
    if isinstance(cell, bool) or not isinstance(cell, (int, np.integer)) or not 0 <= cell < n:
        raise ValueError(f"cell {cell!r} is out of range for n={n} players (0..{n - 1})")
    others = np.delete(np.arange(n), cell)
    pairs = np.stack([np.full(n - 1, cell), others], axis=1)
    est = sample_order_interactions(v, n, pairs, orders, samples, seed, design=design, batch_rows=batch_rows)
    units = np.zeros((est.units, est.mean.shape[0], n) + est.mean.shape[2:])
    units[:, :, others] = est.unit_values
    info = {**est.info, "cell": int(cell), "axes": ["order", "cell"] + est.info["axes"][2:]}
    result = Estimate.from_units(units, est.forward_passes, info)
    if pool:
        result = result.average(axis=0)
        result.info["axes"] = result.info["axes"][1:]
        result.info["pooled_orders"] = True
    return result


def paper_protocol(v: Game, rows: int, cols: int, samples: int = 100, seed: int = 0, *,
                   pair_count: int | None = 200, ratios=None, estimator: str = "mimi",
                   design: str = "partition", batch_rows: int = DEFAULT_BATCH_ROWS) -> Estimate:
    """The paper's setting on a rows x cols grid of players: ``pair_count`` random 8-neighbour pairs
    (all of them if None or fewer exist), orders m = int((n-2) r) for r in ``ratios`` (default the
    paper's 0.1..0.9, 0.95, 1), estimated by ``estimator="mimi"`` (block stars, ``samples`` units per
    order) or ``"paper"`` (``samples`` contexts per pair and order, 4 rows each).
    ``.average(axis=1)`` of the result is the order profile."""
    from mimi.interactions.pairs import PAPER_RATIOS, neighbor_pairs, paper_orders, sample_pairs

    n = rows * cols
    pairs = sample_pairs(neighbor_pairs(rows, cols), pair_count, seed)
    orders = paper_orders(n, PAPER_RATIOS if ratios is None else ratios)
    if estimator == "mimi":
        return sample_order_interactions(v, n, pairs, orders, samples, seed, design=design, batch_rows=batch_rows)
    if estimator == "paper":
        return paper_order_interactions(v, n, pairs, orders, samples, seed, batch_rows=batch_rows)
    raise ValueError(f"unknown estimator {estimator!r}; choose mimi or paper")
