r"""Sampled order-m interactions with standard errors: mimi's block-design estimator and the paper's.

Target: I^(m)(i, j) = E_{S ~ U_m(N\{i,j})} Δv(i, j, S), U_m(A) the uniform law on m-subsets of A,
Δv(i, j, S) = v(S+i+j) - v(S+i) - v(S+j) + v(S).

**Paper protocol** (:func:`paper_order_interactions`): for every pair and order, ``samples``
independent contexts S ~ U_m(N\{i,j}), four evaluations each: 4 · samples · P rows per order.

**mimi** (:func:`sample_order_interactions`): contexts come from randomly relabelled *block designs*
and are shared through *block stars*.

- Design: K blocks of s = min(m, n-2-m) players over the N' free players (:func:`block_design`),
  K = round(coverage · N' / s), so every player lies in ``coverage`` (±1) blocks and two blocks share
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

Why balanced designs: for any design, the variance of a unit's mean over its blocks is
(1/K²) Σ_{a,b} C(|B_a ∩ B_b|), C(t) the covariance of Δv at two uniform contexts sharing t players.
Equal coverage removes the part of Δv that is additive in the players (1[k in S] terms); near-equal
intersections (for fixed coverage, the same as near-equal co-occurrence of every two players) remove
most of the pairwise part; what is left is higher order. A plain partition leaves N' mod s players
out, so at middle orders (two or three blocks) its coverage is uneven and its two blocks are near
complements (at m = N'/2 exactly, Δv at S and at its complement share every even-order part).
BENCHMARKS.md has the forward passes for the paper's SE at coverage 1 to 5 (flat from 4 on, the
default).

Why groups: pairs that share a block share its context and its rows v(S), v(S+k); that saves rows
(about 2 instead of 4 per Δv with ``grouping="all"``), but Δv of pairs under one context are
correlated (pairs (i, j) and (i, k) share f_i(S) = v(S+i) - v(S) outright). For per-pair values (a
heatmap: one cell against all) the correlation costs nothing, so ``"all"`` is best there; for averages
over pairs (the order profile) it adds variance, so ``"pair"`` (each pair its own designs, pairs
independent) is the default. Every SE comes from the units and so includes whatever correlation the
grouping creates. :func:`sample_order_profile` adds Neyman allocation across pair groups.

**Heatmaps** (:func:`sample_cell_heatmap`) can also use the *contrast of gains* (:func:`_contrast_units`):
with g(S) = v(S+cell) - v(S), I^(m)(cell, j) = E[g(T) | j ∈ T, |T| = m+1] - E[g(S) | j ∉ S, |S| = m], and
one evaluation of g (2 rows) serves every cell at once, as a set that holds it or one that misses it.
Unpaired, g varies 3-4 times more than Δv, but a star pays 2 rows for each cell it serves; at middle
orders, where a star serves only about half of the cells, the contrast needs fewer rows for the same
SE, at the outer orders the stars do (BENCHMARKS.md; ``estimator="auto"`` picks by :data:`CONTRAST_RATIOS`).
"""

from __future__ import annotations

import functools

import numpy as np

from mimi.interactions.estimate import Estimate
from mimi.interactions.pairs import cell_pairs, sample_pairs
from mimi.interactions.game import (DEFAULT_BATCH_ROWS, CountingGame, Game, check_orders, check_pairs,
                                    check_players, check_positive_int, check_samples)

GROUPINGS = ("pair", "all", "player")
DEFAULT_COVERAGE = 4
_MAX_ROWS_PER_CHUNK = 1 << 18  # mask rows built at once (memory bound: rows x n bytes)
_PAIR_STREAM = 7919              # random stream of the pair draw: default_rng([seed, _PAIR_STREAM])


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


