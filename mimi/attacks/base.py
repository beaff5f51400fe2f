"""What every attack shares: input checks, the loss, the norm geometry and the result.

The feasible set of an attack on x is {delta : ||delta|| <= eps, 0 <= x + delta <= 1}
(pixel units, inputs in [0, 1], normalization inside the model). Attacks ascend the
per-sample loss CE(f(x + delta), y) (untargeted) or -CE(f(x + delta), t) (targeted).
"""

from __future__ import annotations

import math
import operator
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from mimi.attacks.result import AttackResult
from mimi.core.values import check_value_function, class_value

NORMS = ("linf", "l2")
#: The attacks' default budget, also the dashboard's (mimi.analysis.DEFAULTS): eps 0.1 in pixel units of
#: [0, 1] images, the zoo's Fashion-MNIST evaluation radius, and 20 steps (PGD-20).
DEFAULT_EPS: float = 0.1
DEFAULT_STEPS: int = 20

def check_norm(norm: str) -> str:
    if norm not in NORMS:
        raise ValueError(f"unknown norm {norm!r}; choose one of {', '.join(NORMS)}")
    return norm


def _number(value, name: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError, RuntimeError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return number


def check_eps(eps: float) -> float:
    if _number(eps, "eps") < 0:
        raise ValueError(f"eps must be >= 0, got {eps!r}")
    return float(eps)


def check_steps(steps: int, name: str = "steps") -> int:
    try:
        count = operator.index(steps)
    except TypeError:
        raise ValueError(f"{name} must be an integer >= 1, got {steps!r}") from None
    if isinstance(steps, bool) or count < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {steps!r}")
    return count


def check_step_size(step_size: Optional[float]) -> Optional[float]:
    if step_size is None:
        return None
    if _number(step_size, "step_size") <= 0:
        raise ValueError(f"step_size must be > 0, got {step_size!r}")
    return float(step_size)


def _class_vector(values, count: int, num_classes: int, what: str, device: torch.device) -> torch.Tensor:
    """``values`` (one int, or one per image) as a long tensor of length ``count`` in 0..num_classes-1."""
    tensor = torch.as_tensor(values).reshape(-1)
    if tensor.is_floating_point() and not torch.equal(tensor, tensor.round()):
        raise ValueError(f"{what} must be integer classes, got {tensor.tolist()[:5]}")
    tensor = tensor.long()
    if len(tensor) == 1 and what == "target":
        tensor = tensor.expand(count)
    if len(tensor) != count:
        raise ValueError(f"{what}s have length {len(tensor)}, expected {count} (one per image)")
    bad = tensor[(tensor < 0) | (tensor >= num_classes)]
    if len(bad):
        raise ValueError(f"{what} class {int(bad[0])} out of range 0..{num_classes - 1}")
    return tensor.to(device).clone()


def check_inputs(model: nn.Module, x: torch.Tensor, y, eps: float, norm: str, targeted=None
                 ) -> tuple[torch.Tensor, Optional[torch.Tensor], torch.Tensor]:
    """Validate an attack's inputs and run the clean forward pass once.

    Returns ``(y, targets, clean_logits)``: labels and targets (or None) as long tensors on
    x's device, and the model's logits on x (no gradients).
    """
    check_eps(eps)
    check_norm(norm)
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise ValueError(f"x must be a floating-point tensor (B, C, H, W), got {type(x).__name__}"
                         f"{'' if not isinstance(x, torch.Tensor) else ' of ' + str(x.dtype)}")
    if x.ndim != 4 or len(x) == 0:
        raise ValueError(f"x must have shape (B, C, H, W) with B >= 1, got {tuple(x.shape)}")
    if not bool(torch.isfinite(x).all()):
        raise ValueError("x contains NaN or infinite values; inputs must lie in [0, 1]")
    lo, hi = float(x.min()), float(x.max())
    if lo < 0 or hi > 1:
        raise ValueError(f"inputs must lie in [0, 1], got values in [{lo:.4g}, {hi:.4g}]")
    try:
        with torch.no_grad():
            clean_logits = model(x)
    except torch.cuda.OutOfMemoryError:
        raise
    except RuntimeError as exc:
        raise ValueError(f"x of shape {tuple(x.shape)} does not fit the model: "
                         f"{str(exc).splitlines()[0][:200]}") from exc
    num_classes = clean_logits.shape[1]
    y = _class_vector(y, len(x), num_classes, "label", x.device)
    if targeted is not None:
        targeted = _class_vector(targeted, len(x), num_classes, "target", x.device)
    return y, targeted, clean_logits


def attack_loss(logits: torch.Tensor, y: torch.Tensor, targeted: Optional[torch.Tensor]) -> torch.Tensor:
    """Per-sample loss to ascend: CE(y) untargeted, -CE(target) targeted."""
    if targeted is None:
        return F.cross_entropy(logits, y, reduction="none")
    return -F.cross_entropy(logits, targeted, reduction="none")


def is_success(logits: torch.Tensor, y: torch.Tensor, targeted: Optional[torch.Tensor]) -> torch.Tensor:
    """Untargeted: argmax != y; targeted: argmax == target."""
    pred = logits.argmax(1)
    return pred == targeted if targeted is not None else pred != y


def per_sample(t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """View a (B,) tensor so that it broadcasts over ``like`` (B, ...)."""
    return t.view(-1, *[1] * (like.ndim - 1))


def flat_norm(t: torch.Tensor, norm: str) -> torch.Tensor:
    """Per-sample max |t| (linf) or sqrt(sum t^2) (l2)."""
    flat = t.flatten(1)
    return flat.abs().amax(1) if norm == "linf" else flat.norm(dim=1)


def ascent_direction(grad: torch.Tensor, norm: str) -> torch.Tensor:
    """Steepest ascent of unit size: sign(g) for L-inf; g / ||g||_2 for L2."""
    if norm == "linf":
        return grad.sign()
    return grad / per_sample(flat_norm(grad, "l2").clamp_min(1e-12), grad)


def project(delta: torch.Tensor, x: torch.Tensor, eps: float, norm: str) -> torch.Tensor:
    """Map delta into the feasible set: onto the eps-ball, then clip so that x + delta is in [0, 1].

    The clip only shrinks |delta| coordinate-wise (x is in [0, 1]), so the result stays in the ball.
    """
    if norm == "linf":
        delta = delta.clamp(-eps, eps)
    else:
        scale = (eps / flat_norm(delta, "l2").clamp_min(1e-12)).clamp(max=1.0)
        delta = delta * per_sample(scale, delta)
    return (x + delta).clamp(0, 1) - x


def random_start(x: torch.Tensor, eps: float, norm: str, generator: torch.Generator) -> torch.Tensor:
    """A feasible start: uniform in the L-inf ball, or for L2 a uniform direction at radius eps * U(0, 1)."""
    if norm == "linf":
        delta = (torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype) * 2 - 1) * eps
    else:
        direction = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        radius = torch.rand(len(x), generator=generator, device=x.device, dtype=x.dtype) * eps
        delta = ascent_direction(direction, "l2") * per_sample(radius, x)
    return project(delta, x, eps, norm)


def make_generator(seed: int, device: torch.device | str) -> torch.Generator:
    """A generator of its own per computation (the global RNG is never used)."""
    return torch.Generator(device=torch.device(device)).manual_seed(int(seed))


@torch.no_grad()
def summarize(model: nn.Module, x: torch.Tensor, x_adv: torch.Tensor, y: torch.Tensor,
              targeted: Optional[torch.Tensor], steps_used: torch.Tensor, value: str, params: dict,
              top_k: int = 5, clean_logits: Optional[torch.Tensor] = None, stop_rule=None) -> AttackResult:
    """Evaluate the adversarial inputs once (the clean ones unless given) and fill an :class:`AttackResult`
    with tensors on x's device (no host transfer).

    ``success`` is the attack's goal: misclassified (untargeted), the target class (targeted), or, with a
    ``stop_rule`` (:class:`mimi.attacks.landing.StopRule`), landed in its band [U, U + tol].
    """
    check_value_function(value)
    if clean_logits is None:
        clean_logits = model(x)
    adv_logits = model(x_adv)
    k = min(top_k, clean_logits.shape[1])
    clean_top = clean_logits.softmax(1).topk(k, dim=1)
    adv_top = adv_logits.softmax(1).topk(k, dim=1)
    delta = x_adv - x
    clean_value, adv_value = class_value(clean_logits, y, value), class_value(adv_logits, y, value)
    stop_drop = None
    if stop_rule is not None:
        clean_score = stop_rule.score(clean_logits, y)
        stop_drop = clean_score - stop_rule.score(adv_logits, y)
        success = stop_rule.landed(adv_logits, y, clean_score)
    else:
        success = is_success(adv_logits, y, targeted)

    return AttackResult(
        x_adv=x_adv, perturbation=delta, labels=y, success=success,
        clean_pred=clean_logits.argmax(1), adv_pred=adv_logits.argmax(1),
        clean_topk=clean_top.indices, clean_topk_prob=clean_top.values,
        adv_topk=adv_top.indices, adv_topk_prob=adv_top.values,
        utility=clean_value - adv_value, steps_used=steps_used,
        linf_norm=flat_norm(delta, "linf"), l2_norm=flat_norm(delta, "l2"),
        params=params, clean_value=clean_value, adv_value=adv_value, targets=targeted, value=value,
        stop_drop=stop_drop)
