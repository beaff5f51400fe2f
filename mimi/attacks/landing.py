"""Equal-strength attacks: PGD that stops once the attack has lowered the true class's score by U, and lands there.

A stop rule measures the drop q(x') = s(x) - s(x') of the true class y's score s:

- ``"utility"``: s = v, the interaction engine's value function (log-odds by default), so q is the attacking
  utility Δv(N) that the decomposition splits over orders; reached when q >= U.
- ``"paper"``: s = z_y, the true class's logit, and reached only once x' is misclassified and q >= U (the
  released code's rule, which keeps images whose logit drop lies in [U, U + 0.5]).

The stop is tested only after a gradient step, never on the start point. The step that first reaches U is
then shortened by bisection along the segment from the last iterate short of U (x itself to begin with) to
it, a convex combination of two feasible points and so feasible, until q lies in [U, U + tol]: every landed
image has taken at least one gradient step and has the same strength up to tol. An image that does not
reach U within the step budget is "not landed" (``success`` False), as is one whose bisection ends on the
misclassification boundary with q still above U + tol (the paper rule); callers list and leave them out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from mimi.attacks.base import ascent_direction, attack_loss, per_sample, project
from mimi.core.values import check_value_function, class_value

STOP_RULES = ("utility", "paper")
#: The default band width: an image lands when U <= q <= U + tol (log-odds by default, logits for "paper").
DEFAULT_TOLERANCE = 0.05
#: Bisection steps at most: the segment shrinks by 2^-30, far below any band a network's score can jump.
MAX_BISECTIONS = 30
#: The released code's protocol as keyword arguments of :func:`mimi.attacks.pgd` (with ``stop_utility=U``).
PAPER_PRESET = {"random_start": False, "stop_rule": "paper"}


def check_stop(utility, tolerance, rule: str) -> tuple[float, float, str]:
    """``(U, tol, rule)`` validated: U > 0 and tol > 0 finite numbers, a known rule (ValueError naming the value)."""
    if rule not in STOP_RULES:
        raise ValueError(f"unknown stop rule {rule!r}; choose one of {', '.join(STOP_RULES)}")
    for name, number in (("stop_utility", utility), ("tolerance", tolerance)):
        try:
            ok = math.isfinite(float(number)) and float(number) > 0
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise ValueError(f"{name} must be a finite number > 0, got {number!r}")
    return float(utility), float(tolerance), rule


@dataclass(frozen=True)
class StopRule:
    """Stop at drop ``utility`` U of the true class's score and land within ``tolerance`` above it (module
    docstring); ``value`` is the value function of rule "utility"."""

    utility: float
    tolerance: float = DEFAULT_TOLERANCE
    rule: str = "utility"
    value: str = "log-odds"

    def __post_init__(self) -> None:
        check_stop(self.utility, self.tolerance, self.rule)
        check_value_function(self.value)

    @property
    def score_kind(self) -> str:
        """The value function of the score s: ``value`` for rule "utility", the logit for "paper"."""
        return "logit" if self.rule == "paper" else self.value

    def score(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return class_value(logits, y, self.score_kind)

    def measure(self, logits: torch.Tensor, y: torch.Tensor, clean_score: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per sample, the drop q = s(x) - s(x') and whether it reached U (and, rule "paper", x' misclassified)."""
        drop = clean_score - self.score(logits, y)
        reached = drop >= self.utility
        if self.rule == "paper":
            reached &= logits.argmax(1) != y
        return drop, reached

    def landed(self, logits: torch.Tensor, y: torch.Tensor, clean_score: torch.Tensor) -> torch.Tensor:
        """Reached, and the drop at most U + tol."""
        drop, reached = self.measure(logits, y, clean_score)
        return reached & (drop <= self.utility + self.tolerance)

    def as_params(self) -> dict:
        return {"stop_utility": self.utility, "tolerance": self.tolerance, "stop_rule": self.rule}


