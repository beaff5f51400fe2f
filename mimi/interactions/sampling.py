r"""Sampled order-m interactions with standard errors: mimi's block-design estimator and the paper's.

Target: I^(m)(i, j) = E_{S ~ U_m(N\{i,j})} Δv(i, j, S), U_m(A) the uniform law on m-subsets of A,
Δv(i, j, S) = v(S+i+j) - v(S+i) - v(S+j) + v(S).

**Paper protocol** (:func:`paper_order_interactions`): for every pair and order, ``samples``
independent contexts S ~ U_m(N\{i,j}), four evaluations each: 4 · samples · P rows per order.

**mimi** (:func:`sample_order_interactions`): contexts come from randomly relabelled *block designs*
and are shared through *block stars*.

- Design: K blocks of s = min(m, n-2-m) players over the N' free players
  (:func:`~mimi.interactions.designs.block_design`), K = round(coverage · N' / s), so every player lies in
  ``coverage`` (±1) blocks and two blocks share
  nearly the same number of players, about s (r - 1) / (K - 1) with r = K s / N' (a near-balanced
  incomplete block design). A uniformly random relabelling of the players makes each block a uniform
  s-subset. With s = 1 the design is the N' single players: every context once, exact.
- Low orders (m <= n-2-m): a block B is a context S = B. Every pair p of the group disjoint from B gets
  Δv(p, B) from v(B), v(B+k) for the players k of those pairs, and v(B+i+j).
- High orders (m > n-2-m): a block R is a *removed* set. Every pair p disjoint from R gets the context
  S_p = N \ (R ∪ p) (size m), and Δv = v(N\R) - v(N\R\i) - v(N\R\j) + v(N\R\{i,j}) shares v(N\R)
  and v(N\R\k) between the pairs.
- m = 0 and m = n-2 have one context per pair: evaluated once, exact, SE 0.

Pairs are split into groups (``grouping``); each group relabels its own designs, independent of the
other groups, over the players outside C_g (the players common to all its pairs). One *unit* (the iid
unit of the standard error) draws, for every group, designs until each of its pairs is disjoint from at
least one block; pair p averages Δv over all blocks of its first covering design that are disjoint
from it (all K blocks with ``grouping="pair"``, where C_g = {i, j}).

Unbiased: given the positions of i and j (which alone decide which blocks cover p, and in which design),
the other players fill the remaining positions uniformly, so every block disjoint from p is a uniform
s-subset of N\{i,j}, i.e. its context is a draw from U_m(N\{i,j}). So each unit's value for each pair
is unbiased, units are iid, and mean and SE follow (:class:`~mimi.interactions.estimate.Estimate`).

Why groups: pairs that share a block share its context and its rows v(S), v(S+k); that saves rows
(about 2 instead of 4 per Δv with ``grouping="all"``), but Δv of pairs under one context are
correlated (pairs (i, j) and (i, k) share f_i(S) = v(S+i) - v(S) outright). For per-pair values (a
heatmap: one cell against all) the correlation costs nothing, so ``"all"`` is best there; for averages
over pairs (the order profile) it adds variance, so ``"pair"`` (each pair its own designs, pairs
independent) is the default. Every SE comes from the units and so includes whatever correlation the
grouping creates. :func:`~mimi.interactions.order_profile.sample_order_profile` adds Neyman allocation across
pair groups.

The designs themselves (and why balanced ones) are :mod:`mimi.interactions.designs`; the order profile over a pair
set, its pair draws and replicates :mod:`mimi.interactions.order_profile`; a heatmap of one cell against every
other, with the contrast of gains, :mod:`mimi.interactions.heatmap`.
"""

from __future__ import annotations

import numpy as np

from mimi.core.checks import check_orders, check_pairs, check_players, check_positive_int, check_samples
from mimi.core.games import DEFAULT_BATCH_ROWS, CountingGame, Game
from mimi.core.pairs import PAPER_RATIOS, neighbor_pairs, paper_orders, sample_pairs
from mimi.interactions.designs import DEFAULT_COVERAGE, _covering_blocks, _unit_chunks, block_count
from mimi.interactions.estimate import Estimate

GROUPINGS = ("pair", "all", "player")


