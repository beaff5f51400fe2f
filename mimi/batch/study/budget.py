"""A study within a time budget: the same effort for every job, the largest that fits.

A study pools its images, so every job keeps one design. :func:`fit_study` estimates one job of each model
(:meth:`StudyParams.check`'s planned passes at the model's measured speed, :func:`mimi.analysis.budget.probe_speed`,
plus the attack at three passes' time per step and restart) and, while all jobs would take longer than the budget,
halves the effort knob whose halving saves the most time: contexts per unit (to 1), units per pair and order, pairs
drawn, Shapley permutation pairs, D's units and pairs, each down to its smallest honest value. A budget below the smallest
design raises :class:`~mimi.analysis.budget.BudgetTooSmall` with the time that design needs.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Sequence

import torch
from torch import nn

from mimi.analysis.budget import BudgetTooSmall, check_budget, probe_speed
from mimi.batch.study.plan import StudyParams
from mimi.core.compute import default_batch_size

#: The effort knobs with their smallest honest value.
KNOBS = (("contexts", 1), ("samples", 2), ("pair_count", 2), ("shapley_samples", 2), ("d_samples", 2),
         ("d_pair_count", 2))


def job_seconds(params: StudyParams, models: dict[str, nn.Module], shape: Sequence[int], device) -> float:
    """Estimated seconds of one job of each model on an image of ``shape`` (C, H, W), summed over the models: its
    game calls (:func:`mimi.analysis.planning.planned_calls`) at the model's measured :class:`Speed`, the masks'
    drawing (timed by the planning's dry run) and the attack's steps."""
    params.check(tuple(shape))
    began = time.perf_counter()
    profile = params.profile_request().planned_calls(shape, 2)
    d_calls = params.disentanglement_request().planned_calls(shape, 1)
    shapley = params.shapley_request().planned_calls(shape, 2) if params.shapley_samples else []
    drawing = time.perf_counter() - began
    steps = params.steps * params.restarts
    total = 0.0
    for model in models.values():
        batch = default_batch_size(model, tuple(shape), torch.device(device))
        speed = probe_speed(model, tuple(shape), device, batch)
        total += (speed.seconds(profile + shapley, 2) + speed.seconds(d_calls, 1) + drawing
                  + 3 * steps * (speed.latency + speed.per_image))
    return total


def _halvings(params: StudyParams) -> list[StudyParams]:
    """``params`` with one knob above its floor halved, for each such knob (contexts: a whole design becomes 8)."""
    found = []
    for name, floor in KNOBS:
        value = getattr(params, name)
        if name == "contexts" and value is None:
            found.append(dataclasses.replace(params, contexts=8))
        elif value is not None and value > floor and not (name == "shapley_samples" and value == 0):
            found.append(dataclasses.replace(params, **{name: max(floor, value // 2)}))
    return found


def fit_study(params: StudyParams, models: dict[str, nn.Module], images: int, shape: Sequence[int], budget,
              device="cpu") -> tuple[StudyParams, float]:
    """The largest effort whose ``images`` jobs per model take at most ``budget`` seconds, and their estimated
    seconds: ``params``, or halvings of it, each time the one (:data:`KNOBS`) that saves the most time."""
    budget = check_budget(budget)
    fitted = params
    seconds = images * job_seconds(fitted, models, shape, device)
    while seconds > budget:
        options = [(images * job_seconds(option, models, shape, device), option) for option in _halvings(fitted)]
        if not options:
            raise BudgetTooSmall(
                f"a time budget of {budget:g} s is too small for this study: its smallest honest design "
                f"({fitted.pair_count} pairs × {fitted.samples} units of {fitted.contexts} context(s), "
                f"{fitted.shapley_samples} Shapley permutation pairs, D with {fitted.d_pair_count} pairs × "
                f"{fitted.d_samples} units, on {images} images) needs about {seconds:.0f} s at the models' measured "
                f"speed; give at least {int(seconds) + 1} s, or fewer images")
        seconds, fitted = min(options, key=lambda option: option[0])
    return fitted, seconds