@torch.no_grad()
def land(model: nn.Module, x: torch.Tensor, y: torch.Tensor, low: torch.Tensor, high: torch.Tensor,
         rule: StopRule, clean_score: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Bisection on delta(t) = low + t (high - low), t in [0, 1], with low short of U and high past it: keep
    the reached end, move the other, until the drop at the midpoint lies in the band (inside it by 1% of tol on
    each side, so that float noise of a later forward pass cannot push it out). Returns (delta, landed): the
    landed point, or for a sample that never lands the reached end closest to the boundary."""
    margin = rule.tolerance / 100
    t_low = torch.zeros(len(x), device=x.device, dtype=x.dtype)
    t_high = torch.ones_like(t_low)
    best, landed = high.clone(), torch.zeros(len(x), dtype=torch.bool, device=x.device)
    for _ in range(MAX_BISECTIONS):
        open_rows = (~landed).nonzero().squeeze(1)
        if len(open_rows) == 0:
            break
        t = (t_low[open_rows] + t_high[open_rows]) / 2
        lo = low[open_rows]
        delta = lo + per_sample(t, lo) * (high[open_rows] - lo)
        drop, reached = rule.measure(model((x[open_rows] + delta).clamp(0, 1)), y[open_rows], clean_score[open_rows])
        inside = reached & (drop >= rule.utility + margin) & (drop <= rule.utility + rule.tolerance - margin)
        best[open_rows] = torch.where(per_sample(reached, delta), delta, best[open_rows])
        landed[open_rows] = inside
        t_high[open_rows] = torch.where(reached, t, t_high[open_rows])
        t_low[open_rows] = torch.where(reached, t_low[open_rows], t)
    return best, landed


def run_to_utility(model: nn.Module, x: torch.Tensor, y: torch.Tensor, delta: torch.Tensor, *, eps: float,
                   steps: int, step_size: float, norm: str, rule: StopRule, clean_score: torch.Tensor
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One untargeted PGD run from ``delta`` that stops each sample once a gradient step reaches U and lands it
    in the band (module docstring). Returns per sample (delta, steps_used, landed); a sample that never reaches U
    returns its iterate after all ``steps`` steps (one forward pass more than the steps, to test that one)."""
    delta = delta.clone()
    below = torch.zeros_like(delta)   # per sample, the last iterate known short of U: x itself to begin with
    done = torch.zeros(len(x), dtype=torch.bool, device=x.device)
    landed = torch.zeros_like(done)
    steps_used = torch.full((len(x),), steps, dtype=torch.long, device=x.device)
    for step in range(steps + 1):
        active = (~done).nonzero().squeeze(1)
        if len(active) == 0:
            break
        xs, ys, start = x[active], y[active], delta[active].detach()
        stepping = step < steps
        ds = start.clone().requires_grad_(stepping)
        with torch.enable_grad() if stepping else torch.no_grad():
            logits = model(xs + ds)
            grad = torch.autograd.grad(attack_loss(logits, ys, None).sum(), ds)[0] if stepping else None
        with torch.no_grad():
            drop, reached = rule.measure(logits.detach(), ys, clean_score[active])
            below[active[~reached]] = start[~reached]
            stop = reached & (step > 0)   # the start point is never the answer
            if stop.any():
                rows = active[stop]
                within = drop[stop] <= rule.utility + rule.tolerance
                delta[rows], landed[rows], done[rows], steps_used[rows] = start[stop], within, True, step
                beyond = rows[~within]   # past the band: bisect back into it
                if len(beyond):
                    delta[beyond], landed[beyond] = land(model, x[beyond], y[beyond], below[beyond],
                                                         start[stop][~within], rule, clean_score[beyond])
            if not stepping:
                break
            moving = ~stop
            moved = project(start[moving] + step_size * ascent_direction(grad[moving], norm), xs[moving], eps, norm)
            delta[active[moving]] = moved
    return delta, steps_used, landed