def pair_groups(pairs: np.ndarray, grouping="pair") -> list[np.ndarray]:
    """Indices of the pairs that share designs: ``"all"`` one group, ``"pair"`` one group per pair,
    ``"player"`` the pairs with the same first player (i of (i, j)), or an explicit list of index
    lists that holds every pair exactly once."""
    count = len(pairs)
    if isinstance(grouping, str):
        if grouping == "all":
            return [np.arange(count)]
        if grouping == "pair":
            return [np.array([p]) for p in range(count)]
        if grouping == "player":
            return [np.flatnonzero(pairs[:, 0] == i) for i in np.unique(pairs[:, 0])]
        raise ValueError(f"unknown grouping {grouping!r}; choose one of {', '.join(GROUPINGS)} or give index lists")
    groups = [np.asarray(g, dtype=np.int64).reshape(-1) for g in grouping]
    flat = np.concatenate(groups) if groups else np.zeros(0, dtype=np.int64)
    if any(len(g) == 0 for g in groups) or np.sort(flat).tolist() != list(range(count)):
        raise ValueError(f"grouping must hold every pair index 0..{count - 1} exactly once, in non-empty groups")
    return groups


def _padded(groups: list[np.ndarray]) -> np.ndarray:
    out = np.full((len(groups), max(len(g) for g in groups)), -1)
    for row, group in enumerate(groups):
        out[row, :len(group)] = group
    return out


def _star_deltas(game: CountingGame, members: np.ndarray, star: np.ndarray, i: np.ndarray, j: np.ndarray):
    r"""Evaluate block stars and return Δv for each incidence (star[r], pair (i[r], j[r])): (R, G).

    ``members`` (B, n) is each star's base coalition. Low stars (base S):
    Δv = v(S+i+j) - v(S+i) - v(S+j) + v(S). High stars (base N\R, context S = N\R\{i,j}):
    Δv = v(N\R) - v(N\R\j) - v(N\R\i) + v(N\R\{i,j}). Both read double - single_i - single_j + base
    with double = base xor {i, j} and single_k = base xor {k}; singles are shared within a star.
    """
    n = members.shape[1]
    need = np.zeros(members.shape, dtype=bool)
    need[star, i] = need[star, j] = True
    star_s, player_s = np.nonzero(need)
    eye = np.eye(n, dtype=bool)
    masks = np.concatenate([members, members[star_s] ^ eye[player_s], members[star] ^ eye[i] ^ eye[j]])
    single_row = np.full(need.shape, -1)
    single_row[star_s, player_s] = len(members) + np.arange(len(star_s))
    values = game(masks)
    double = values[len(members) + len(star_s):]
    return double - values[single_row[star, i]] - values[single_row[star, j]] + values[star]


def _order_units(game: CountingGame, pairs: np.ndarray, groups: list[np.ndarray], m: int, units: int,
                 rng: np.random.Generator, coverage: int, contexts: int | None = None):
    """Per-unit mean of Δv and of |Δv| per pair at order m: two (units, P, G) arrays.

    Each group relabels its own designs over the players outside C_g, the players common to all its
    pairs; a block disjoint from a pair is a uniform context of it (module docstring). ``contexts``
    keeps only the first that many such blocks per pair (by block index, which depends on the
    positions of i and j alone, so each kept block is still a uniform context)."""
    n, P = game.n, len(pairs)
    high = m > n - 2 - m
    size = n - 2 - m if high else m
    if size == 0:  # m = 0 (S = ∅) or m = n-2 (R = ∅): one deterministic context per pair
        delta = _star_deltas(game, np.full((1, n), high), np.zeros(P, dtype=np.int64), pairs[:, 0], pairs[:, 1])
        return np.repeat(delta[None], units, 0), np.repeat(np.abs(delta)[None], units, 0)
    padded = _padded(groups)
    common = np.zeros((len(groups), n), dtype=bool)
    for row, group in enumerate(groups):
        common[row, np.array(sorted(set.intersection(*(set(pairs[p]) for p in group))), dtype=np.int64)] = True
    Q, k = padded.shape
    slots = np.tile(padded, (units, 1))                               # (units*Q, k) pair indices
    valid = slots >= 0
    ends = pairs[np.maximum(slots, 0)]                                # (units*Q, k, 2)
    blocks, first = _covering_blocks(rng, np.tile(common, (units, 1)), size, coverage, ends, valid)
    T, K = blocks.shape[1:3]
    shape = (units * Q, T, K, k)
    has_i = np.take_along_axis(blocks, np.broadcast_to(ends[:, None, None, :, 0], shape), axis=3)
    has_j = np.take_along_axis(blocks, np.broadcast_to(ends[:, None, None, :, 1], shape), axis=3)
    used = (blocks.any(axis=3)[..., None] & ~has_i & ~has_j          # block disjoint from the pair
            & (np.arange(T)[None, :, None] == first[:, None, :])[:, :, None, :]    # first covering round
            & valid[:, None, None, :])                                            # (draws, T, K, k)
    if contexts is not None:
        used &= np.cumsum(used, axis=2) <= contexts
    draw, design, block, slot = np.nonzero(used)
    stars, star = np.unique(np.stack([draw, design, block], axis=1), axis=0, return_inverse=True)
    members = blocks[stars[:, 0], stars[:, 1], stars[:, 2]]
    if high:
        members = ~members
    pair = slots[draw, slot]
    delta = _star_deltas(game, members, star.reshape(-1), pairs[pair, 0], pairs[pair, 1])
    unit = draw // Q
    sums, abs_sums = np.zeros((units, P, delta.shape[1])), np.zeros((units, P, delta.shape[1]))
    counts = np.zeros((units, P))
    np.add.at(sums, (unit, pair), delta)
    np.add.at(abs_sums, (unit, pair), np.abs(delta))
    np.add.at(counts, (unit, pair), 1)
    return sums / counts[..., None], abs_sums / counts[..., None]