def _unit_chunks(units: int, rows_per_unit: int):
    step = max(1, _MAX_ROWS_PER_CHUNK // max(1, rows_per_unit))
    for start in range(0, units, step):
        yield min(step, units - start)


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


def draw_pairs(pair_set: np.ndarray, pair_count: int | None, seed: int) -> np.ndarray:
    """``pair_count`` pairs drawn uniformly without replacement from ``pair_set`` (all of it for None),
    on a random stream of its own (independent of the contexts drawn with the same seed)."""
    size = len(pair_set)
    if pair_count is None or pair_count == size:
        return pair_set
    if isinstance(pair_count, bool) or not isinstance(pair_count, (int, np.integer)) or not 2 <= pair_count <= size:
        raise ValueError(f"pair_count={pair_count!r} is outside 2..{size}, the pairs the pair set holds "
                         f"(None: all of them; one drawn pair gives no standard error for the draw)")
    return sample_pairs(pair_set, int(pair_count), [seed, _PAIR_STREAM])


def mean_square_over_pairs(pair_units: np.ndarray) -> Estimate:
    """The mean over pairs drawn from a pair set of I(i, j)², per order, unbiased: with U >= 2 independent units
    x_u of a pair, ((Σ_u x_u)² - Σ_u x_u²) / (U (U - 1)) (the mean of the products x_u x_u' of distinct units) has
    expectation I², where the square of a mean of few units would add its variance. ``pair_units`` (U, M, K[, G])
    as ``info["pair_units"]``; the K pairs' values are iid draws, so their spread gives the SE (it covers the
    pair draw and the contexts; conservative by the finite-population factor when K is a large part of the set)."""
    units = np.asarray(pair_units, dtype=np.float64)
    count = units.shape[0]
    if count < 2:
        raise ValueError(f"an unbiased mean of squares needs at least 2 units per pair, got {count}")
    per_pair = (units.sum(axis=0) ** 2 - (units ** 2).sum(axis=0)) / (count * (count - 1))   # (M, K[, G])
    if per_pair.shape[1] < 2:
        raise ValueError("an unbiased mean of squares over pairs needs at least 2 pairs for its SE")
    return Estimate.from_units(np.moveaxis(per_pair, 1, 0), 0, {"units": count, "pairs": per_pair.shape[1]})


def replicate_seed(seed: int, replicate: int) -> int:
    """The seed of independent replicate ``replicate`` of a computation seeded ``seed`` (replicate 0: seed)."""
    if replicate == 0:
        return int(seed)
    return int(np.random.SeedSequence([int(seed), int(replicate)]).generate_state(1)[0])


def sample_order_profile(v: Game, n: int, pairs, orders, samples: int = 32, seed: int = 0, *,
                         pair_count: int | None = None, contexts: int | None = None, grouping="pair",
                         pilot: int = 0, rounds: float = 3.0,
                         coverage: int = DEFAULT_COVERAGE, max_se: float | None = None,
                         max_rows: int | None = None, batch_rows: int = DEFAULT_BATCH_ROWS,
                         keep_pair_units: bool = False) -> Estimate:
    """Order profile: Ī^(m) = (1/|P|) Σ_{(i,j) in P} I^(m)(i, j) per order over the pair set P = ``pairs``,
    shape (len(orders),) (or (M, G)).

    ``pair_count`` K < |P|: K pairs drawn uniformly without replacement from P (:func:`draw_pairs`),
    each with ``samples`` units of its own designs; the SE is the two-stage one of
    :meth:`Estimate.from_strata` and covers the draw of the pairs as well as the contexts. None (or |P|):
    every pair of P, the SE covers the contexts (stratified: P (U - 1) degrees of freedom, so even 2 units
    give an SE to trust). ``samples`` U >= 2: iid units per pair and order (U = 1 is allowed when pairs are
    drawn: the SE then comes from the spread of the drawn pairs, conservative by f s_b² / K,
    :meth:`Estimate.from_strata`), a unit being one relabelled balanced block design (about ``coverage`` (n - 2) / min(m, n-2-m) contexts; module docstring), or its
    first ``contexts`` blocks disjoint from the pair. Between-pair variance is often as large as a
    single context's, so for a mean over a large pair set many pairs with few contexts (``contexts=1``)
    beat few pairs with whole designs (BENCHMARKS.md).

    Target precision: with ``max_se``, independent replicates (:func:`replicate_seed`, fresh pairs and
    contexts each) are added until every order's SE (of every game) is at most ``max_se`` or one more would
    pass ``max_rows`` mask rows; :meth:`Estimate.combine` pools
    them. ``info["precision"]`` says whether the target was reached.

    With ``pilot`` >= 2, each sampled order first draws ``pilot`` independent contexts per
    pair (4 rows each; counted in ``mask_rows``, not used in the estimate, so it stays unbiased)
    and every unit then gives group g r_g >= 1 rounds of designs, r_g ∝ σ_g / sqrt(rows of a round)
    with mean ``rounds`` (Neyman allocation). ``pilot=0`` (default): when the pairs' variances are alike,
    as on the Fashion-MNIST image games, a pilot of a few contexts misallocates more than it saves
    (BENCHMARKS.md). Groupings other than "pair" share designs between pairs, so they need the whole
    pair set (their SE comes from whole units). For G games on shared masks, ``.difference(0, 1)``
    gives clean-minus-adversarial with its SE.

    ``keep_pair_units``: ``info["pair_units"]`` holds the raw units (U, orders, pairs drawn[, G]) of every
    replicate's pairs side by side (grouping "pair" only), for statistics that need each pair's independent units
    (e.g. an unbiased mean of squared interactions, :func:`mean_square_over_pairs`).
    """
    pair_set = check_pairs(pairs, check_players(n))
    if keep_pair_units and not (isinstance(grouping, str) and grouping == "pair"):
        raise ValueError("keep_pair_units needs grouping='pair' (each pair's own units)")
    if max_se is not None and not (isinstance(max_se, (int, float)) and max_se > 0):
        raise ValueError(f"max_se must be a positive number, got {max_se!r}")
    if max_rows is not None:
        max_rows = check_positive_int(max_rows, "max_rows")

    def replicate(r: int) -> Estimate:
        seed_r = replicate_seed(seed, r)
        drawn = draw_pairs(pair_set, pair_count, seed_r)
        independent = isinstance(grouping, str) and grouping == "pair"
        drawing = len(drawn) < len(pair_set)
        if drawing and not independent:
            raise ValueError(f"grouping={grouping!r} shares designs between pairs, so it needs the whole pair set; "
                             f"use grouping='pair' to draw {pair_count} of {len(pair_set)} pairs")
        game, deltas, _, info = _order_interaction_units(v, n, drawn, orders, samples, seed_r, grouping,
                                                         batch_rows, coverage, pilot, rounds, contexts,
                                                         min_samples=1 if drawing and independent else 2)
        info.update(axes=["order"] + info["axes"][2:], pair_set_size=len(pair_set), pair_count=len(drawn),
                    se_covers=("pairs drawn from the pair set, contexts" if drawing
                               else "contexts (every pair of the set evaluated)"))
        units = game.shape_out(deltas)
        if keep_pair_units:
            info["pair_units"] = units
        if independent:   # every pair draws its own designs: the pairs are independent strata
            return Estimate.from_strata(units, 1, game.mask_rows, info, population=len(pair_set))
        return Estimate.from_units(units.mean(axis=2), game.mask_rows, info)

    replicates = [replicate(0)]
    estimate = replicates[0]
    while max_se is not None and float(np.max(estimate.se)) > max_se:
        spent = sum(r.mask_rows for r in replicates)
        if max_rows is not None and spent + replicates[0].mask_rows > max_rows:
            break
        replicates.append(replicate(len(replicates)))
        estimate = Estimate.combine(replicates)
    if keep_pair_units:
        estimate.info["pair_units"] = np.concatenate([r.info["pair_units"] for r in replicates], axis=2)
    if max_se is not None:
        reached = bool(np.max(estimate.se) <= max_se)
        estimate.info["precision"] = dict(
            max_se=float(max_se), max_rows=max_rows, reached=reached, replicates=len(replicates),
            message=("" if reached else f"the largest SE is {float(np.max(estimate.se)):.3g} > max_se={max_se:g} "
                     f"after {estimate.mask_rows:,} mask rows, the most max_rows={max_rows} allows; "
                     f"this is the best estimate within the budget"))
    return estimate


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


def _covering_coverage(players: int, size: int, coverage: int) -> int:
    """The least coverage >= ``coverage`` whose design puts every player in at least one block."""
    while block_count(players, size, coverage) * size < players:
        coverage += 1
    return coverage


def _star_unit_rows(players: int, m: int, coverage: int) -> int:
    """Rows of one heatmap unit of block stars (no ``contexts`` cap) over ``players`` = n-1 cells: K blocks of
    s = min(m, n-2-m) cells, each star 2 rows for its base and 2 for each of the n-1-s cells it serves."""
    size = max(1, min(m, players - 1 - m))
    return block_count(players, size, coverage) * (2 + 2 * (players - size))


#: Blocks per player (geometric mean of c1 and c0) of one design of the contrast of gains. A unit averages
#: as many independent designs as fit in a block-star unit's rows: on the bench image a single design of
#: 52-229 blocks per player and arm needed 0.44-0.48 of the paper's passes where designs of 6-55 needed
#: 0.23-0.31 (BENCHMARKS.md).
CONTRAST_COVERAGE = 12


def _contrast_design(players: int, m: int) -> tuple[int, int]:
    """(c1, c0) of one design of :func:`_contrast_units`: c1 / c0 about sqrt((m+1) / (players-m)), geometric
    mean :data:`CONTRAST_COVERAGE`, each enough for its design to cover every player."""
    balance = ((m + 1) / (players - m)) ** 0.25
    return (_covering_coverage(players, m + 1, max(1, round(CONTRAST_COVERAGE * balance))),
            _covering_coverage(players, players - m, max(1, round(CONTRAST_COVERAGE / balance))))


def _contrast_rows(players: int, m: int, coverage: int) -> tuple[int, int]:
    """(designs per unit, rows per design) of :func:`_contrast_units`: as many designs as fit in the rows of
    a block-star unit at ``coverage`` (at least one), so that ``samples`` and ``coverage`` buy about the
    same effort with either estimator."""
    kept, removed = _contrast_design(players, m)
    rows = 2 * (block_count(players, m + 1, kept) + block_count(players, players - m, removed))
    return max(1, _star_unit_rows(players, m, coverage) // rows), rows


def _contrast_designs(game: CountingGame, cell: int, m: int, draws: int, rng: np.random.Generator) -> np.ndarray:
    """I^(m)(cell, j) for every j != cell from each of ``draws`` independent designs (:func:`_contrast_units`):
    (draws, n-1, G)."""
    n = game.n
    players = n - 1
    kept_coverage, removed_coverage = _contrast_design(players, m)
    excluded = np.zeros((draws, n), dtype=bool)
    excluded[:, cell] = True
    kept = _random_blocks(rng, excluded, m + 1, kept_coverage)
    removed = _random_blocks(rng, excluded, players - m, removed_coverage)
    contexts = np.concatenate([kept, ~removed & ~excluded[:, None]], axis=1).reshape(-1, n)
    with_cell = contexts.copy()
    with_cell[:, cell] = True
    values = game(np.concatenate([with_cell, contexts]))
    gain = (values[:len(contexts)] - values[len(contexts):]).reshape(draws, -1, values.shape[1])
    others = np.delete(np.arange(n), cell)
    hold, miss = kept[:, :, others], removed[:, :, others]
    first = kept.shape[1]
    return (np.einsum("ukp,ukg->upg", hold, gain[:, :first]) / hold.sum(axis=1)[..., None]
            - np.einsum("ukp,ukg->upg", miss, gain[:, first:]) / miss.sum(axis=1)[..., None])


def _contrast_units(game: CountingGame, cell: int, m: int, units: int, rng: np.random.Generator,
                    coverage: int) -> np.ndarray:
    r"""Per-unit I^(m)(cell, j) for every j != cell (increasing j): (units, n-1, G), by contrasting gains.

    With g(S) = v(S+cell) - v(S) on the n' = n-1 other players,
    I^(m)(cell, j) = E[g(T) | j ∈ T, |T| = m+1] - E[g(S) | j ∉ S, |S| = m]  (T = S+j).
    A design evaluates g (2 rows) on the blocks T of a relabelled design of (m+1)-sets holding each player
    c1 times and on the sets S = N'\R for the blocks R of an independent relabelled design of (n'-m)-sets
    (so each player misses c0 of the S), and gives cell j the mean of g over the T that hold j minus the
    mean over the S that miss j; a unit averages :func:`_contrast_rows` independent designs. Unbiased:
    given j's position, the other members of a block are uniform, so each such T (S) is a uniform
    (m+1)-set holding j (m-set missing j). Every evaluation serves every cell, which is what beats a
    block star's 2 rows per Δv at middle orders; balanced designs cancel the part of g that is additive
    in the players. c1 / c0 = sqrt((m+1) / (n'-m)) gives the two means equal variance per row for
    equal-variance g (a block of T costs 2 rows and K1 = c1 n' / (m+1)); one large design does worse than
    several of moderate coverage (:data:`CONTRAST_COVERAGE`). Built in chunks of at most
    ``_MAX_ROWS_PER_CHUNK`` rows."""
    designs, rows = _contrast_rows(game.n - 1, m, coverage)
    parts = []
    for chunk in _unit_chunks(units, designs * rows):
        by_design = _contrast_designs(game, cell, m, chunk * designs, rng)
        parts.append(by_design.reshape((chunk, designs) + by_design.shape[1:]).mean(axis=1))
    return np.concatenate(parts)


HEATMAP_ESTIMATORS = ("auto", "stars", "contrast")
#: Orders m / (n-2) where ``estimator="auto"`` uses the contrast of gains for a heatmap: from m = 4 to 32
#: of 47 it needed 0.22-0.29 of the paper's passes against 0.34-0.53 for block stars, at m = 37 the two
#: were alike, and at m = 42 and 44 stars needed less (BENCHMARKS.md, gallery image 0 of fmnist-standard).
CONTRAST_RATIOS = (0.05, 0.75)


def heatmap_estimator(estimator: str, m: int, n: int, contexts: int | None) -> str:
    """The estimator a heatmap uses at order m: ``"stars"`` (block stars, :func:`sample_order_interactions`
    with every pair sharing) or ``"contrast"`` (:func:`_contrast_units`). ``"auto"``: the contrast at
    orders within :data:`CONTRAST_RATIOS` when no ``contexts`` cap is set (a cap counts block-star
    contexts). Stars are exact at m = 0 and n-2, and at m = 1 and n-3 ("auto" keeps them there)."""
    if estimator not in HEATMAP_ESTIMATORS:
        raise ValueError(f"unknown heatmap estimator {estimator!r}; choose one of {', '.join(HEATMAP_ESTIMATORS)}")
    if estimator == "contrast" and contexts is not None:
        raise ValueError("contexts caps the contexts of block stars; the contrast estimator has none "
                         "(use estimator='stars' with contexts, or leave contexts None)")
    if not 0 < m < n - 2:
        return "stars"
    if estimator == "auto":
        low, high = CONTRAST_RATIOS
        exact = min(m, n - 2 - m) == 1   # stars of single-player blocks: every context once
        return "contrast" if contexts is None and not exact and low <= m / (n - 2) <= high else "stars"
    return estimator


def sample_cell_heatmap(v: Game, n: int, cell: int, orders, samples: int = 32, seed: int = 0, *,
                        pool: bool = False, contexts: int | None = None, estimator: str = "auto",
                        coverage: int = DEFAULT_COVERAGE, batch_rows: int = DEFAULT_BATCH_ROWS) -> Estimate:
    r"""One cell against every other: I^(m)(cell, j) for all j, shape (len(orders), n) (0, SE 0 at the
    cell itself), or with ``pool=True`` the mean over the orders, shape (n,); trailing G axis for
    (k, G) games. ``samples`` iid units per order; per order (:func:`heatmap_estimator`) either block
    stars over the pair set {(cell, j)}, which share v(S) and v(S+cell) (low orders) or v(N\R) and
    v(N\R\cell) (high orders), about 2 rows per Δv instead of 4, each unit giving every cell at most
    ``contexts`` contexts (None: every block of its design that misses the cell); or the contrast of
    gains (:func:`_contrast_units`), each unit costing about the rows of a block-star unit at the same
    ``coverage``. Orders are sampled independently, so the pooled SE is the stratified one over the orders.
    ``info["estimators"]`` names each order's estimator."""
    n = check_players(n)
    pairs, orders = cell_pairs(cell, n), check_orders(orders, n)
    samples = check_samples(samples)
    coverage = check_positive_int(coverage, "coverage")
    if contexts is not None:
        contexts = check_positive_int(contexts, "contexts")
    chosen = [heatmap_estimator(estimator, int(m), n, contexts) for m in orders]
    game = CountingGame(v, n, batch_rows)
    rng = np.random.default_rng(seed)
    groups = pair_groups(pairs, "all")
    by_order = []
    for m, name in zip(orders, chosen):
        if name == "contrast":
            by_order.append(_contrast_units(game, cell, int(m), samples, rng, coverage))
        else:
            by_order.append(_star_units(game, pairs, groups, int(m), samples, rng, coverage, contexts)[0])
    others = pairs[:, 1]
    values = np.stack(by_order, axis=1)                                   # (units, M, n-1, G)
    units = np.zeros(values.shape[:2] + (n,) + values.shape[3:])
    units[:, :, others] = values
    info = {"orders": orders.tolist(), "pairs": pairs.tolist(), "estimator": "mimi", "estimators": chosen,
            "contexts_per_unit": contexts, "cell": int(cell),
            "axes": ["order", "cell"] + ([] if game.squeeze else ["game"])}
    result = Estimate.from_units(game.shape_out(units), game.mask_rows, info)
    if pool:   # orders are sampled independently: strata of the pooled mean
        result = result.average(axis=0, independent=True)
        result.info.update(axes=info["axes"][1:], pooled_orders=True)
    return result


def paper_protocol(v: Game, rows: int, cols: int, samples: int = 100, seed: int = 0, *,
                   pair_count: int | None = 200, ratios=None, estimator: str = "mimi",
                   grouping="player", batch_rows: int = DEFAULT_BATCH_ROWS) -> Estimate:
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
        return sample_order_interactions(v, n, pairs, orders, samples, seed, grouping=grouping, batch_rows=batch_rows)
    if estimator == "paper":
        return paper_order_interactions(v, n, pairs, orders, samples, seed, batch_rows=batch_rows)
    raise ValueError(f"unknown estimator {estimator!r}; choose mimi or paper")
