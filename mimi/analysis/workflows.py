"""What the image API composes from its parts: the PGD attack of one image (:func:`run_attack`), ``mimi analyze``'s
whole analysis (:func:`analyze_image`: attack, order profile, Shapley map, within an optional time budget) and
the dashboard's default view (:func:`default_view`)."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Optional, Sequence

import torch
from torch import nn

from mimi.analysis.budget import (FIRST_ROUND_SHARE, BudgetTooSmall, check_budget, probe_speed, smallest_design,
                                  too_small)
from mimi.analysis.checks import Image, Target, _as_image, check_grid, default_pair_count, pair_set_of, resolve_orders
from mimi.analysis.defaults import DEFAULTS
from mimi.analysis.image_game import image_game
from mimi.analysis.maps import pair_heatmap
from mimi.analysis.planning import _profile_calls, _shapley_rows
from mimi.analysis.profile import interaction_profile
from mimi.analysis.requests import AttackRequest, ProfileRequest, ShapleyRequest
from mimi.analysis.results import ImageReport, InteractionProfile, PairHeatmap
from mimi.attacks import pgd
from mimi.attacks.landing import DEFAULT_TOLERANCE
from mimi.core.compute import default_batch_size, resolve_precision
from mimi.core.games import on_device, predict
from mimi.core.progress import ProgressFn
from mimi.core.results import Result


def run_attack(model: nn.Module, image: Image, label: int, *, eps: float = DEFAULTS["eps"],
               steps: int = DEFAULTS["steps"], step_size: Optional[float] = None, norm: str = DEFAULTS["norm"],
               restarts: int = 1, stop_utility: Optional[float] = DEFAULTS["stop_utility"],
               tolerance: float = DEFAULT_TOLERANCE, stop_rule: str = "utility", random_start: bool = True,
               value: str = "log-odds", seed: int = 0, device=None) -> Result:
    """Untargeted PGD (:func:`mimi.attacks.pgd`) on one image; returns its AttackResult (x_adv[0] is x').
    ``stop_utility`` U: equal strength, landed in [U, U + ``tolerance``] by ``stop_rule``
    (:mod:`mimi.attacks.landing`; ``success`` says whether it landed)."""
    model, device = on_device(model, device)
    x = _as_image(image).to(device)[None]
    return pgd(model, x, torch.tensor([int(label)], device=device), eps=eps, steps=steps, step_size=step_size,
               norm=norm, restarts=restarts, stop_utility=stop_utility, tolerance=tolerance, stop_rule=stop_rule,
               random_start=random_start, value=value, seed=seed)


def analyze_image(model: nn.Module, image: Image, label: Optional[int], *, profile: ProfileRequest = ProfileRequest(),
                  shapley: Optional[ShapleyRequest] = ShapleyRequest(), attack: Optional[AttackRequest] = None,
                  target: Target = "label", pilot: int = 0, max_se: Optional[float] = None,
                  max_passes: Optional[int] = None, max_seconds: Optional[float] = None, device=None,
                  batch_size: Optional[int] = None, precision: str = "float32", progress: Optional[ProgressFn] = None,
                  model_name: str = "model", source: str = "image",
                  classes: Optional[Sequence[str]] = None) -> ImageReport:
    """What ``mimi analyze`` computes: prediction, optional PGD (``attack``), then, on one game of ``profile``'s
    grid, baseline and value function (class ``target``), the order profile of x and x' (clean, adversarial,
    ΔJ^(m); ``profile``, refined by ``max_se``/``max_passes``, with a Neyman ``pilot``) and the Shapley map
    (``shapley``, on the same game; None skips it). Without a label, the attack uses the model's prediction as the
    true class.

    ``max_seconds``: the whole analysis within that time budget. The Shapley map gets at most a quarter of it
    (fewer permutation pairs, at least 2), the order profile what the attack and the map leave
    (:func:`interaction_profile`'s ``max_seconds``); the singletons v({i}) (the split of the attacking utility into
    single cells and pairs) only when they take at most a tenth of it. Before anything runs, a budget below the
    attack's estimate (3 passes per step), two permutation pairs and the profile's smallest honest round raises
    :class:`~mimi.analysis.budget.BudgetTooSmall` with the time they need."""
    start = time.perf_counter()
    x = _as_image(image)
    if shapley is not None and (shapley.grid, shapley.baseline, shapley.value) != (profile.grid, profile.baseline,
                                                                                  profile.value):
        raise ValueError(f"the Shapley map runs on the profile's game: grid {shapley.grid}, baseline "
                         f"{shapley.baseline} and value {shapley.value} must be the profile's ({profile.grid}, "
                         f"{profile.baseline}, {profile.value})")
    model, device = on_device(model, device)
    if max_seconds is not None:
        profile, shapley = _budget_analysis(model, x, device, precision, check_budget(max_seconds), attack, profile,
                                            shapley)
    prediction, probabilities = predict(model, x[None])
    attack_label = int(prediction[0]) if label is None else int(label)
    if target == "label" and label is None:
        target = "predicted"
    attack_result, x_adv = None, None
    if attack is not None:
        attack_result = attack.run(model, x.to(device), attack_label)
        x_adv = attack_result.x_adv[0].cpu()
    game = image_game(model, x, label, x_adv, grid=profile.grid, baseline=profile.baseline, value=profile.value,
                      target=target, device=device, batch_size=batch_size, precision=precision, progress=progress)
    shapley_map_ = shapley.run(game) if shapley is not None else None
    left = None if max_seconds is None else max_seconds - (time.perf_counter() - start)
    if left is not None and left <= 0:
        raise BudgetTooSmall(f"the attack and the Shapley map took {time.perf_counter() - start:.1f} s of the "
                             f"{max_seconds:g} s budget, leaving no time for the order profile; give more time")
    result = interaction_profile(game, max_se=max_se, max_passes=max_passes, max_seconds=left, pilot=pilot,
                                 **profile.options())
    return ImageReport(
        model=model_name, source=source, label=label, target=result.target,
        classes=None if classes is None else list(classes), prediction=int(prediction[0]),
        probabilities=probabilities[0], image=x.numpy(), profile=result, shapley=shapley_map_, attack=attack_result,
        forward_passes=result.forward_passes + (shapley_map_.forward_passes if shapley_map_ else 0),
        wall_time_s=time.perf_counter() - start,
        params=dict(result.params, attack=None if attack is None else attack.options(),
                    shapley_samples=shapley.samples if shapley is not None else 0, max_seconds=max_seconds))


def _budget_analysis(model: nn.Module, x: torch.Tensor, device, precision: str, budget: float,
                     attack: Optional[AttackRequest], profile: ProfileRequest, shapley: Optional[ShapleyRequest]
                     ) -> tuple[ProfileRequest, Optional[ShapleyRequest]]:
    """The requests fitted to ``budget``: the Shapley map's permutation pairs within a quarter of it (at most its
    ``samples``, at least 2) and the profile's singletons only when they fit a tenth of it, after checking that the
    attack (3 forward passes' time per step and restart, for x and x'), two permutation pairs and the smallest
    honest profile round fit it (:class:`BudgetTooSmall` otherwise)."""
    grid_ = check_grid(profile.grid, *x.shape[-2:])
    n, images = grid_.n, 1 + (attack is not None)
    batch = default_batch_size(model, tuple(x.shape), torch.device(device), precision)
    speed = probe_speed(model, tuple(x.shape), device, batch, resolve_precision(precision, torch.device(device)))
    population = pair_set_of(grid_, profile.pairs)
    smallest = smallest_design(len(population))
    singletons = speed.seconds([n], images) <= 0.1 * budget
    profile_calls = _profile_calls(n, population, resolve_orders(n, None, None)[0], smallest.samples, 0,
                                   pair_count=smallest.pair_count, contexts=smallest.contexts, singletons=singletons)
    steps = attack.steps * attack.restarts if attack is not None else 0
    if shapley is not None:
        per_pair = speed.seconds([2 * (n - 1)], images)
        shapley = dataclasses.replace(shapley, samples=max(2, min(shapley.samples,
                                                                  int(budget * FIRST_ROUND_SHARE / per_pair))))
    shapley_calls = [_shapley_rows(n, shapley.samples)] if shapley is not None else []
    needed = 3 * speed.seconds([1] * steps, 1) + speed.seconds(profile_calls + shapley_calls, images)
    if needed > budget:
        passes = 3 * steps + images * sum(profile_calls + shapley_calls)
        raise too_small("this analysis", passes, needed, budget,
                        "the attack, " * (attack is not None) + f"{shapley.samples} Shapley permutation pairs "
                        * (shapley is not None) + f"and a profile of {smallest.words(len(population))}")
    return dataclasses.replace(profile, singletons=singletons), shapley


@dataclass
class DefaultView:
    """The dashboard's default computation for one model (:data:`DEFAULTS`), with its timings."""

    attack: Result
    profile: InteractionProfile
    heatmap: PairHeatmap
    profile_seconds: float   # attack + order profile: the first chart
    total_seconds: float


