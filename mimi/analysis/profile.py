"""The order profile of one image (Ī^(m) clean and adversarial, ΔJ^(m)): :func:`interaction_profile`, the pooling
of its independent replicates (:func:`combine_profiles`) and the anytime rounds within a time budget
(``max_seconds``; the budget's arithmetic is :mod:`mimi.analysis.budget`). Definitions: the package docstring
and ``docs/science.md`` §3-§5, §9."""

from __future__ import annotations

import dataclasses
import time
from typing import Callable, Optional, Sequence

import numpy as np

from mimi.analysis.budget import (STOPS, Design, check_budget, fit_design, next_orders, probe_speed, round_seconds,
                                  smallest_design, too_small)
from mimi.analysis.checks import check_samples, pair_set_of, resolve_orders
from mimi.analysis.image_game import check_image_game
from mimi.analysis.planning import _profile_calls, _profile_rows
from mimi.analysis.result_fields import _contrast, _image_fields, _Start
from mimi.analysis.results import Contrast, Estimated, ImageValues, InteractionProfile
from mimi.core.checks import check_positive_int
from mimi.core.games import ImageGame
from mimi.interactions import DEFAULT_COVERAGE, Estimate, mean_square_over_pairs, replicate_seed, sample_order_profile


def _ends(game: ImageGame, singletons: bool = True) -> np.ndarray:
    """v(∅), v(N) and (``singletons``) v({i}) for every cell: (n + 2, G) or (2, G)."""
    n = game.n
    masks = [np.zeros((1, n), bool), np.ones((1, n), bool)] + ([np.eye(n, dtype=bool)] if singletons else [])
    masks = np.concatenate(masks)
    return game(masks).reshape(len(masks), -1)


def _precision_in_passes(precision: Optional[dict], est: Estimate, max_passes: Optional[int],
                         images: int) -> Optional[dict]:
    """The engine's target-precision outcome (in mask rows) restated in forward passes, rows x ``images``."""
    if precision is None:
        return None
    spent = est.mask_rows * images
    message = ("" if precision["reached"] else
               f"the largest SE is {float(np.max(est.se)):.3g} > max_se={precision['max_se']:g} after {spent:,} "
               f"forward passes, the most max_passes={max_passes} allows; this is the best estimate within the budget")
    return {"max_se": precision["max_se"], "max_passes": max_passes, "reached": precision["reached"],
            "replicates": precision["replicates"], "message": message}


