"""Projected gradient descent (Madry et al. 2018), L-inf and L2, with the paper's stop-at-utility mode.

Each step: delta <- Proj(delta + alpha * d(grad)), grad = d loss / d delta, with d = sign for
L-inf and g / ||g||_2 for L2, loss = CE(y) untargeted or -CE(target) targeted, and Proj onto
{||delta|| <= eps, x + delta in [0, 1]} (at every step, so no pixel sticks at a clipped zero gradient).

Per sample and run, the returned iterate succeeds whenever any iterate of the run does: a failed
last iterate is replaced by the last successful earlier one. With a single run the last iterate
is not evaluated at all (no extra forward pass over torchattacks): the last successful earlier
iterate is returned if there is one, else the last iterate. Over restarts, per sample, a successful run beats a
failed one; among failed runs the highest loss wins (ranked by the log-odds of the true or target
class, ordered like the loss but not saturating in float32; by the utility in stop-at-utility mode).
``early_stop`` freezes a sample once it succeeds. ``stop_utility`` U is the equal-strength mode of
:mod:`mimi.attacks.landing`: each sample stops once a gradient step has lowered its true class's score by U,
and lands within ``tolerance`` above U (``stop_rule`` "utility": the value function v; "paper": the logit, once
misclassified; :data:`~mimi.attacks.landing.PAPER_PRESET` is the released code's protocol). Over restarts a
landed run wins.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from mimi.attacks.base import (DEFAULT_EPS, DEFAULT_STEPS, ascent_direction, attack_loss, check_inputs, check_step_size,
                               check_steps, is_success, make_generator, per_sample, project)
from mimi.attacks.base import random_start as draw_random_start
from mimi.attacks.base import summarize
from mimi.attacks.landing import DEFAULT_TOLERANCE, StopRule, check_stop, run_to_utility
from mimi.attacks.result import AttackResult
from mimi.core.values import check_value_function, class_value


def default_step_size(eps: float, steps: int) -> float:
    """2.5 * eps / steps (Madry et al.): enough to cross the ball and back."""
    return 2.5 * eps / steps


def _run(model: nn.Module, x: torch.Tensor, y: torch.Tensor, delta: torch.Tensor, eps: float, steps: int,
         step_size: float, norm: str, targeted: Optional[torch.Tensor], early_stop: bool, rank: bool = True
         ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, Optional[torch.Tensor]]:
    """One PGD run from ``delta``. Returns per sample (delta, steps_used, reached, score): reached is
    success of the returned iterate; score ranks failed runs: -log-odds of y (untargeted) or log-odds of
    the target.
    With ``rank=False`` (a single run) the last iterate is not evaluated, which saves one forward
    pass: reached then covers the earlier iterates only, and score is None."""
    freezes = early_stop
    batch = len(x)
    steps_used = torch.zeros(batch, dtype=torch.long, device=x.device)
    frozen = torch.zeros(batch, dtype=torch.bool, device=x.device)
    if not freezes:  # the last successful iterate of each sample, in case a later step undoes it
        found_delta, found_steps, found = torch.zeros_like(delta), torch.zeros_like(steps_used), frozen.clone()

    for step in range(steps):
        active = (~frozen).nonzero().squeeze(1) if freezes and bool(frozen.any()) else None
        if active is not None and len(active) == 0:
            break
        if active is None:  # the whole batch: no indexing, no copies
            xs, ys, ts, ds = x, y, targeted, delta
        else:
            xs, ys = x[active], y[active]
            ts = None if targeted is None else targeted[active]
            ds = delta[active]
        ds = ds.detach().requires_grad_(True)
        logits = model(xs + ds)
        (grad,) = torch.autograd.grad(attack_loss(logits, ys, ts).sum(), ds)
        with torch.no_grad():
            ds = ds.detach()
            reached = is_success(logits, ys, ts)
            stepped = project(ds + step_size * ascent_direction(grad, norm), xs, eps, norm)
            if not freezes:
                found_delta = torch.where(per_sample(reached, delta), delta, found_delta)
                found_steps = torch.where(reached, step, found_steps)
                found |= reached
                delta = stepped
                steps_used += 1
                continue
            stepped = torch.where(per_sample(reached, ds), ds, stepped)
            moved = (~reached).long()
            if active is None:
                delta, frozen, steps_used = stepped, reached, steps_used + moved
            else:
                delta[active] = stepped
                frozen[active] = reached
                steps_used[active] += moved
    if not rank:  # one run: no need to look at the last iterate (it is returned unless an earlier one succeeded)
        if freezes:
            return delta, steps_used, frozen, None
        delta = torch.where(per_sample(found, delta), found_delta, delta)
        return delta, torch.where(found, found_steps, steps_used), found, None
    with torch.no_grad():
        logits = model(x + delta)
        reached = is_success(logits, y, targeted)
        if targeted is None:  # log-odds: ordered like the loss, but it does not saturate in float32
            score = -class_value(logits, y, "log-odds")
        else:
            score = class_value(logits, targeted, "log-odds")
        if not freezes:
            fallback = found & ~reached
            delta = torch.where(per_sample(fallback, delta), found_delta, delta)
            steps_used = torch.where(fallback, found_steps, steps_used)
            reached = reached | fallback
    return delta, steps_used, reached, score


def pgd_perturb(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, eps: float = DEFAULT_EPS,
                steps: int = DEFAULT_STEPS, step_size: Optional[float] = None, norm: str = "linf",
                random_start: bool = True, restarts: int = 1, targeted: Optional[torch.Tensor] = None,
                stop_utility: Optional[float] = None, early_stop: bool = False,
                value: str = "log-odds", generator: Optional[torch.Generator] = None,
                clean_value: Optional[torch.Tensor] = None, check_last: bool = False,
                stop_rule: str = "utility", tolerance: float = DEFAULT_TOLERANCE) -> tuple[torch.Tensor, torch.Tensor]:
    """PGD on tensors, without input checks: returns (x_adv, steps_used per sample), on x's device.

    ``clean_value`` (the stop rule's score of the true class on x, stop-at-utility mode) is computed when not
    given; ``generator`` draws the random starts (default: seeded with 0). A single run returns the last
    iterate known to succeed; ``check_last`` spends one more forward pass to know the final one
    (so that "run all steps" returns all the steps when the final iterate succeeds).
    """
    step_size = default_step_size(eps, steps) if step_size is None else step_size
    generator = generator if generator is not None else make_generator(0, x.device)
    rule = StopRule(stop_utility, tolerance, stop_rule, value) if stop_utility is not None else None
    if rule is not None and clean_value is None:
        with torch.no_grad():
            clean_value = rule.score(model(x), y)
    best_delta = best_steps = best_key = None
    for _ in range(restarts):
        start = draw_random_start(x, eps, norm, generator) if random_start else torch.zeros_like(x)
        if rule is not None:
            delta, steps_used, reached = run_to_utility(model, x, y, start, eps=eps, steps=steps, step_size=step_size,
                                                        norm=norm, rule=rule, clean_score=clean_value)
            score = torch.zeros(len(x), device=x.device)   # among runs that did not land, the first one stays
        else:
            delta, steps_used, reached, score = _run(model, x, y, start, eps, steps, step_size, norm, targeted,
                                                     early_stop, rank=restarts > 1 or check_last)
        if restarts == 1:
            return (x + delta).clamp_(0, 1).detach(), steps_used
        key = torch.where(reached, torch.full_like(score, float("inf")), score)
        if best_key is None:
            best_delta, best_steps, best_key = delta, steps_used, key
            continue
        better = key > best_key  # ties keep the earlier run
        best_delta = torch.where(per_sample(better, delta), delta, best_delta)
        best_steps = torch.where(better, steps_used, best_steps)
        best_key = torch.where(better, key, best_key)
    return (x + best_delta).clamp_(0, 1).detach(), best_steps


def pgd(model: nn.Module, x: torch.Tensor, y, *, eps: float = DEFAULT_EPS, steps: int = DEFAULT_STEPS,
        step_size: Optional[float] = None, norm: str = "linf", random_start: bool = True, restarts: int = 1,
        targeted=None, stop_utility: Optional[float] = None, seed: int = 0, early_stop: bool = False,
        value: str = "log-odds", top_k: int = 5, stop_rule: str = "utility",
        tolerance: float = DEFAULT_TOLERANCE) -> AttackResult:
    """Run PGD on a batch ``x`` (B, C, H, W) in [0, 1] with labels ``y`` (a tensor, list or int); see the
    module docstring. Returns an :class:`AttackResult` of tensors on x's device.

    ``eps`` and ``step_size`` are in pixel units (default step 2.5 * eps / steps); the default budget,
    eps 0.1 and 20 steps, is the dashboard's (:data:`mimi.analysis.DEFAULTS`). ``targeted`` is a class
    per sample (or one for all). ``stop_utility`` U > 0 is the equal-strength mode: land each sample's drop of
    its true class's score in [U, U + ``tolerance``] (``stop_rule`` "utility": v with the value function
    ``value``; "paper": the logit, once misclassified; :mod:`mimi.attacks.landing`); ``success`` then says
    whether it landed. ``seed`` seeds a generator of this call. Everything after ``y`` is keyword-only.
    """
    restarts = check_steps(restarts, "restarts")
    steps = check_steps(steps)
    step_size = check_step_size(step_size)
    check_value_function(value)
    y, targeted, clean_logits = check_inputs(model, x, y, eps, norm, targeted)
    rule = None
    if stop_utility is not None:
        if targeted is not None:
            raise ValueError("stop_utility is an untargeted mode; do not combine it with targeted")
        if early_stop:
            raise ValueError("early_stop and stop_utility are two stop rules; choose one")
        rule = StopRule(*check_stop(stop_utility, tolerance, stop_rule), value=value)
    eps = float(eps)
    x_adv, steps_used = pgd_perturb(model, x, y, eps=eps, steps=steps, step_size=step_size, norm=norm,
                                    random_start=random_start, restarts=restarts, targeted=targeted,
                                    stop_utility=None if rule is None else rule.utility, early_stop=early_stop,
                                    value=value, generator=make_generator(seed, x.device),
                                    clean_value=None if rule is None else rule.score(clean_logits, y),
                                    check_last=True, stop_rule=stop_rule, tolerance=tolerance)
    params = dict(attack="pgd", eps=eps, steps=steps,
                  step_size=default_step_size(eps, steps) if step_size is None else step_size,
                  norm=norm, random_start=bool(random_start), restarts=restarts, stop_utility=None,
                  early_stop=bool(early_stop), value=value, seed=seed,
                  targeted=None if targeted is None else targeted.tolist())
    if rule is not None:
        params.update(rule.as_params())
    return summarize(model, x, x_adv, y, targeted, steps_used, value, params, top_k, clean_logits, rule)
