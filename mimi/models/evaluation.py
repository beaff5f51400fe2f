"""Clean and robust accuracy of a model on an image set, batched, with progress.

Robust accuracy at eps = fraction of images classified as y both clean and after the attack,
x_adv = A(x, y, eps) (so it never exceeds clean accuracy); only the images classified correctly
clean are attacked. Attacks: ``pgd`` (default step
2.5 * eps / steps), ``fgsm`` (step eps) and ``fgsm-rs`` (random start, step 1.25 * eps); the
perturbation is projected so that x + delta stays in [0, 1] at every step. eps = 0 needs no attack.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import torch
from torch import nn

from mimi.attacks.base import check_eps, check_norm, check_step_size, check_steps, make_generator
from mimi.attacks.fgsm import fgsm_perturb
from mimi.attacks.pgd import pgd_perturb
from mimi.core.progress import ProgressFn, report
from mimi.core.results import Result
from mimi.data.datasets import ImageSet

EVAL_ATTACKS = ("pgd", "fgsm", "fgsm-rs")
PROJECTION = "delta projected onto the eps-ball and so that x+delta stays in [0,1] at every step"


@dataclass
class AccuracyResult(Result):
    """Clean accuracy and, per eps, accuracy under the attack described in ``protocol``."""

    model: str
    n_images: int
    clean_accuracy: float
    eps: list = field(default_factory=list)
    robust_accuracy: list = field(default_factory=list)   # one per eps, same order
    protocol: dict = field(default_factory=dict)          # attack, norm, steps, step size, restarts, seed, ...
    wall_time_s: float = 0.0
    data: str = ""                                        # which images, e.g. "fashion-mnist test[:1000]"
    device: str = ""

    def robust_at(self, eps: float) -> float:
        """Robust accuracy at ``eps`` (one of the evaluated values)."""
        for e, acc in zip(self.eps, self.robust_accuracy):
            if abs(e - eps) < 1e-12:
                return acc
        raise ValueError(f"eps {eps} was not evaluated; evaluated: {self.eps}")


def attack_protocol(attack: str, norm: str, steps: int, step_size: Optional[float], restarts: int,
                    random_start: bool, seed: int) -> dict:
    """The settings that define a robust-accuracy number, as recorded in results and model cards."""
    if attack == "pgd":
        return dict(attack="pgd", norm=norm, steps=steps,
                    step_size="2.5*eps/steps" if step_size is None else step_size,
                    random_start=bool(random_start), restarts=restarts, seed=seed, projection=PROJECTION)
    return dict(attack=attack, norm=norm, steps=1,
                step_size=(("1.25*eps" if attack == "fgsm-rs" else "eps") if step_size is None else step_size),
                random_start=attack == "fgsm-rs", restarts=1, seed=seed, projection=PROJECTION)


def evaluate(model: nn.Module, data: ImageSet, eps_list: list[float] = (0.1,), steps: int = 20,
             step_size: Optional[float] = None, norm: str = "linf", restarts: int = 1,
             random_start: bool = True, batch_size: int = 500, seed: int = 0, name: str = "",
             progress: Optional[ProgressFn] = None, device: str | torch.device = "cpu",
             attack: str = "pgd", data_name: str = "") -> AccuracyResult:
    """Accuracy on ``data`` clean and under ``attack`` at each eps in ``eps_list``.

    ``steps``, ``restarts`` and ``random_start`` apply to PGD; the random starts come from one
    generator seeded with ``seed``, so a call is deterministic. ``progress`` is told per batch.
    """
    if attack not in EVAL_ATTACKS:
        raise ValueError(f"unknown attack {attack!r}; choose one of {', '.join(EVAL_ATTACKS)}")
    check_norm(norm)
    steps, restarts = check_steps(steps), check_steps(restarts, "restarts")
    step_size = check_step_size(step_size)
    batch_size = check_steps(batch_size, "batch_size")
    eps_list = [check_eps(e) for e in eps_list]
    if len(data) == 0:
        raise ValueError("no images to evaluate")
    t0 = time.perf_counter()
    device = torch.device(device)
    batches = (len(data) + batch_size - 1) // batch_size
    total = batches * (1 + len(eps_list))
    generator = make_generator(seed, device)
    clean_correct, robust_correct = 0, np.zeros(len(eps_list), dtype=np.int64)
    done = 0
    for b in range(batches):
        x = data.images[b * batch_size:(b + 1) * batch_size].to(device)
        y = data.labels[b * batch_size:(b + 1) * batch_size].to(device)
        with torch.no_grad():
            correct = model(x).argmax(1) == y
        clean_correct += int(correct.sum())
        seen = min((b + 1) * batch_size, len(data))
        done += 1
        report(progress, done, total, f"clean {clean_correct / seen:.3f}")
        right = correct.nonzero().squeeze(1)  # only these can be robust: attack only them
        x, y = x[right], y[right]
        for k, eps in enumerate(eps_list):
            if eps == 0 or len(right) == 0:
                robust_correct[k] += len(right)
            else:
                if attack == "pgd":
                    x_adv, _ = pgd_perturb(model, x, y, eps=eps, steps=steps, step_size=step_size, norm=norm,
                                           random_start=random_start, restarts=restarts, generator=generator)
                else:
                    x_adv = fgsm_perturb(model, x, y, eps=eps, norm=norm, random_start=attack == "fgsm-rs",
                                         step_size=step_size, generator=generator)
                with torch.no_grad():
                    robust_correct[k] += int((model(x_adv).argmax(1) == y).sum())
            done += 1
            report(progress, done, total, f"eps {eps:g} {robust_correct[k] / seen:.3f}")
    n = len(data)
    protocol = attack_protocol(attack, norm, steps, step_size, restarts, random_start, seed)
    return AccuracyResult(name, n, clean_correct / n, eps_list, (robust_correct / n).tolist(), protocol,
                          round(time.perf_counter() - t0, 1), data_name, str(device))
