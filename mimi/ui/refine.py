"""Anytime order profiles in the dashboard: a chart after its first honest round, then redrawn as rounds pool.

Each model's profile runs rounds (:mod:`mimi.analysis.budget`): the first over every order, each later one over
the half of the orders whose SE is largest against the chart's bars, pooled by
:func:`mimi.analysis.combine_profiles`. Every round is its own computation through the gate (cached by content,
so other sessions' work runs between rounds and a revisit starts from the rounds already known; first rounds
queue ahead of refining ones). Refining stops when the chart's rounds have used the page's time budget
(``budget`` seconds of compute, measured), when every error bar is at most the target SE (``tse``), after
:data:`MAX_ROUNDS`, or when the user presses Stop.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np
import streamlit as st
import torch

from mimi.analysis import combine_profiles
from mimi.analysis.budget import STOPS, BudgetTooSmall, Design, fit_design, next_orders, round_seconds
from mimi.analysis.checks import pair_set_of
from mimi.analysis.requests import ProfileRequest
from mimi.attacks import AttackResult
from mimi.core import store
from mimi.core.players import Grid
from mimi.ui import compute
from mimi.ui.gate import content_key
from mimi.ui.params import MAX_FORWARD_PASSES, estimate_passes
from mimi.ui.sidebar import Selection

#: Rounds per chart at most (each is one cached result).
MAX_ROUNDS = 32
#: A later round holds as many replicates as take about this long (so that charts redraw every few seconds).
ROUND_SECONDS = 2.0
STOP_KEY = "mimi_refine_stopped"
#: Queue priorities in the gate: a chart's first round before any chart's refining rounds.
FIRST, REFINING = 0, 1


@dataclass
class Refinement:
    """Where one chart's refinement stands: rounds pooled, their compute time, the largest SE on the chart, and
    why it stopped (None while it goes on)."""

    rounds: int
    seconds: float
    budget: float
    largest_se: float
    design: str
    shrunk: str = ""
    stopped: Optional[str] = None

    def line(self) -> str:
        """n rounds, largest SE ±x, still refining / stopped at the time budget."""
        state_ = "still refining…" if self.stopped is None else STOPS[self.stopped]
        return (f"{self.rounds} round{'s' * (self.rounds > 1)} in {self.seconds:.1f} s of a {self.budget:g} s budget, "
                f"largest SE ±{self.largest_se:.3g}: {state_} (a round: {self.design})")


def largest_se(profile) -> float:
    return float(max(np.max(e.se) for e in profile.estimates().values() if e is not None))


def _shown(profile) -> tuple[dict, dict]:
    """Means and SEs of the quantities the charts show (clean, adversarial, ΔJ)."""
    shown = {side: getattr(profile.interaction, side) for side in ("clean", "adversarial")}
    if profile.utility_by_order is not None:
        shown["utility_by_order"] = profile.utility_by_order
    shown = {k: v for k, v in shown.items() if v is not None}
    return {k: v.mean for k, v in shown.items()}, {k: v.se for k, v in shown.items()}


def request_key(sel: Selection, names, request: ProfileRequest, attack: dict) -> str:
    """What the page's charts are of: models, image, settings and attack (the Stop button's target)."""
    return content_key("refine", list(names), sel.image_key, sel.label, request, attack)


def stop(key: str) -> None:
    """The Stop button's callback: the charts of request ``key`` compute no further round."""
    st.session_state[STOP_KEY] = key


def resume() -> None:
    st.session_state.pop(STOP_KEY, None)


