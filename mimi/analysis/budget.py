"""Time budgets: an order profile's effort chosen to fit a number of seconds (anytime estimates).

A budgeted profile runs *rounds*: independent replicates of one design (K pairs drawn from the pair set, U
units per pair and order, c contexts per unit), pooled order by order (:func:`mimi.analysis.combine_profiles`).

- The design is the one asked for when one round of it takes at most a quarter of the budget and at most 8 s
  (:func:`round_seconds`); otherwise it shrinks, contexts first (to 1), then units (to 1 when pairs are drawn), then pairs, never below
  the smallest honest design (:func:`smallest_design`: two pairs drawn and one context per unit, the fewest that
  give every order a finite SE). A budget too small for one round of that raises :class:`BudgetTooSmall`,
  before any forward pass, with the time that round needs.
- The first round covers every order; each later one the half of the orders whose bars are least resolved (SE
  against the bar's size, :func:`next_orders`), until the budget, a target SE, or a stop.
- Times come from the model's measured speed (:func:`probe_speed`: one image and one batch timed, once per
  model, shape, device and batch size), summed over the game calls a dry run of the round makes; after each
  round, scaled by how much longer than that estimate it actually took (masking and bookkeeping included).
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import numpy as np
import torch
from torch import nn

from mimi.core.compute import fastest_forward, inference_model

#: One round of the design asked for may take this share of the budget, so that several rounds sharpen it,
#: and at most ROUND_SECONDS, so that the first chart comes soon whatever the budget.
FIRST_ROUND_SHARE = 0.25
ROUND_SECONDS = 8.0


def round_seconds(budget: float) -> float:
    """The most one round may take within ``budget``: a quarter of it, at most :data:`ROUND_SECONDS`."""
    return min(budget * FIRST_ROUND_SHARE, ROUND_SECONDS)
#: A bar smaller than this share of its chart's largest counts as that size when rounds pick orders to refine.
SMALL_BAR = 0.1
#: The fewest pairs whose spread gives an SE (one unit each).
MIN_PAIRS = 2
#: Images in the larger of the two timed batches of :func:`probe_speed`.
PROBE_IMAGES = 64
#: How a budgeted computation ended.
STOPS = {"budget": "at the time budget", "target": "at the target SE", "stopped": "stopped by the user",
         "rounds": "at the most rounds"}


class BudgetTooSmall(ValueError):
    """A time budget below one round of the smallest honest design; the message says how long that takes."""


def check_budget(seconds, name: str = "time budget") -> float:
    """``seconds`` as a positive finite float; a ValueError that names the value otherwise."""
    if isinstance(seconds, bool):
        raise ValueError(f"the {name} must be a number of seconds > 0, got {seconds!r}")
    try:
        value = float(seconds)
    except (TypeError, ValueError):
        raise ValueError(f"the {name} must be a number of seconds > 0, got {seconds!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"the {name} must be a number of seconds > 0, got {seconds!r}")
    return value


@dataclass(frozen=True)
class Design:
    """One round's effort: ``pair_count`` pairs drawn (None: every pair of the set), ``samples`` units per pair
    and order, ``contexts`` per unit (None: a whole block design)."""

    pair_count: Optional[int]
    samples: int
    contexts: Optional[int]

    def words(self, pair_set_size: int) -> str:
        pairs = (f"{self.pair_count} pairs drawn" if self.pair_count is not None and self.pair_count < pair_set_size
                 else f"all {pair_set_size} pairs")
        contexts = "a whole design" if self.contexts is None else f"{self.contexts} context" + "s" * (self.contexts > 1)
        return f"{pairs} × {self.samples} unit{'s' * (self.samples > 1)} of {contexts} per order"


def smallest_design(pair_set_size: int) -> Design:
    """The smallest design with a finite SE on every order: two pairs drawn with one unit of one context each
    (the SE from their spread), or, for a set of at most two pairs, every pair with two units."""
    if pair_set_size > MIN_PAIRS:
        return Design(MIN_PAIRS, 1, 1)
    return Design(None, 2, 1)


def fit_design(requested: Design, seconds_of: Callable[[Design], float], seconds: float,
               pair_set_size: int) -> Design:
    """``requested`` if one round of it takes at most ``seconds`` (``seconds_of``), else the largest design
    that does, shrinking contexts to 1, then units to 1 (pairs drawn), then the pairs drawn (bisection); at
    least :func:`smallest_design`."""
    if seconds_of(requested) <= seconds:
        return requested
    one_context = Design(requested.pair_count, requested.samples, 1)
    if seconds_of(one_context) <= seconds:
        return one_context
    if smallest_design(pair_set_size).pair_count is None:     # too few pairs to draw: every pair, two units
        return Design(None, 2, 1)
    pairs = min(requested.pair_count or pair_set_size, pair_set_size - 1)   # one unit needs pairs drawn
    design = Design(pairs, 1, 1)
    if seconds_of(design) <= seconds or pairs <= MIN_PAIRS:
        return design
    low, high = MIN_PAIRS, pairs        # low fits or is the floor, high does not fit
    while high - low > 1:
        middle = (low + high) // 2
        if seconds_of(Design(middle, 1, 1)) <= seconds:
            low = middle
        else:
            high = middle
    return Design(low, 1, 1)


def next_orders(means: dict[str, np.ndarray], ses: dict[str, np.ndarray], max_se: Optional[float]) -> np.ndarray:
    """Positions of the orders the next round refines: among those not yet at ``max_se`` (every SE of the
    order at most it), the half (rounded up) whose bars are least resolved: the largest SE relative to the bar's
    own size, a bar smaller than :data:`SMALL_BAR` of its chart's largest counting as that size (so that a bar
    at zero does not take every round); and the order with the widest error bar. Empty when every order is at the
    target."""
    relative = np.max([se / np.maximum(np.abs(means[name]), SMALL_BAR * max(float(np.max(np.abs(means[name]))), 1e-12))
                       for name, se in ses.items()], axis=0)
    largest = np.max(list(ses.values()), axis=0)
    open_ = np.flatnonzero(largest > max_se) if max_se is not None else np.arange(len(largest))
    if not len(open_):
        return open_
    keep = max(1, math.ceil(len(relative) / 2))
    chosen = set(open_[np.argsort(-relative[open_], kind="stable")[:keep]].tolist())
    chosen.add(int(open_[np.argmax(largest[open_])]))      # and the chart's widest error bar, so that it shrinks too
    return np.array(sorted(chosen), dtype=np.int64)


@dataclass(frozen=True)
class Speed:
    """A model's measured speed: one forward call of b images takes ``latency`` + b ``per_image`` seconds (a
    line through two timed batches, 1 image and the engine's ``batch``)."""

    latency: float
    per_image: float
    batch: int

    @property
    def rate(self) -> float:
        """Images per second at the engine's batch size."""
        return self.batch / (self.latency + self.batch * self.per_image)

    def seconds(self, call_rows: Sequence[int], images: int) -> float:
        """The time of game calls of ``call_rows`` mask rows each, ``images`` images per row, in the engine's
        batches of ``batch`` // ``images`` rows."""
        rows_per_batch = max(1, self.batch // images)
        total = 0.0
        for rows in call_rows:
            full, rest = divmod(int(rows), rows_per_batch)
            total += full * (self.latency + rows_per_batch * images * self.per_image)
            if rest:
                total += self.latency + rest * images * self.per_image
        return total


_SPEEDS: "weakref.WeakKeyDictionary[nn.Module, dict]" = weakref.WeakKeyDictionary()


def probe_speed(model: nn.Module, shape: tuple[int, ...], device, batch: int, precision: str = "float32",
                repeats: int = 2) -> Speed:
    """:class:`Speed` of ``model`` in batches of ``batch`` images, from the fastest of ``repeats`` timed forward
    calls of 1 and of min(``batch``, :data:`PROBE_IMAGES`) images (after a warm-up), on the module the engine
    evaluates with; once per model, shape, device, batch and precision."""
    speeds = _SPEEDS.setdefault(model, {})
    key = (tuple(shape), str(device), int(batch), precision)
    if key not in speeds:
        device = torch.device(device)
        net = inference_model(model, device)
        x = torch.rand((min(max(2, batch), PROBE_IMAGES), *shape), generator=torch.Generator().manual_seed(0))
        x = x.to(device)

        one, many = (fastest_forward(net, images, device, precision, repeats) for images in (x[:1], x))
        per_image = max((many - one) / (len(x) - 1), 1e-9)
        speeds[key] = Speed(max(one - per_image, 0.0), per_image, int(batch))
    return speeds[key]


def too_small(what: str, passes: int, seconds: float, budget: float, design_words: str) -> BudgetTooSmall:
    """The error for a budget of ``budget`` s below ``passes`` forward passes that take ``seconds``."""
    return BudgetTooSmall(f"a time budget of {budget:g} s is too small for {what}: its smallest honest answer "
                          f"({design_words}) needs {passes:,} forward passes, about {seconds:.3g} s at this model's "
                          f"measured speed; give at least {math.ceil(seconds)} s")
