"""What every attack shares: input checks, the loss, the norm geometry and the result."""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from mimi.attacks.result import AttackResult
from mimi.values import class_value, check_value_function

NORMS = ("linf", "l2")


def check_inputs(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, norm: str,
                 targeted: Optional[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, Optional[torch.Tensor]]:
    """Validate an attack's inputs; returns y and targets as long tensors on x's device."""
    if norm not in NORMS:
        raise ValueError(f"unknown norm {norm!r}; choose one of {', '.join(NORMS)}")
    if not eps >= 0:
        raise ValueError(f"eps must be >= 0, got {eps}")
    if x.ndim != 4:
        raise ValueError(f"x must have shape (B, C, H, W), got {tuple(x.shape)}")
    lo, hi = float(x.min()), float(x.max())
    if lo < 0 or hi > 1:
        raise ValueError(f"inputs must lie in [0, 1], got values in [{lo:.3g}, {hi:.3g}]")
    y = torch.as_tensor(y, device=x.device).long().reshape(-1)
    if len(y) != len(x):
        raise ValueError(f"labels have length {len(y)}, expected {len(x)} (one per image)")
    num_classes = None
    if targeted is not None:
        targeted = torch.as_tensor(targeted, device=x.device).long().reshape(-1).expand(len(x)).clone()
        with torch.no_grad():
            num_classes = model(x[:1]).shape[1]
        bad = targeted[(targeted < 0) | (targeted >= num_classes)]
        if len(bad):
            raise ValueError(f"target class {int(bad[0])} out of range 0..{num_classes - 1}")
    return y, targeted


def attack_loss(logits: torch.Tensor, y: torch.Tensor, targeted: Optional[torch.Tensor]) -> torch.Tensor:
    """Per-sample loss to ascend: CE(y) untargeted, -CE(target) targeted."""
    if targeted is None:
        return F.cross_entropy(logits, y, reduction="none")
    return -F.cross_entropy(logits, targeted, reduction="none")


def is_success(logits: torch.Tensor, y: torch.Tensor, targeted: Optional[torch.Tensor]) -> torch.Tensor:
    pred = logits.argmax(1)
    return pred == targeted if targeted is not None else pred != y


def flat_norm(t: torch.Tensor, norm: str) -> torch.Tensor:
    flat = t.flatten(1)
    return flat.abs().amax(1) if norm == "linf" else flat.norm(dim=1)


def ascent_direction(grad: torch.Tensor, norm: str) -> torch.Tensor:
    """sign(g) for L-inf; g / ||g||_2 for L2 (steepest ascent of unit size)."""
    if norm == "linf":
        return grad.sign()
    return grad / flat_norm(grad, "l2").clamp_min(1e-12).view(-1, *[1] * (grad.ndim - 1))


def project(delta: torch.Tensor, x: torch.Tensor, eps: float, norm: str) -> torch.Tensor:
    """Project delta onto the eps-ball, then so that x + delta stays in [0, 1]."""
    if norm == "linf":
        delta = delta.clamp(-eps, eps)
    else:
        scale = (eps / flat_norm(delta, "l2").clamp_min(1e-12)).clamp(max=1.0)
        delta = delta * scale.view(-1, *[1] * (delta.ndim - 1))
    return (x + delta).clamp(0, 1) - x


def random_start(x: torch.Tensor, eps: float, norm: str, generator: torch.Generator) -> torch.Tensor:
    """Uniform in the L-inf ball; for L2 a uniform direction at radius eps * U(0, 1)."""
    if norm == "linf":
        delta = (torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype) * 2 - 1) * eps
    else:
        direction = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        radius = torch.rand(len(x), generator=generator, device=x.device, dtype=x.dtype) * eps
        delta = ascent_direction(direction, "l2") * radius.view(-1, *[1] * (x.ndim - 1))
    return project(delta, x, eps, norm)


def make_generator(seed: int, device: torch.device) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(int(seed))


@torch.no_grad()
def summarize(model: nn.Module, x: torch.Tensor, x_adv: torch.Tensor, y: torch.Tensor,
              targeted: Optional[torch.Tensor], steps_used: torch.Tensor, value: str, params: dict,
              top_k: int = 5) -> AttackResult:
    """Evaluate clean and adversarial inputs once and fill an :class:`AttackResult`."""
    check_value_function(value)
    clean_logits, adv_logits = model(x), model(x_adv)
    k = min(top_k, clean_logits.shape[1])
    clean_prob, adv_prob = clean_logits.softmax(1), adv_logits.softmax(1)
    clean_top, adv_top = clean_prob.topk(k, dim=1), adv_prob.topk(k, dim=1)
    delta = x_adv - x
    utility = class_value(clean_logits, y, value) - class_value(adv_logits, y, value)
    return AttackResult(
        x_adv=x_adv.cpu().numpy(), perturbation=delta.cpu().numpy(), labels=y.cpu().numpy(),
        success=is_success(adv_logits, y, targeted).cpu().numpy(),
        clean_pred=clean_logits.argmax(1).cpu().numpy(), adv_pred=adv_logits.argmax(1).cpu().numpy(),
        clean_topk=clean_top.indices.cpu().numpy(), clean_topk_prob=clean_top.values.cpu().numpy(),
        adv_topk=adv_top.indices.cpu().numpy(), adv_topk_prob=adv_top.values.cpu().numpy(),
        utility=utility.cpu().numpy(), steps_used=steps_used.cpu().numpy(),
        linf_norm=flat_norm(delta, "linf").cpu().numpy(), l2_norm=flat_norm(delta, "l2").cpu().numpy(),
        params=params)
