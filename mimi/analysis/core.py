"""The image API's computations: order profiles, pair heatmaps, Shapley maps, D^(m), the exact
decomposition, the attack, and the dashboard's default view."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import numpy as np
import torch
from torch import nn

from mimi.analysis.checks import (_as_image, check_grid, check_samples, default_pair_count, disentanglement_orders,
                                  Image, pair_set_of, resolve_cell, resolve_orders, Target)
from mimi.analysis.budget import (BudgetTooSmall, check_budget, Design, FIRST_ROUND_SHARE, fit_design, next_orders,
                                  round_seconds,
                                  probe_speed, smallest_design, STOPS, too_small)
from mimi.analysis.defaults import DEFAULTS
from mimi.analysis.planning import (_disentanglement_rows, _heatmap_rows, _image_plans, _profile_calls, _profile_rows,
                                    _shapley_rows)
from mimi.analysis.results import (Contrast, Decomposition, Disentanglement, Estimated, ImageReport, ImageValues,
                                   InteractionProfile, PairHeatmap, ShapleyMap)
from mimi.attacks import pgd
from mimi.attacks.landing import DEFAULT_TOLERANCE
from mimi.compute import BatchProgress, default_batch_size, resolve_precision
from mimi.analysis.games import check_image_game, image_game
from mimi.games import ImageGame, on_device, predict, resolve_targets
from mimi.interactions import (DEFAULT_COVERAGE, EXACT_LIMIT, Estimate, efficiency_decomposition,
                               mean_square_over_pairs, replicate_seed, sample_cell_heatmap, sample_disentanglement,
                               sample_order_profile, sample_shapley)
from mimi.interactions.game import check_positive_int
from mimi.players import Grid
from mimi.progress import ProgressFn
from mimi.results import Result


Z95 = 1.959963984540054
#: Student t 0.975 quantiles for 1..9 degrees of freedom (more: :func:`t95` by its series in 1/df).
_T95_TABLE = (12.706204736, 4.302652730, 3.182446305, 2.776445105, 2.570581836, 2.446911851, 2.364624252,
              2.306004135, 2.262157163)


def t95(df: int) -> float:
    """The 0.975 quantile of Student's t with ``df`` >= 1 degrees of freedom (the half-width of a 95%
    interval in SEs): exact table for df < 10, else the Cornish-Fisher series to 1/df⁴ (error < 1e-5)."""
    if df < 1:
        raise ValueError(f"a t quantile needs df >= 1, got {df}")
    if df <= len(_T95_TABLE):
        return _T95_TABLE[df - 1]
    z = Z95
    return (z + (z ** 3 + z) / (4 * df) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * df ** 2)
            + (3 * z ** 7 + 19 * z ** 5 + 17 * z ** 3 - 15 * z) / (384 * df ** 3)
            + (79 * z ** 9 + 776 * z ** 7 + 1482 * z ** 5 - 1920 * z ** 3 - 945 * z) / (92160 * df ** 4))


@dataclass(frozen=True)
class _Start:
    """Where a computation on a (possibly shared) game began: the clock and the game's counters."""

    time: float
    forward_passes: int
    mask_rows: int

    @classmethod
    def of(cls, game: ImageGame) -> "_Start":
        return cls(time.perf_counter(), game.forward_passes, game.mask_rows)


def _image_fields(game: ImageGame, start: _Start, units: int) -> dict:
    """:class:`ImageResult`'s fields: the label, target and predicted classes of x (and x'), and the cost of
    the computation since ``start``."""
    predictions = game.predictions[0]
    return dict(label=game.label, target=int(game.targets[0]), prediction=int(predictions[0]),
                adv_prediction=int(predictions[1]) if game.count == 2 else None,
                forward_passes=game.forward_passes - start.forward_passes,
                mask_rows=game.mask_rows - start.mask_rows, units=units, wall_time_s=time.perf_counter() - start.time)