def default_view(model: nn.Module, image: Image, label: int, *, device=None, seed: int = 0,
                 progress: Optional[ProgressFn] = None, on_profile=None) -> DefaultView:
    """PGD with the default settings, then the clean + adversarial order profile (``on_profile(profile)``
    is called as soon as it is ready; its pair count fitted to the grid, :func:`default_pair_count`) and the
    default cell's pair heatmap."""
    start = time.perf_counter()
    d = DEFAULTS
    attack = run_attack(model, image, label, eps=d["eps"], steps=d["steps"], norm=d["norm"],
                        stop_utility=d["stop_utility"], value=d["value"], seed=seed, device=device)
    x_adv = attack.x_adv[0].cpu()
    game = image_game(model, image, label, x_adv, grid=d["grid"], baseline=d["baseline"], value=d["value"],
                      target=d["target"], device=device, progress=progress)
    profile = interaction_profile(game, ratios=d["ratios"], pairs=d["pairs"],
                                  pair_count=default_pair_count(game.grid, d["pairs"], d["pair_count"]),
                                  samples=d["samples"], contexts=d["contexts"], pilot=d["pilot"],
                                  coverage=d["coverage"], seed=seed)
    profile_seconds = time.perf_counter() - start
    if on_profile is not None:
        on_profile(profile)
    heatmap = pair_heatmap(game, d["heatmap_cell"], ratios=d["heatmap_ratios"], samples=d["heatmap_samples"],
                           coverage=d["coverage"], seed=seed)
    return DefaultView(attack, profile, heatmap, profile_seconds, time.perf_counter() - start)
