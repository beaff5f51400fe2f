r"""One cell against every other: I^(m)(cell, j) for every cell j (:func:`sample_cell_heatmap`), per order by block
stars (:mod:`mimi.interactions.sampling`, every pair sharing designs) or by the contrast of gains
(:func:`_contrast_units`), chosen by :func:`heatmap_estimator`.

The *contrast of gains* (:func:`_contrast_units`): with g(S) = v(S+cell) - v(S),
I^(m)(cell, j) = E[g(T) | j ∈ T, |T| = m+1] - E[g(S) | j ∉ S, |S| = m], and one evaluation of g (2 rows)
serves every cell at once, as a set that holds it or one that misses it.
Unpaired, g varies 3-4 times more than Δv, but a star pays 2 rows for each cell it serves; at middle
orders, where a star serves only about half of the cells, the contrast needs fewer rows for the same
SE, at the outer orders the stars do (BENCHMARKS.md; ``estimator="auto"`` picks by :data:`CONTRAST_RATIOS`).
"""

from __future__ import annotations

import numpy as np

from mimi.core.checks import check_orders, check_players, check_positive_int, check_samples
from mimi.core.games import DEFAULT_BATCH_ROWS, CountingGame, Game
from mimi.core.pairs import cell_pairs
from mimi.interactions.designs import DEFAULT_COVERAGE, _covering_coverage, _random_blocks, _unit_chunks, block_count
from mimi.interactions.estimate import Estimate
from mimi.interactions.sampling import _star_units, pair_groups


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
