"""FGSM (Goodfellow et al. 2015) and FGSM with random start (Wong et al. 2020, fast adversarial training).

One step: x_adv = x + Proj(delta0 + alpha * d(grad)), grad = d loss / d delta at delta0, with
d = sign (L-inf) or g / ||g||_2 (L2) and Proj onto {||delta|| <= eps, x + delta in [0, 1]}.
Plain FGSM: delta0 = 0, alpha = eps. With random start: delta0 uniform in the eps-ball
(``random_start``), alpha = 1.25 * eps by default.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from mimi.attacks.base import (DEFAULT_EPS, ascent_direction, attack_loss, check_inputs, check_step_size,
                               make_generator, project)
from mimi.attacks.base import random_start as draw_random_start
from mimi.attacks.base import summarize
from mimi.attacks.result import AttackResult
from mimi.core.values import check_value_function

RANDOM_START_STEP = 1.25  # alpha / eps with a random start (Wong et al. 2020)


def default_step_size(eps: float, random_start: bool) -> float:
    """eps for plain FGSM, 1.25 * eps with a random start."""
    return RANDOM_START_STEP * eps if random_start else eps


def fgsm_perturb(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, eps: float = DEFAULT_EPS, norm: str = "linf",
                 random_start: bool = False, step_size: Optional[float] = None,
                 targeted: Optional[torch.Tensor] = None, generator: Optional[torch.Generator] = None
                 ) -> torch.Tensor:
    """FGSM on tensors, without input checks: returns x_adv on x's device (the model is not mutated)."""
    step_size = default_step_size(eps, random_start) if step_size is None else step_size
    if random_start:
        generator = generator if generator is not None else make_generator(0, x.device)
        delta = draw_random_start(x, eps, norm, generator)
    else:
        delta = torch.zeros_like(x)
    delta.requires_grad_(True)
    (grad,) = torch.autograd.grad(attack_loss(model(x + delta), y, targeted).sum(), delta)
    with torch.no_grad():
        delta = project(delta.detach() + step_size * ascent_direction(grad, norm), x, eps, norm)
        return (x + delta).clamp_(0, 1)


def fgsm(model: nn.Module, x: torch.Tensor, y, *, eps: float = DEFAULT_EPS, norm: str = "linf",
         random_start: bool = False, step_size: Optional[float] = None, targeted=None, seed: int = 0,
         value: str = "log-odds", top_k: int = 5) -> AttackResult:
    """Run FGSM (``random_start=True``: FGSM-RS) on a batch ``x`` (B, C, H, W) in [0, 1] with labels ``y``
    (a tensor, list or int); see the module docstring. Returns an :class:`AttackResult` of tensors on x's
    device. The default eps, 0.1, is the dashboard's (:data:`mimi.analysis.DEFAULTS`). Everything after
    ``y`` is keyword-only."""
    step_size = check_step_size(step_size)
    check_value_function(value)
    y, targeted, clean_logits = check_inputs(model, x, y, eps, norm, targeted)
    eps = float(eps)
    step_size = default_step_size(eps, random_start) if step_size is None else step_size
    x_adv = fgsm_perturb(model, x, y, eps=eps, norm=norm, random_start=random_start, step_size=step_size,
                         targeted=targeted, generator=make_generator(seed, x.device))
    params = dict(attack="fgsm-rs" if random_start else "fgsm", eps=eps, steps=1, step_size=step_size,
                  norm=norm, random_start=bool(random_start), restarts=1, value=value, seed=seed,
                  targeted=None if targeted is None else targeted.tolist())
    steps_used = torch.ones(len(x), dtype=torch.long, device=x.device)
    return summarize(model, x, x_adv, y, targeted, steps_used, value, params, top_k, clean_logits)
