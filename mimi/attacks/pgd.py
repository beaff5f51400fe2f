"""Projected gradient descent (Madry et al. 2018), L-inf and L2, with the paper's stop-at-utility mode.

Each step: delta <- Proj_{||delta|| <= eps, x + delta in [0, 1]} (delta + alpha * d(grad)),
with d = sign for L-inf and g / ||g||_2 for L2, grad = d loss / d delta, loss = CE(y) (untargeted)
or -CE(target) (targeted). Per sample, the returned run is the successful one, else the
highest-loss one, over restarts; within a run a successful iterate is kept once found.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from mimi.attacks.base import (ascent_direction, attack_loss, check_inputs, is_success,
                               make_generator, project, random_start as draw_random_start, summarize)
from mimi.attacks.result import AttackResult
from mimi.values import class_value, check_value_function


def pgd_perturb(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, steps: int,
                step_size: Optional[float] = None, norm: str = "linf", random_start: bool = True,
                restarts: int = 1, targeted: Optional[torch.Tensor] = None,
                stop_utility: Optional[float] = None, early_stop: bool = False,
                value: str = "log-odds", generator: Optional[torch.Generator] = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """PGD on tensors, no input checks: returns (x_adv, steps_used per sample).

    ``early_stop`` freezes a sample once it succeeds; ``stop_utility`` freezes it once
    v(x) - v(x + delta) >= stop_utility for its true class (the paper's equal-strength protocol).
    """
    step_size = 2.5 * eps / steps if step_size is None else step_size
    generator = generator or make_generator(0, x.device)
    stops = early_stop or stop_utility is not None
    clean_value = None
    if stop_utility is not None:
        with torch.no_grad():
            clean_value = class_value(model(x), y, value)

    best_delta = torch.zeros_like(x)
    best_key = torch.full((len(x),), -float("inf"), device=x.device)
    best_steps = torch.zeros(len(x), dtype=torch.long, device=x.device)
    for _ in range(restarts):
        delta = draw_random_start(x, eps, norm, generator) if random_start else torch.zeros_like(x)
        frozen = torch.zeros(len(x), dtype=torch.bool, device=x.device)
        found = torch.zeros_like(frozen)
        found_delta = torch.zeros_like(x)
        steps_used = torch.zeros(len(x), dtype=torch.long, device=x.device)
        for _step in range(steps):
            idx = (~frozen).nonzero().squeeze(1) if stops else None
            if idx is not None and len(idx) == 0:
                break
            xa, ya = (x, y) if idx is None else (x[idx], y[idx])
            ta = None if targeted is None else (targeted if idx is None else targeted[idx])
            da = (delta if idx is None else delta[idx]).requires_grad_(True)
            logits = model(xa + da)
            (grad,) = torch.autograd.grad(attack_loss(logits, ya, ta).sum(), da)
            with torch.no_grad():
                da = da.detach()
                succeeded = is_success(logits, ya, ta)
                if stop_utility is not None:
                    cv = clean_value if idx is None else clean_value[idx]
                    reached = cv - class_value(logits, ya, value) >= stop_utility
                else:
                    reached = succeeded if early_stop else torch.zeros_like(succeeded)
                stepped = project(da + step_size * ascent_direction(grad, norm), xa, eps, norm)
                new = torch.where(reached.view(-1, 1, 1, 1), da, stepped)
                if idx is None:
                    found_delta = torch.where(succeeded.view(-1, 1, 1, 1), da, found_delta)
                    found |= succeeded
                    delta, steps_used = new, steps_used + 1
                else:
                    delta[idx] = new
                    steps_used[idx] += (~reached).long()
                    frozen[idx] |= reached
        with torch.no_grad():
            logits = model(x + delta)
            loss = attack_loss(logits, y, targeted)
            succeeded = is_success(logits, y, targeted)
            if stop_utility is not None:
                succeeded = clean_value - class_value(logits, y, value) >= stop_utility
            use_found = found & ~succeeded
            delta = torch.where(use_found.view(-1, 1, 1, 1), found_delta, delta)
            succeeded = succeeded | use_found
            # Successful runs rank above all others; ties and failures by loss.
            key = torch.where(succeeded, torch.full_like(loss, 1e30), loss)
            better = key > best_key
            best_delta = torch.where(better.view(-1, 1, 1, 1), delta, best_delta)
            best_steps = torch.where(better, steps_used, best_steps)
            best_key = torch.maximum(key, best_key)
    return (x + best_delta).clamp(0, 1).detach(), best_steps


def pgd(model: nn.Module, x: torch.Tensor, y, eps: float, steps: int, step_size: Optional[float] = None,
        norm: str = "linf", random_start: bool = True, restarts: int = 1, targeted=None,
        stop_utility: Optional[float] = None, early_stop: bool = False, value: str = "log-odds",
        seed: int = 0, top_k: int = 5) -> AttackResult:
    """Run PGD on a batch ``x`` (B, C, H, W) in [0, 1] with labels ``y``; see the module docstring.

    ``eps`` and ``step_size`` are in pixel units (default step 2.5 * eps / steps); ``targeted``
    is a class per sample (or one for all); ``seed`` seeds a per-call generator.
    """
    y, targeted = check_inputs(model, x, y, eps, norm, targeted)
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if restarts < 1:
        raise ValueError(f"restarts must be >= 1, got {restarts}")
    if step_size is not None and not step_size > 0:
        raise ValueError(f"step_size must be > 0, got {step_size}")
    if stop_utility is not None and targeted is not None:
        raise ValueError("stop_utility is an untargeted mode; do not combine it with targeted")
    check_value_function(value)
    x_adv, steps_used = pgd_perturb(
        model, x, y, eps, steps, step_size, norm, random_start, restarts, targeted, stop_utility,
        early_stop, value, make_generator(seed, x.device))
    params = dict(attack="pgd", eps=eps, steps=steps, step_size=2.5 * eps / steps if step_size is None else step_size,
                  norm=norm, random_start=random_start, restarts=restarts, stop_utility=stop_utility,
                  early_stop=early_stop, value=value, seed=seed,
                  targeted=None if targeted is None else targeted.tolist())
    return summarize(model, x, x_adv, y, targeted, steps_used, value, params, top_k)