def _ends(game: ImageGame, singletons: bool = True) -> np.ndarray:
    """v(∅), v(N) and (``singletons``) v({i}) for every cell: (n + 2, G) or (2, G)."""
    n = game.n
    masks = [np.zeros((1, n), bool), np.ones((1, n), bool)] + ([np.eye(n, dtype=bool)] if singletons else [])
    masks = np.concatenate(masks)
    return game(masks).reshape(len(masks), -1)


def _contrast(est: Estimate, paired: bool, shape: Callable[[np.ndarray], np.ndarray] = np.asarray) -> Contrast:
    """Clean, adversarial and clean - adversarial of an estimate from a game with a trailing G axis (one game
    without x'), each mean and SE laid out by ``shape``."""
    sides = (est.game(0), est.game(1), est.difference(0, 1)) if paired else (est,)
    return Contrast(*(Estimated(shape(side.mean), shape(side.se)) for side in sides))


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

# --------------------------------------------------------------------------- the API


def interaction_profile(game: ImageGame, *, orders=None, ratios=None, pairs="neighbors",
                        pair_count: Optional[int] = None, samples: int = 32, contexts: Optional[int] = None,
                        pilot: int = 0, coverage: int = DEFAULT_COVERAGE, replicate: int = 0,
                        max_se: Optional[float] = None, max_passes: Optional[int] = None,
                        max_seconds: Optional[float] = None, singletons: bool = True,
                        on_round: Optional[Callable[[InteractionProfile], None]] = None,
                        seed: int = 0) -> InteractionProfile:
    """Order profile Ī^(m) = mean over the pair set P of I^(m)(i, j) per order for x (and x' on the same
    masks), and ΔJ^(m) = (n-1-m) (Ī^(m)(x) - Ī^(m)(x')) (module docstring), on ``game`` (:func:`image_game`).

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
        slower = 1.0
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


def pair_heatmap(game: ImageGame, cell, *, orders=None, ratios=DEFAULTS["heatmap_ratios"], samples: int = 8,
                 contexts: Optional[int] = None, coverage: int = DEFAULT_COVERAGE, estimator: str = "auto",
                 seed: int = 0) -> PairHeatmap:
    """I^(m)(cell, j) for every other cell j, per order and pooled over the orders (mean), clean and
    adversarial on shared masks, on ``game`` (:func:`image_game`). ``cell`` is an index or
    (row, col); ``orders`` or ``ratios`` (default 0.2, 0.5, 0.8 of n-2). ``samples`` iid units per order, each
    giving every cell at most ``contexts`` contexts (None: the blocks of a whole design that miss it), as in
    :func:`interaction_profile`. ``estimator`` per order (:func:`~mimi.interactions.sample_cell_heatmap`):
    ``"auto"`` (the contrast of gains at middle orders when ``contexts`` is None, block stars elsewhere),
    ``"stars"`` or ``"contrast"``; ``params["estimators"]`` names the one each order used."""
    paired = check_image_game(game)
    start = _Start.of(game)
    samples = check_samples(samples)
    if orders is not None:
        ratios = None
    n, grid = game.n, game.grid
    index = resolve_cell(grid, cell)
    order_values, ratio_values = resolve_orders(n, orders, ratios)
    game.expect(_heatmap_rows(n, index, order_values, samples, seed, coverage, contexts, estimator), "pair heatmap")
    est = sample_cell_heatmap(game, n, index, order_values, samples, seed, contexts=contexts,
                              coverage=coverage, estimator=estimator)  # (M, n[, G])
    pooled = est.average(axis=0, independent=True)   # orders are sampled independently
    shape = (grid.rows, grid.cols)

    def cell_map(values: np.ndarray) -> np.ndarray:
        out = np.array(values, dtype=np.float64)
        out[..., index] = np.nan
        return out.reshape(out.shape[:-1] + shape)

    return PairHeatmap(
        cell=index, cell_rc=grid.cell(index), orders=order_values, ratios=ratio_values, n=n, grid=grid.spec,
        pooled=_contrast(pooled, paired, cell_map), by_order=_contrast(est, paired, cell_map),
        **_image_fields(game, start, est.units),
        params=dict(game.params, samples=samples, contexts=contexts, coverage=coverage, estimator=estimator,
                    estimators=est.info["estimators"], seed=seed, cell=index))


def shapley_map(game: ImageGame, *, samples: int = 16, seed: int = 0) -> ShapleyMap:
    """Shapley value of every cell by antithetic permutation sampling (``samples`` permutation pairs,
    2 (n-1) samples + 2 mask rows), clean and adversarial on shared permutations, on ``game``
    (:func:`image_game`)."""
    paired = check_image_game(game)
    start = _Start.of(game)
    samples = check_samples(samples)
    n = game.n
    game.expect(_shapley_rows(n, samples), "Shapley map")
    est = sample_shapley(game, n, samples, seed)
    ends = game(np.stack([np.zeros(n, bool), np.ones(n, bool)])).reshape(2, -1)
    return ShapleyMap(
        phi=_contrast(est, paired, game.grid.to_image), n=n, grid=game.grid.spec,
        clean_image=ImageValues(float(ends[1, 0]), float(ends[0, 0])),
        adversarial_image=ImageValues(float(ends[1, 1]), float(ends[0, 1])) if paired else None,
        **_image_fields(game, start, est.units), params=dict(game.params, samples=samples, seed=seed))


def disentanglement(model: nn.Module, images: Image, labels: Sequence[int], *, grid="7x7", orders=None, ratios=None,
                    pairs="neighbors", pair_count: Optional[int] = None, samples: int = 8,
                    contexts: Optional[int] = None, coverage: int = DEFAULT_COVERAGE, debias: bool = True,
                    baseline="mean",
                    value: str = "log-odds", target: Target = "label", seed: int = 0, device=None, batch_size: Optional[int] = None, precision: str = "float32",
                    progress: Optional[ProgressFn] = None) -> Disentanglement:
    """D^(m) = Σ_images Σ_pairs |I^(m)(i, j)| / Σ_images Σ_pairs E_S |Δv(i, j, S)| over B images (B, C, H, W)
    and the pair set. Each image b is its own game with its own masks and pairs (seeded from (seed, b)),
    so the images are independent replicates and the delete-one-image jackknife SE (B >= 2) covers the
    images, the pair draws and the contexts. ``debias`` (default): numerator sqrt(max(Î² - SE², 0)) per
    pair and image (``d_plugin`` keeps the plug-in |Î|). Orders m = 0 and n-2 (D = 1 by construction)
    are left out of ``ratios``, flagged in ``trivial`` when ``orders`` are given. ``samples`` iid units per
    pair and order, each of at most ``contexts`` contexts (None: a whole design), as in
    :func:`interaction_profile`. ``target`` "label" uses each image's label, "predicted" each prediction, an int one class for all."""
    start = time.perf_counter()
    samples = check_samples(samples)
    model, device = on_device(model, device)
    batch = torch.as_tensor(np.asarray(images) if not isinstance(images, torch.Tensor) else images).float()
    if batch.ndim != 4 or len(batch) == 0:
        raise ValueError(f"images must be (B, C, H, W) with B >= 1, got shape {tuple(batch.shape)}")
    for b in range(len(batch)):
        _as_image(batch[b], f"image {b}")
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    if len(labels) != len(batch):
        raise ValueError(f"{len(batch)} images need {len(batch)} labels, got {len(labels)}")
    grid_ = check_grid(grid, *batch.shape[-2:])
    preds, probs = predict(model, batch)
    targets = resolve_targets(target, labels.tolist(), preds, probs.shape[1])
    n, count = grid_.n, len(batch)
    order_values, ratio_values, trivial = disentanglement_orders(n, orders, ratios)
    plans = _image_plans(grid_, pairs, pair_count, seed, count)
    tracker = BatchProgress(progress)
    tracker.expect(_disentanglement_rows(n, plans, order_values, samples, coverage, contexts), "disentanglement")
    estimates, mask_rows = [], 0
    for b, (image_seed, image_pairs) in enumerate(plans):
        image_baseline = baseline[b] if isinstance(baseline, torch.Tensor) and baseline.ndim == 4 else baseline
        game = ImageGame(model, batch[b], int(targets[b]), grid=grid_, baseline=image_baseline, value=value,
                         device=device, batch_size=batch_size, precision=precision, progress=tracker)
        batch_size = game.batch_size
        estimates.append(sample_disentanglement(game, n, image_pairs, order_values, samples, image_seed,
                                                coverage=coverage, contexts=contexts))
        mask_rows += game.mask_rows
    plugin = np.stack([e.numerator[:, 0] for e in estimates])  # (B, M) means over each image's pairs
    numerator = np.stack([e.numerator_debiased[:, 0] for e in estimates]) if debias else plugin
    denominator = np.stack([e.denominator[:, 0] for e in estimates])
    per_image_se = np.stack([(e.d_debiased_se if debias else e.d_se)[:, 0] for e in estimates])
    d = numerator.sum(axis=0) / denominator.sum(axis=0)
    if count >= 2:
        d_se, se_covers = _image_jackknife_se(numerator, denominator), "images, pairs and contexts"
        quantile = t95(count - 1)
    else:
        d_se, se_covers, quantile = per_image_se[0], "contexts only (one image)", Z95
    return Disentanglement(
        orders=order_values, ratios=ratio_values, n=n, grid=grid_.spec,
        estimand=_disentanglement_estimand(grid_, pairs, pair_count, count, debias), debiased=bool(debias),
        trivial=trivial, d=d, d_se=d_se, d_low=np.maximum(d - quantile * d_se, 0.0),
        d_high=np.minimum(d + quantile * d_se, 1.0), se_covers=se_covers,
        d_plugin=plugin.sum(axis=0) / denominator.sum(axis=0), per_image=numerator / denominator,
        per_image_se=per_image_se, strength=numerator, labels=labels, targets=np.asarray(targets), predictions=preds,
        pair_count=len(plans[0][1]), forward_passes=mask_rows, mask_rows=mask_rows, units=estimates[0].units,
        wall_time_s=time.perf_counter() - start,
        params=dict(grid=grid_.spec, baseline=baseline if isinstance(baseline, str) else "custom", value=value,
                    target=target if isinstance(target, str) else int(target), pairs=pairs if isinstance(pairs, str)
                    else "custom", pair_count=pair_count, samples=samples, contexts=contexts, coverage=coverage,
                    debias=bool(debias), seed=seed, batch_size=batch_size, device=str(device), precision=game.precision))


