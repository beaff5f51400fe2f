"""The order profile over a pair set: Ī^(m) = mean over the pair set P of I^(m)(i, j) (:func:`sample_order_profile`),
from all of P or K pairs drawn from it (:func:`draw_pairs`; the two-stage SE then covers the draw), with
independent replicates toward a target precision (:func:`replicate_seed`) and the unbiased mean over pairs of
I^(m)(i, j)² (:func:`mean_square_over_pairs`). The units are the block stars of
:mod:`mimi.interactions.sampling`."""

from __future__ import annotations

import numpy as np

from mimi.core.checks import check_pairs, check_players, check_positive_int
from mimi.core.games import DEFAULT_BATCH_ROWS, Game
from mimi.core.pairs import sample_pairs
from mimi.interactions.designs import DEFAULT_COVERAGE
from mimi.interactions.estimate import Estimate
from mimi.interactions.sampling import _order_interaction_units

_PAIR_STREAM = 7919              # random stream of the pair draw: default_rng([seed, _PAIR_STREAM])


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
    :meth:`Estimate.from_strata`), a unit being one relabelled balanced block design (about ``coverage`` (n - 2) / min(m, n-2-m) contexts; :mod:`mimi.interactions.sampling`), or its
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