def _star_units(game: CountingGame, pairs: np.ndarray, groups: list[np.ndarray], m: int, units: int,
                rng: np.random.Generator, coverage: int, contexts: int | None):
    """:func:`_order_units` for ``units`` units, built in chunks of at most ``_MAX_ROWS_PER_CHUNK`` rows."""
    blocks = min(block_count(game.n, max(1, min(m, game.n - 2 - m)), coverage), contexts or game.n)
    rows = 4 * blocks * sum(len(g) for g in groups)
    parts = [_order_units(game, pairs, groups, m, chunk, rng, coverage, contexts)
             for chunk in _unit_chunks(units, rows)]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def _paper_deltas(game: CountingGame, pairs: np.ndarray, m: int, samples: int, rng) -> np.ndarray:
    """(samples, P, G) Δv(p, S) on independent contexts S ~ U_m(N\\p), four rows each."""
    n, P = game.n, len(pairs)
    eye = np.eye(n, dtype=bool)
    out = []
    for chunk in _unit_chunks(samples, 4 * P):
        keys = rng.random((chunk, P, n))
        keys[:, np.arange(P), pairs[:, 0]] = np.inf
        keys[:, np.arange(P), pairs[:, 1]] = np.inf
        context = (np.argsort(np.argsort(keys, axis=2), axis=2) < m).reshape(-1, n)
        ei, ej = np.tile(eye[pairs[:, 0]], (chunk, 1)), np.tile(eye[pairs[:, 1]], (chunk, 1))
        values = game(np.concatenate([context | ei | ej, context | ei, context | ej, context]))
        double, single_i, single_j, base = np.split(values, 4)
        out.append((double - single_i - single_j + base).reshape(chunk, P, -1))
    return np.concatenate(out)


def _neyman_groups(groups: list[np.ndarray], pilot: np.ndarray, rounds: float) -> list[np.ndarray]:
    """Repeat each group r_g >= 1 times, r_g ∝ σ_g / sqrt(rows of a round of g), mean about ``rounds``.

    σ_g² = Σ_{p in g} var(Δv_p) from the pilot (averaged over games); a round of g costs about
    1 + 3 |g| rows. This is Neyman allocation: it minimizes the variance of the pair average for the rows.
    """
    variance = pilot.var(axis=0, ddof=1).mean(axis=-1)                        # (P,)
    weight = np.array([np.sqrt(variance[g].sum() / (1 + 3 * len(g))) for g in groups])
    if not np.isfinite(weight).all() or weight.sum() == 0:
        return groups
    repeats = np.maximum(1, np.round(rounds * len(groups) * weight / weight.sum())).astype(int)
    return [g for g, r in zip(groups, repeats) for _ in range(r)]