def _image_jackknife_se(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """Delete-one-image jackknife SE of R = Σ_b num_b / Σ_b den_b from (B, M) arrays:
    SE² = (B-1)/B Σ_b (R_(-b) - mean_b R_(-b))²."""
    count = len(numerator)
    replicates = (numerator.sum(axis=0) - numerator) / (denominator.sum(axis=0) - denominator)
    return np.sqrt((count - 1) / count * ((replicates - replicates.mean(axis=0)) ** 2).sum(axis=0))


def _disentanglement_estimand(grid: Grid, pairs, pair_count: Optional[int], count: int, debias: bool) -> str:
    """The estimand of :func:`disentanglement` in words."""
    names = {"neighbors": f"all 8-neighbour pairs of the {grid.spec} grid", "all": f"all pairs of the {grid.spec} grid"}
    pair_set = names[pairs] if isinstance(pairs, str) else "the given pairs"
    drawn = f" ({pair_count} drawn per image)" if pair_count is not None else ""
    numerator = "bias-corrected numerator sqrt(max(Î² - SE², 0))" if debias else "plug-in numerator |Î|"
    return (f"D^(m) = Σ_images Σ_pairs |I^(m)(i, j)| / Σ_images Σ_pairs E_S |Δv(i, j, S)| over these {count} "
            f"image(s) and {pair_set}{drawn}; {numerator}")


def decomposition(game: ImageGame) -> Decomposition:
    """Exact v(N) - v(∅) = Σ φ^(0) + Σ_m Σ_{i≠j} J^(m) + residual from all 2^n coalitions (n <= 16 cells:
    4x4 = 65,536 mask rows; 3x4 = 4,096), for x and, on the same masks, x', on ``game`` (:func:`image_game`)."""
    paired = check_image_game(game)
    start = _Start.of(game)
    n, grid_ = game.n, game.grid
    if n > EXACT_LIMIT:
        raise ValueError(f"grid {grid_.spec} has n={n} cells; the exact decomposition needs n <= {EXACT_LIMIT} "
                         f"(2^n forward passes), e.g. 4x4 or 3x4; use interaction_profile for finer grids")
    game.expect(2 ** n, "exact decomposition")
    dec = efficiency_decomposition(game, n)
    g = (lambda a, k: np.asarray(a)[..., k]) if paired else (lambda a, k: np.asarray(a))
    orders = np.arange(n - 1)
    order_totals, phi0 = g(dec.order_totals, 0), g(dec.phi0, 0)
    adv_totals = g(dec.order_totals, 1) if paired else None
    return Decomposition(
        n=n, grid=grid_.spec, orders=orders, ratios=orders / max(1, n - 2),
        v_full=float(g(dec.v_full, 0)), v_empty=float(g(dec.v_empty, 0)),
        total=float(g(dec.v_full, 0) - g(dec.v_empty, 0)), phi0=grid_.to_image(phi0), phi0_sum=float(phi0.sum()),
        shapley=grid_.to_image(g(dec.shapley, 0)), order_totals=order_totals,
        pairwise_total=float(order_totals.sum()), residual=float(g(dec.residual, 0)),
        adv_v_full=float(g(dec.v_full, 1)) if paired else None,
        adv_v_empty=float(g(dec.v_empty, 1)) if paired else None,
        adv_total=float(g(dec.v_full, 1) - g(dec.v_empty, 1)) if paired else None,
        adv_phi0_sum=float(g(dec.phi0, 1).sum()) if paired else None,
        adv_order_totals=adv_totals, adv_residual=float(g(dec.residual, 1)) if paired else None,
        delta_order_totals=None if adv_totals is None else order_totals - adv_totals,
        attack_utility=float(g(dec.v_full, 0) - g(dec.v_full, 1)) if paired else None,
        attack_single=float(phi0.sum() - g(dec.phi0, 1).sum()) if paired else None,
        **{k: v for k, v in _image_fields(game, start, 0).items() if k not in ("mask_rows", "units")},
        params=game.params)

# --------------------------------------------------------------------------- compositions


def run_attack(model: nn.Module, image: Image, label: int, *, eps: float = DEFAULTS["eps"],
               steps: int = DEFAULTS["steps"], step_size: Optional[float] = None, norm: str = DEFAULTS["norm"],
               restarts: int = 1, stop_utility: Optional[float] = DEFAULTS["stop_utility"],
               tolerance: float = DEFAULT_TOLERANCE, stop_rule: str = "utility", random_start: bool = True,
               value: str = "log-odds", seed: int = 0, device=None) -> Result:
    """Untargeted PGD (:func:`mimi.attacks.pgd`) on one image; returns its AttackResult (x_adv[0] is x').
    ``stop_utility`` U: equal strength, landed in [U, U + ``tolerance``] by ``stop_rule``
    (:mod:`mimi.attacks.landing`; ``success`` says whether it landed)."""
    model, device = on_device(model, device)
    x = _as_image(image).to(device)[None]
    return pgd(model, x, torch.tensor([int(label)], device=device), eps=eps, steps=steps, step_size=step_size,
               norm=norm, restarts=restarts, stop_utility=stop_utility, tolerance=tolerance, stop_rule=stop_rule,
               random_start=random_start, value=value, seed=seed)


def analyze_image(model: nn.Module, image: Image, label: Optional[int], *, attack: Optional[dict] = None,
                  grid="7x7", orders=None, ratios=None, pairs="neighbors", pair_count: Optional[int] = None,
                  samples: int = 32, contexts: Optional[int] = None, max_se: Optional[float] = None,
                  max_passes: Optional[int] = None, pilot: int = 0, coverage: int = DEFAULT_COVERAGE,
                  shapley_samples: int = 16,
                  baseline="mean",
                  value: str = "log-odds", target: Target = "label", seed: int = 0, device=None, batch_size: Optional[int] = None,
                  precision: str = "float32", progress: Optional[ProgressFn] = None, model_name: str = "model",
                  source: str = "image", classes: Optional[Sequence[str]] = None,
                  max_seconds: Optional[float] = None) -> ImageReport:
    """What ``mimi analyze`` computes: prediction, optional PGD (``attack``: keyword arguments of
    :func:`run_attack`), order profile (clean, adversarial, ΔJ) and Shapley map (``shapley_samples``
    0 skips it). Without a label, the attack uses the model's prediction as the true class.

    ``max_seconds``: the whole analysis within that time budget. The Shapley map gets at most a quarter of it
    (fewer permutation pairs, at least 2), the order profile what the attack and the map leave
    (:func:`interaction_profile`'s ``max_seconds``). Before anything runs, a budget below the attack's estimate
    (3 passes per step), two permutation pairs and the profile's smallest honest round raises
    :class:`~mimi.analysis.budget.BudgetTooSmall` with the time they need."""
    start = time.perf_counter()
    x = _as_image(image)
    model, device = on_device(model, device)
    if max_seconds is not None:
        shapley_samples = _budget_analysis(model, x, device, precision, check_budget(max_seconds), attack, grid,
                                           pairs, shapley_samples)
    prediction, probabilities = predict(model, x[None])
    attack_label = int(prediction[0]) if label is None else int(label)
    if target == "label" and label is None:
        target = "predicted"
    attack_result, x_adv = None, None
    if attack is not None:
        attack_result = run_attack(model, x, attack_label, value=value, seed=seed, device=device, **attack)
        x_adv = attack_result.x_adv[0].cpu()
    game = image_game(model, x, label, x_adv, grid=grid, baseline=baseline, value=value, target=target,
                      device=device, batch_size=batch_size, precision=precision, progress=progress)
    shapley = shapley_map(game, samples=shapley_samples, seed=seed) if shapley_samples else None
    left = None if max_seconds is None else max_seconds - (time.perf_counter() - start)
    if left is not None and left <= 0:
        raise BudgetTooSmall(f"the attack and the Shapley map took {time.perf_counter() - start:.1f} s of the "
                             f"{max_seconds:g} s budget, leaving no time for the order profile; give more time")
    profile = interaction_profile(game, orders=orders, ratios=ratios, pairs=pairs, pair_count=pair_count,
                                  samples=samples, contexts=contexts, max_se=max_se, max_passes=max_passes,
                                  max_seconds=left, pilot=pilot, coverage=coverage, seed=seed)
    return ImageReport(
        model=model_name, source=source, label=label, target=profile.target,
        classes=None if classes is None else list(classes), prediction=int(prediction[0]),
        probabilities=probabilities[0], image=x.numpy(), profile=profile, shapley=shapley, attack=attack_result,
        forward_passes=profile.forward_passes + (shapley.forward_passes if shapley else 0),
        wall_time_s=time.perf_counter() - start,
        params=dict(profile.params, attack=attack, shapley_samples=shapley_samples, max_seconds=max_seconds))


def _budget_analysis(model: nn.Module, x: torch.Tensor, device, precision: str, budget: float,
                     attack: Optional[dict], grid, pairs, shapley_samples: int) -> int:
    """The Shapley map's permutation pairs within a quarter of ``budget`` (at most ``shapley_samples``, at
    least 2; 0 stays 0), after checking that the attack (3 forward passes' time per step and restart, for x and
    x'), two permutation pairs and the smallest honest profile round fit it (:class:`BudgetTooSmall` otherwise)."""
    grid_ = check_grid(grid, *x.shape[-2:])
    n, images = grid_.n, 1 + (attack is not None)
    batch = default_batch_size(model, tuple(x.shape), torch.device(device), precision)
    speed = probe_speed(model, tuple(x.shape), device, batch, resolve_precision(precision, torch.device(device)))
    population = pair_set_of(grid_, pairs)
    smallest = smallest_design(len(population))
    profile_calls = _profile_calls(n, population, resolve_orders(n, None, None)[0], smallest.samples, 0,
                                   pair_count=smallest.pair_count, contexts=smallest.contexts)
    steps = (int(attack.get("steps", DEFAULTS["steps"])) * int(attack.get("restarts", 1))) if attack else 0
    if shapley_samples:
        per_pair = speed.seconds([2 * (n - 1)], images)
        shapley_samples = max(2, min(shapley_samples, int(budget * FIRST_ROUND_SHARE / per_pair)))
    shapley_calls = [_shapley_rows(n, shapley_samples)] if shapley_samples else []
    needed = 3 * speed.seconds([1] * steps, 1) + speed.seconds(profile_calls + shapley_calls, images)
    if needed > budget:
        passes = 3 * steps + images * sum(profile_calls + shapley_calls)
        raise too_small("this analysis", passes, needed, budget,
                        "the attack, " * (attack is not None) + f"{shapley_samples} Shapley permutation pairs "
                        * bool(shapley_samples) + f"and a profile of {smallest.words(len(population))}")
    return shapley_samples


@dataclass
class DefaultView:
    """The dashboard's default computation for one model (:data:`DEFAULTS`), with its timings."""

    attack: Result
    profile: InteractionProfile
    heatmap: PairHeatmap
    profile_seconds: float   # attack + order profile: the first chart
    total_seconds: float


def default_view(model: nn.Module, image: Image, label: int, *, device=None, seed: int = 0,
                 progress: Optional[ProgressFn] = None, on_profile=None) -> DefaultView:
    """PGD with the default settings, then the clean + adversarial order profile (``on_profile(profile)``
    is called as soon as it is ready; its pair count fitted to the grid, :func:`default_pair_count`) and the
    default cell's pair heatmap."""
    start = time.perf_counter()
    d = DEFAULTS
    attack = run_attack(model, image, label, eps=d["eps"], steps=d["steps"], norm=d["norm"],
                        stop_utility=d["stop_utility"], value=d["value"], seed=seed, device=device)
    x_adv = attack.x_adv[0].cpu()
    game = image_game(model, image, label, x_adv, grid=d["grid"], baseline=d["baseline"], value=d["value"],
                      target=d["target"], device=device, progress=progress)
    profile = interaction_profile(game, ratios=d["ratios"], pairs=d["pairs"],
                                  pair_count=default_pair_count(game.grid, d["pairs"], d["pair_count"]),
                                  samples=d["samples"], contexts=d["contexts"], pilot=d["pilot"],
                                  coverage=d["coverage"], seed=seed)
    profile_seconds = time.perf_counter() - start
    if on_profile is not None:
        on_profile(profile)
    heatmap = pair_heatmap(game, d["heatmap_cell"], ratios=d["heatmap_ratios"], samples=d["heatmap_samples"],
                           coverage=d["coverage"], seed=seed)
    return DefaultView(attack, profile, heatmap, profile_seconds, time.perf_counter() - start)
