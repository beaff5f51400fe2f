"""Clean and robust accuracy of a model on an image set, batched, with progress."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import torch
from torch import nn

from mimi.attacks.base import make_generator
from mimi.attacks.pgd import pgd_perturb
from mimi.data import ImageSet
from mimi.progress import ProgressFn, report
from mimi.results import Result


@dataclass
class AccuracyResult(Result):
    """Clean accuracy and, per eps, accuracy under PGD with the protocol in ``protocol``."""

    model: str
    n_images: int
    clean_accuracy: float
    eps: list = field(default_factory=list)
    robust_accuracy: list = field(default_factory=list)
    protocol: dict = field(default_factory=dict)
    wall_time_s: float = 0.0


def evaluate(model: nn.Module, data: ImageSet, eps_list: list[float] = (0.1,), steps: int = 20,
             step_size: Optional[float] = None, norm: str = "linf", restarts: int = 1,
             random_start: bool = True, batch_size: int = 500, seed: int = 0, name: str = "",
             progress: Optional[ProgressFn] = None, device: str | torch.device = "cpu") -> AccuracyResult:
    """Accuracy on ``data`` clean and under PGD at each eps (step 2.5 * eps / steps by default).

    The perturbation is projected so that x + delta stays in [0, 1] at every step.
    """
    import time

    t0 = time.perf_counter()
    device = torch.device(device)
    eps_list = [float(e) for e in eps_list]
    batches = (len(data) + batch_size - 1) // batch_size
    total = batches * (1 + len(eps_list))
    generator = make_generator(seed, device)
    clean_correct, robust_correct = 0, np.zeros(len(eps_list), dtype=np.int64)
    done = 0
    for b in range(batches):
        x = data.images[b * batch_size:(b + 1) * batch_size].to(device)
        y = data.labels[b * batch_size:(b + 1) * batch_size].to(device)
        with torch.no_grad():
            clean_correct += int((model(x).argmax(1) == y).sum())
        done += 1
        report(progress, done, total, f"clean {clean_correct / min((b + 1) * batch_size, len(data)):.3f}")
        for k, eps in enumerate(eps_list):
            x_adv, _ = pgd_perturb(model, x, y, eps, steps, step_size, norm, random_start, restarts,
                                   generator=generator)
            with torch.no_grad():
                robust_correct[k] += int((model(x_adv).argmax(1) == y).sum())
            done += 1
            report(progress, done, total, f"eps {eps:g}")
    n = len(data)
    protocol = dict(attack="pgd", norm=norm, steps=steps,
                    step_size="2.5*eps/steps" if step_size is None else step_size,
                    random_start=random_start, restarts=restarts, seed=seed,
                    projection="delta projected onto the eps-ball and so that x+delta stays in [0,1] at every step")
    return AccuracyResult(name, n, clean_correct / n, eps_list, (robust_correct / n).tolist(), protocol,
                          round(time.perf_counter() - t0, 1))