def _order_interaction_units(v: Game, n: int, pairs, orders, samples: int, seed: int, grouping,
                             batch_rows: int, coverage: int = DEFAULT_COVERAGE, pilot: int = 0,
                             rounds: float = 1.0, contexts: int | None = None, min_samples: int = 2):
    n = check_players(n)
    pairs, orders = check_pairs(pairs, n), check_orders(orders, n)
    samples = check_samples(samples, minimum=min_samples)
    groups = pair_groups(pairs, grouping)
    coverage = check_positive_int(coverage, "coverage")
    if contexts is not None:
        contexts = check_positive_int(contexts, "contexts")
    if pilot and pilot < 2:
        raise ValueError(f"pilot must be 0 (no allocation) or >= 2 contexts per pair, got {pilot}")
    game = CountingGame(v, n, batch_rows)
    rng = np.random.default_rng(seed)
    deltas, abs_deltas, repeats = [], [], []
    for m in orders:
        order_groups = groups
        if pilot and 0 < min(m, n - 2 - m):
            order_groups = _neyman_groups(groups, _paper_deltas(game, pairs, int(m), pilot, rng), rounds)
        repeats.append(len(order_groups) / len(groups))
        delta, abs_delta = _star_units(game, pairs, order_groups, int(m), samples, rng, coverage, contexts)
        deltas.append(delta)
        abs_deltas.append(abs_delta)
    info = {"orders": orders.tolist(), "pairs": pairs.tolist(), "estimator": "mimi",
            "grouping": grouping if isinstance(grouping, str) else "custom", "contexts_per_unit": contexts,
            "axes": ["order", "pair"] + ([] if game.squeeze else ["game"])}
    if pilot:
        info.update(pilot_contexts_per_pair=pilot, mean_rounds_per_group=[round(r, 3) for r in repeats])
    return game, np.stack(deltas, axis=1), np.stack(abs_deltas, axis=1), info


def sample_order_interactions(v: Game, n: int, pairs, orders, samples: int = 32, seed: int = 0, *,
                              grouping="pair", contexts: int | None = None,
                              coverage: int = DEFAULT_COVERAGE, batch_rows: int = DEFAULT_BATCH_ROWS) -> Estimate:
    """I^(m)(i, j) for the given pairs and orders by block-star sampling (module docstring).

    ``samples`` is the number of iid units per order (each unit gives every pair at least one
    context; with ``grouping="pair"`` it gives each pair the K blocks of one design, K about
    ``coverage`` · (n - 2) / min(m, n-2-m); ``coverage`` must be >= 1). ``contexts`` c caps the contexts
    a unit gives each pair at c (the first c blocks disjoint from it): the effort per pair and order is
    then at most ``samples`` x c contexts, the paper's unit of effort (it uses 100).
    Returns an :class:`Estimate`: ``mean``/``se`` of shape (len(orders), len(pairs)), plus a trailing
    G axis when v returns (k, G); ``mask_rows`` counts mask rows (once per row for any G);
    ``unit_values`` (samples, orders, pairs[, G]) for SEs of differences and averages.
    """
    game, deltas, _, info = _order_interaction_units(v, n, pairs, orders, samples, seed, grouping, batch_rows,
                                                     coverage, contexts=contexts)
    return Estimate.from_units(game.shape_out(deltas), game.mask_rows, info)


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
    out = [_paper_deltas(game, pairs, int(m), samples, rng) for m in orders]
    info = {"orders": orders.tolist(), "pairs": pairs.tolist(), "estimator": "paper",
            "axes": ["order", "pair"] + ([] if game.squeeze else ["game"])}
    return Estimate.from_units(game.shape_out(np.stack(out, axis=1)), game.mask_rows, info)


def paper_protocol(v: Game, rows: int, cols: int, samples: int = 100, seed: int = 0, *,
                   pair_count: int | None = 200, ratios=None, estimator: str = "mimi",
                   grouping="player", batch_rows: int = DEFAULT_BATCH_ROWS) -> Estimate:
    """The paper's setting on a rows x cols grid of players: ``pair_count`` random 8-neighbour pairs
    (all of them if None or fewer exist), orders m = int((n-2) r) for r in ``ratios`` (default the
    paper's 0.1..0.9, 0.95, 1), estimated by ``estimator="mimi"`` (block stars, ``samples`` units per
    order) or ``"paper"`` (``samples`` contexts per pair and order, 4 rows each).
    ``.average(axis=1)`` of the result is the order profile."""
    n = rows * cols
    pairs = sample_pairs(neighbor_pairs(rows, cols), pair_count, seed)
    orders = paper_orders(n, PAPER_RATIOS if ratios is None else ratios)
    if estimator == "mimi":
        return sample_order_interactions(v, n, pairs, orders, samples, seed, grouping=grouping, batch_rows=batch_rows)
    if estimator == "paper":
        return paper_order_interactions(v, n, pairs, orders, samples, seed, batch_rows=batch_rows)
    raise ValueError(f"unknown estimator {estimator!r}; choose mimi or paper")