def interaction_profile(game: ImageGame, *, orders=None, ratios=None, pairs="neighbors",
                        pair_count: Optional[int] = None, samples: int = 32, contexts: Optional[int] = None,
                        pilot: int = 0, coverage: int = DEFAULT_COVERAGE, replicate: int = 0,
                        max_se: Optional[float] = None, max_passes: Optional[int] = None,
                        max_seconds: Optional[float] = None, singletons: bool = True,
                        on_round: Optional[Callable[[InteractionProfile], None]] = None,
                        seed: int = 0) -> InteractionProfile:
    """Order profile Ī^(m) = mean over the pair set P of I^(m)(i, j) per order for x (and x' on the same
    masks), and ΔJ^(m) = (n-1-m) (Ī^(m)(x) - Ī^(m)(x')) (the package docstring), on ``game`` (:func:`image_game`).

    ``orders`` (ints or "all") or ``ratios`` (fractions of n-2; default the paper's 0.1..0.9, 0.95, 1);
    ``pairs`` the pair set P: "neighbors" | "all" | explicit pairs; ``pair_count`` K: K pairs drawn from P
    at random (None: all of P), the SE covering the draw; ``samples`` iid units per pair and order (1 allowed
    when pairs are drawn) of
    mimi's block-design estimator, each of at most ``contexts`` contexts (None: a whole design)
    (:func:`mimi.interactions.sample_order_profile`; ``coverage``: how often
    each unit's block design covers every cell; ``pilot`` >= 2 first spends that many contexts per pair
    and order on a Neyman allocation of the rest). ``replicate`` r > 0 is an independent rerun
    (fresh pairs and contexts) that :func:`combine_profiles` pools with replicates 0..r-1 ("more
    precision"); ``max_se`` adds replicates until every shown SE is at most that or one more would pass
    ``max_passes`` forward passes (``precision`` says which). ``singletons`` False skips the n forward passes
    of v({i}) (``phi0_sum``, ``attack_single`` and ``attack_pairwise`` are then None).

    ``max_seconds``: an anytime estimate within that time budget (:mod:`mimi.analysis.budget`): rounds of
    this design (shrunk when one round would take more than a quarter of the budget or 8 s), the first over every
    order, each later one over the half of the orders with the largest SE against their chart's bars, pooled by
    :func:`combine_profiles`, until the budget or ``max_se`` is reached, calling ``on_round(pooled)`` after each
    round (a notebook's progressive chart); ``precision`` records the budget, the rounds, the design, why it
    stopped, the wall time, the first round's time and its estimate, and (elapsed s, largest SE) after each round.
    A budget below one round of the smallest honest design raises :class:`~mimi.analysis.budget.BudgetTooSmall`
    before any forward pass.
    """
    paired = check_image_game(game)
    if max_seconds is not None:
        return _budgeted_profile(game, max_seconds, max_se, orders=orders, ratios=ratios, pairs=pairs,
                                 pair_count=pair_count, samples=samples, contexts=contexts, pilot=pilot,
                                 coverage=coverage, singletons=singletons, on_round=on_round, seed=seed)
    start = _Start.of(game)
    samples = check_samples(samples, minimum=1 if pair_count is not None else 2)   # 1: the drawn pairs' spread
    replicate = check_positive_int(replicate, "replicate", minimum=0)
    params = dict(game.params, pairs=pairs if isinstance(pairs, str) else "custom", pair_count=pair_count,
                  samples=samples, contexts=contexts, pilot=pilot, coverage=coverage, seed=seed, replicate=replicate,
                  max_se=max_se, max_passes=max_passes, singletons=singletons)
    n, grid = game.n, game.grid
    order_values, ratio_values = resolve_orders(n, orders, ratios)
    population = pair_set_of(grid, pairs)
    seed_r = replicate_seed(seed, replicate)
    game.expect(_profile_rows(n, population, order_values, samples, seed_r, pilot, coverage, pair_count, contexts,
                              singletons), "order profile")
    ends = _ends(game, singletons)
    # max_passes counts images through the model; the engine counts mask rows (x 2 with x')
    est = sample_order_profile(game, n, population, order_values, samples, seed_r, pair_count=pair_count,
                               contexts=contexts, pilot=pilot, coverage=coverage, max_se=max_se,
                               max_rows=None if max_passes is None else max(1, max_passes // game.count),
                               keep_pair_units=paired)
    game.tracker.finish()
    interaction = _contrast(est, paired)
    pair_units = est.info.pop("pair_units", None)
    squared_change = None
    if paired and samples >= 2 and pair_units.shape[2] >= 2:
        change = mean_square_over_pairs(pair_units[..., 0] - pair_units[..., 1])
        squared_change = Estimated(change.mean, change.se)
    probabilities = game.predictions[1]
    phi0_sum = (ends[2:] - ends[0]).sum(axis=0) if singletons else np.full(ends.shape[1], np.nan)

    def exact(value) -> Optional[float]:
        return float(value) if singletons else None

    set_name = pairs if isinstance(pairs, str) else "custom"
    described = {"neighbors": "pairs of 8-neighbouring cells", "all": "pairs of cells"}.get(set_name, "given pairs")
    if set_name != "all" and len(population) == n * (n - 1) // 2:
        set_name, described = "all", "pairs of cells"
    # ΔJ_P^(m) = Σ_{ordered (i,j) in P} (n-1-m)/(n(n-1)) ΔI^(m)(i,j) = (n-1-m) 2|P|/(n(n-1)) mean_P ΔI^(m)
    weight = (n - 1 - order_values) * (2 * len(population) / (n * (n - 1)))
    result = InteractionProfile(
        orders=order_values, ratios=ratio_values, pairs=np.asarray(est.info["pairs"]), n=n, grid=grid.spec,
        pair_set=set_name, pair_set_size=len(population),
        estimand=f"mean of I^(m)(i, j) over all {len(population)} {described} of the {grid.spec} grid",
        delta_j_estimand=("ΔJ^(m): the attacking utility of order m, summed over all ordered pairs of cells"
                          if set_name == "all" else
                          f"the part of ΔJ^(m) carried by the {len(population)} {described} (ΔJ^(m) sums over "
                          f"all {n * (n - 1) // 2} pairs)"),
        se_covers=est.info["se_covers"], replicates=int(est.info.get("replicates", 1)),
        precision=_precision_in_passes(est.info.get("precision"), est, max_passes, game.count),
        interaction=interaction,
        utility_by_order=None if interaction.difference is None else interaction.difference.scaled(weight),
        clean_image=ImageValues(float(ends[1, 0]), float(ends[0, 0]), exact(phi0_sum[0]), probabilities[0]),
        adversarial_image=(ImageValues(float(ends[1, 1]), float(ends[0, 1]), exact(phi0_sum[1]), probabilities[1])
                           if paired else None),
        attack_utility=float(ends[1, 0] - ends[1, 1]) if paired else None,
        attack_single=exact(phi0_sum[0] - phi0_sum[1]) if paired else None,
        attack_pairwise=(exact((ends[1, 0] - ends[0, 0] - phi0_sum[0]) - (ends[1, 1] - ends[0, 1] - phi0_sum[1]))
                         if paired else None),
        squared_change=squared_change, **_image_fields(game, start, est.units), params=params)
    return result


def combine_profiles(profiles: Sequence[InteractionProfile]) -> InteractionProfile:
    """Pool independent replicates (``replicate`` 0..R-1, same parameters otherwise) of one profile, order by
    order: a later replicate may cover only some of the first one's orders (a budget's refining rounds). Per
    order m over the R_m replicates that cover it: mean averaged, SE sqrt(Σ_r se_r²) / R_m, for every estimated
    quantity; costs added; ``order_replicates`` holds R_m. The refinement of the dashboard's rounds: earlier
    replicates are reused, never recomputed."""
    profiles = list(profiles)
    if not profiles:
        raise ValueError("no profiles to combine")
    first = profiles[0]
    ignored = ("replicate", "singletons")

    def setting(profile: InteractionProfile) -> dict:
        return {k: v for k, v in profile.params.items() if k not in ignored}

    for other in profiles[1:]:
        if setting(other) != setting(first):
            raise ValueError("only replicates of the same computation (same parameters) can be combined")
        if not np.isin(other.orders, first.orders).all():
            raise ValueError("a later replicate may cover only orders of the first one")
    if len({str(p.params.get("replicate", 0)) for p in profiles}) != len(profiles):
        raise ValueError("each replicate can be combined once")
    if len(profiles) == 1:
        return first
    positions = [np.searchsorted(first.orders, p.orders) for p in profiles]
    counts = np.zeros(len(first.orders), dtype=np.int64)
    for index, profile in zip(positions, profiles):
        counts[index] += profile.order_replicates if profile.order_replicates is not None else 1

    def pooled(replicates: list[Estimated]) -> Estimated:
        shape = (len(first.orders),) + np.shape(replicates[0].mean)[1:]
        total, variance = np.zeros(shape), np.zeros(shape)
        for index, profile, replicate in zip(positions, profiles, replicates):
            weight = profile.order_replicates if profile.order_replicates is not None else 1
            weight = np.reshape(weight, (-1,) + (1,) * (len(shape) - 1)) * np.ones((len(index),) + shape[1:])
            total[index] += weight * np.asarray(replicate.mean)
            variance[index] += weight ** 2 * np.square(replicate.se)
        count = np.reshape(counts, (-1,) + (1,) * (len(shape) - 1))
        return Estimated(total / count, np.sqrt(variance) / count)

    return dataclasses.replace(
        first, interaction=Contrast.merge([p.interaction for p in profiles], pooled),
        utility_by_order=None if first.utility_by_order is None else pooled([p.utility_by_order for p in profiles]),
        squared_change=(None if any(p.squared_change is None for p in profiles)
                        else pooled([p.squared_change for p in profiles])),
        pairs=np.concatenate([p.pairs for p in profiles]),
        replicates=sum(p.replicates for p in profiles), forward_passes=sum(p.forward_passes for p in profiles),
        mask_rows=sum(p.mask_rows for p in profiles), units=sum(p.units for p in profiles),
        wall_time_s=sum(p.wall_time_s for p in profiles), order_replicates=counts,
        params={**first.params, "replicate": sorted(r for p in profiles for r in np.atleast_1d(p.params.get("replicate", 0)))})


def _budgeted_profile(game: ImageGame, max_seconds, max_se: Optional[float], *, orders, ratios, pairs,
                      pair_count: Optional[int], samples: int, contexts: Optional[int], pilot: int, coverage: int,
                      singletons: bool, on_round: Optional[Callable], seed: int) -> InteractionProfile:
    """:func:`interaction_profile` within ``max_seconds`` (its docstring; :mod:`mimi.analysis.budget`)."""
    start = time.perf_counter()
    budget = check_budget(max_seconds)
    if max_se is not None and not (isinstance(max_se, (int, float)) and max_se > 0):
        raise ValueError(f"max_se must be a positive number, got {max_se!r}")
    check_image_game(game)
    n = game.n
    order_values, _ = resolve_orders(n, orders, ratios)
    population = pair_set_of(game.grid, pairs)
    speed = probe_speed(game.model, tuple(game.images.shape[1:]), game.device, game.batch_size, game.precision)
    slower = 1.0      # how much longer than the speed's estimate the latest round took

    def calls(design: Design, chosen=None, with_singletons: bool = singletons, replicate: int = 0):
        """The round's game calls (mask rows each) and how long drawing its masks took (a dry run)."""
        shown = order_values if chosen is None else order_values[chosen]
        began = time.perf_counter()
        sizes = _profile_calls(n, population, shown, design.samples, replicate_seed(seed, replicate), pilot,
                               coverage, design.pair_count, design.contexts, with_singletons)
        return sizes, time.perf_counter() - began

    def seconds(design: Design, chosen=None, with_singletons: bool = singletons, replicate: int = 0) -> float:
        """A round's time: the model's (:class:`Speed`) plus drawing its masks twice (planning and the round)."""
        sizes, drawing = calls(design, chosen, with_singletons, replicate)
        return slower * (speed.seconds(sizes, game.count) + 2 * drawing)

    smallest = smallest_design(len(population))
    spent = time.perf_counter() - start            # the speed probe (once per model) is part of the budget
    if spent + seconds(smallest) > budget:
        raise too_small("this order profile", game.count * sum(calls(smallest)[0]), spent + seconds(smallest), budget,
                        smallest.words(len(population)))
    requested = Design(pair_count, check_samples(samples, minimum=1 if pair_count is not None else 2), contexts)
    design = fit_design(requested, seconds, max(round_seconds(budget), seconds(smallest)), len(population))
    rounds: list[InteractionProfile] = []
    chosen = np.arange(len(order_values))
    first_estimate, trace = seconds(design), []
    while True:
        rounds.append(interaction_profile(
            game, orders=order_values[chosen], pairs=pairs, pair_count=design.pair_count, samples=design.samples,
            contexts=design.contexts, pilot=pilot, coverage=coverage, seed=seed, replicate=len(rounds),
            singletons=singletons and not rounds))
        slower = 1.0      # seconds() unscaled, then rescaled by how long this round really took against it
        slower = rounds[-1].wall_time_s / seconds(design, chosen, singletons and len(rounds) == 1, len(rounds) - 1)
        pooled = combine_profiles(rounds)
        if on_round is not None:
            on_round(pooled)
        shown = {side: getattr(pooled.interaction, side) for side in ("clean", "adversarial")}
        shown = {side: est for side, est in shown.items() if est is not None}
        if pooled.utility_by_order is not None:
            shown["utility_by_order"] = pooled.utility_by_order
        trace.append([time.perf_counter() - start, float(max(np.max(est.se) for est in shown.values()))])
        chosen = next_orders({k: v.mean for k, v in shown.items()}, {k: v.se for k, v in shown.items()}, max_se)
        if not len(chosen):
            stopped = "target"
            break
        if time.perf_counter() - start + seconds(design, chosen, False, len(rounds)) > budget:
            stopped = "budget"
            break
    wall = time.perf_counter() - start
    largest = float(max(np.max(est.se) for est in shown.values()))
    record = {"max_seconds": budget, "max_se": max_se, "rounds": len(rounds), "stopped": stopped,
              "reached": stopped == "target" if max_se is not None else None,
              "design": dataclasses.asdict(design), "requested": dataclasses.asdict(requested),
              "largest_se": largest, "wall_time_s": wall, "first_round_s": float(rounds[0].wall_time_s),
              "first_round_estimate_s": float(first_estimate), "trace": trace,
              "message": (f"{len(rounds)} round(s) of {design.words(len(population))} in {wall:.1f} s of a "
                          f"{budget:g} s budget, stopped {STOPS[stopped]}; largest SE {largest:.3g}"
                          + ("" if design == requested else
                             f" (the settings ask {requested.words(len(population))} per round, longer than a "
                             f"round may take: {round_seconds(budget):.3g} s)"))}
    return dataclasses.replace(pooled, precision=record, wall_time_s=wall,
                               params={**pooled.params, "max_seconds": budget, "max_se": max_se})