class _Chart:
    """One model's rounds: its design, the rounds known, the compute time they took."""

    def __init__(self, sel: Selection, name: str, adv: Optional[torch.Tensor], request: ProfileRequest,
                 budget: float, target: Optional[float], planned: Callable) -> None:
        self.sel, self.name, self.adv = sel, name, adv
        self.request = dataclasses.replace(request, singletons=False)   # the charts never show v({i})
        self.budget, self.target, self.planned = budget, target, planned
        self.images = 1 if adv is None else 2
        grid = Grid.parse(request.grid, *sel.image.shape[-2:])
        self.pair_set_size = len(pair_set_of(grid, request.pairs))
        self.requested = Design(request.pair_count, request.samples, request.contexts)
        self.design = self._design()
        self.rounds: list = []
        self.seconds = 0.0
        self.stopped: Optional[str] = None

    def _work(self, design: Design, replicate: int, ratios):
        request = dataclasses.replace(self._request(design), ratios=tuple(ratios), replicate=replicate)
        return self.planned(self.sel, self.name, request, self.images, "A smaller time budget")

    def _request(self, design: Design) -> ProfileRequest:
        """The settings of a round of ``design``."""
        return dataclasses.replace(self.request, pair_count=design.pair_count, samples=design.samples,
                                   contexts=design.contexts)

    def _key(self, design: Design, index: int, orders, first: int) -> tuple:
        """(label, *key parts) of round ``index`` of ``design`` over ``orders`` (None: all), replicates from
        ``first``: what :func:`mimi.ui.compute.compute` caches it under."""
        label = f"Order profile of {self.name}" + (f" (round {index + 1})" if index else "")
        return (label, compute.model_identity(self.name), self.sel.image_key, self.sel.label, self.adv,
                self._request(design), index, orders, first)

    def _design(self) -> Design:
        """The requested design, or one fitted to :func:`~mimi.analysis.budget.round_seconds`; remembered per request, so that a
        revisit finds its rounds. :class:`BudgetTooSmall` when even the smallest honest round would not fit."""
        key = content_key("profile design", compute.model_identity(self.name), self.sel.image_key, self.request,
                          self.images)
        known = compute.gate().lookup(key)
        if known is None and compute.known(*self._key(self.requested, 0, None, 0)) is not None:
            known = self.requested      # its first round is known (cached or shipped): no timing, no fitting
        if known is None:
            def seconds(design: Design) -> float:   # an absurd design is not even planned (its dry run is slow)
                rough = estimate_passes("profile", grid=self.request.grid, orders=len(self.request.ratios),
                                        pairs=design.pair_count or self.pair_set_size, samples=design.samples,
                                        contexts=design.contexts or 0, images=self.images)
                if rough > MAX_FORWARD_PASSES:
                    return math.inf
                return self._work(design, 0, self.request.ratios).seconds

            known = fit_design(self.requested, seconds, round_seconds(self.budget), self.pair_set_size)
            if seconds(known) > self.budget:
                work = self._work(known, 0, self.request.ratios)
                raise BudgetTooSmall(
                    f"a time budget of {self.budget:g} s is too small for the order profile of {self.name}: its "
                    f"smallest honest round ({known.words(self.pair_set_size)}) needs {work.describe()}; give at "
                    f"least {compute.duration(work.seconds)}, or a coarser grid")
            compute.gate().put(key, known)
        return known

    def next_round(self, stopped: bool) -> bool:
        """Add one round (cached or computed); False when this chart is done (``self.stopped`` says why)."""
        index = len(self.rounds)
        ratios, orders = tuple(self.request.ratios), None
        if index:
            pooled = self.pooled()
            chosen = next_orders(*_shown(pooled), self.target)
            if not len(chosen):
                self.stopped = "target"
                return False
            ratios = tuple(float(pooled.ratios[k]) for k in chosen)
            orders = [int(pooled.orders[k]) for k in chosen]
        first = sum(len(np.atleast_1d(r.params["replicate"])) for r in self.rounds)   # replicates so far
        count = 1
        if index:
            each = self._replicate_seconds(len(ratios))
            if self.seconds + each > self.budget:
                self.stopped = "budget"
                return False
            # several replicates in one round when one is much shorter than ROUND_SECONDS (not in the key: any
            # round known at this place is a valid set of replicates, whatever the budget was)
            count = max(1, min(int(ROUND_SECONDS // max(each, 1e-9)),
                               int((self.budget - self.seconds) // max(each, 1e-9))))
        label, *parts = self._key(self.design, index, orders, first)
        known = compute.known(label, *parts)
        if known is None:
            if index and stopped:
                self.stopped = "stopped"
                return False
            net = compute.model(self.name, self.sel.device)[0]
            request = self._request(self.design)
            if orders is not None:
                request = dataclasses.replace(request, ratios=None, orders=tuple(orders))

            def run(progress):
                game = request.game(net, self.sel.image, self.sel.label, self.adv, device=self.sel.device,
                                    progress=progress)
                return combine_profiles([dataclasses.replace(request, replicate=first + k).run(game)
                                         for k in range(count)])

            work = self._work(self.design, first, ratios)
            planned = dataclasses.replace(work, passes=work.passes * count)
            known = compute.compute(label, run, *parts, planned=planned, approve=False,
                                    priority=REFINING if index else FIRST)
        self.rounds.append(known)
        self.seconds += float(known.wall_time_s)
        if len(self.rounds) >= MAX_ROUNDS:
            self.stopped = "rounds"
            return False
        return True

    def _replicate_seconds(self, orders: int) -> float:
        """One replicate's time over ``orders`` orders: the last round's measured time per replicate and order."""
        last = self.rounds[-1]
        replicates = len(np.atleast_1d(last.params["replicate"]))
        return float(last.wall_time_s) / replicates * orders / len(last.orders)

    def pooled(self):
        return combine_profiles(self.rounds)

    def status(self) -> Refinement:
        pooled = self.pooled()
        shrunk = "" if self.design == self.requested else (
            f"Each round: {self.design.words(self.pair_set_size)}, fitted to the {self.budget:g} s budget (the settings "
            f"ask {self.requested.words(self.pair_set_size)}, longer than a round may take).")
        return Refinement(len(self.rounds), self.seconds, self.budget, largest_se(pooled),
                          self.design.words(self.pair_set_size), shrunk, self.stopped)


def refined_profiles(sel: Selection, attacks: dict[str, AttackResult], request: ProfileRequest, budget: float,
                     target: Optional[float], planned: Callable, adversarial: Callable,
                     draw: Callable[[dict, dict], None], key: str, refine: bool = True) -> tuple[dict, dict]:
    """The order profiles of the models of ``attacks`` on the selected image, round by round across models,
    calling ``draw(profiles, statuses)`` after each round; ``refine`` False: first rounds only (and no
    statuses). ``key``: the request (:func:`request_key`) a Stop applies to. Returns the pooled profiles and each
    chart's :class:`Refinement`."""
    stopped = st.session_state.get(STOP_KEY) == key
    charts = {name: _Chart(sel, name, adversarial(result), request, budget, target, planned)
              for name, result in attacks.items()}
    rounds = MAX_ROUNDS if refine and not store.recording() else 1

    def shown() -> tuple[dict, dict]:
        drawn = {n: c for n, c in charts.items() if c.rounds}
        return {n: c.pooled() for n, c in drawn.items()}, ({n: c.status() for n, c in drawn.items()} if refine else {})

    going = dict(charts)
    for _ in range(rounds):
        for name, chart in list(going.items()):
            if not chart.next_round(stopped):
                del going[name]
            draw(*shown())
        if not going:
            break
    return shown()
