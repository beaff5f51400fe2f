"""One job of a study: PGD on one image against one model, the clean and adversarial order profile with
ΔJ^(m), the Shapley map, and the image's D^(m) contributions; its result file, written atomically.

The same :func:`run_job` runs in-process and on a Ray worker (:class:`StudyRunner`, run by the job engine
:mod:`mimi.batch.engine`). It sets the torch threads of the job (``threads``), so the same threads give bitwise the
same numbers whichever process runs the job, and any exception but an interrupt becomes a
:class:`mimi.batch.engine.JobFailure` with its error, so one failing job never stops the others.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Optional, Union

import numpy as np
import torch
from torch import nn

from mimi import analysis
from mimi.batch.engine import JobFailure, run_guarded
from mimi.batch.study.plan import Job, StudyManifest, StudyParams
from mimi.core.games import ImageGame, on_device, resolve_target
from mimi.core.results import Result
from mimi.interactions import sample_disentanglement


@dataclass
class ImageDisentanglement(Result):
    """One image's contributions to D^(m) = Σ_images Σ_pairs |I^(m)| / Σ_images Σ_pairs E_S|Δv| over
    ``pair_count`` pairs drawn from the pair set: per order, ``numerator`` = mean over the pairs of the
    bias-corrected sqrt(max(Î² - SE², 0)), ``numerator_plugin`` of |Î|, ``denominator`` of Ê|Δv|
    (:func:`mimi.interactions.sample_disentanglement`; orders m = 0 and n-2, D = 1 by construction, left
    out). A report pools images as Σ numerator / Σ denominator."""

    orders: np.ndarray
    ratios: np.ndarray
    numerator: np.ndarray
    numerator_plugin: np.ndarray
    denominator: np.ndarray
    target: int
    pair_count: int
    units: int
    mask_rows: int


@dataclass
class TwinValue(Result):
    """The job's order profile and D^(m) contributions for a second value function, computed from the same
    forward passes as the study's (``mimi.core.games.TwinGame``)."""

    value: str
    profile: Result
    disentanglement: ImageDisentanglement


@dataclass
class StudyJobResult(Result):
    """What one job computed. ``attack``: PGD's outcome in numbers (:func:`attack_numbers`: landed, fooled,
    utility v(N|x) - v(N|x'), predictions, steps, norms, settings); ``profile``: the clean + adversarial order
    profile with ΔJ^(m) (:class:`mimi.analysis.InteractionProfile`: its estimands and SEs); ``shapley``: the
    Shapley maps (None with ``shapley_samples`` 0); ``disentanglement``: the image's D^(m) contributions;
    ``twin``: the profile and D^(m) for the study's second value function. An equal-strength attack that did
    not land leaves ``profile``, ``shapley`` and ``disentanglement`` None: the image is out of the claims.
    ``seed`` drew every random choice; ``device``/``threads`` say where it ran (bitwise reproducible on the same
    ones)."""

    key: str
    model: str
    image: str
    image_sha256: str
    gallery_index: Optional[int]
    label: Optional[int]
    seed: int
    attack: dict
    profile: Optional[Result]
    shapley: Optional[Result]
    disentanglement: Optional[ImageDisentanglement]
    forward_passes: int
    wall_time_s: float
    device: str
    threads: int
    twin: Optional[TwinValue] = None

    @property
    def landed(self) -> bool:
        """Whether the job's attack landed (always, without a stop at utility): its image counts in the claims."""
        return self.profile is not None

    def problem(self, manifest: StudyManifest) -> str:
        """What makes this result inconsistent with its study ("" when nothing): the profile's orders must be the
        study's, with one value per order in every estimate and D^(m) contribution."""
        if not self.landed:
            return ""
        profile, d = self.profile, self.disentanglement
        size = len(np.atleast_1d(profile.orders))
        if not np.array_equal(np.asarray(profile.orders), manifest.orders()):
            return "its orders differ from the study's"
        for name, estimate in profile.estimates().items():
            if estimate is None or np.shape(estimate.mean) != (size,):
                return f"its profile's {name} does not have one value per order"
        if not (np.shape(d.numerator) == np.shape(d.denominator) == np.shape(d.orders)):
            return "its D^(m) contributions do not have one value per order"
        return ""


JobOutcome = Union[StudyJobResult, JobFailure]


def image_disentanglement(model: nn.Module, image: torch.Tensor, target: int, settings: StudyParams, seed: int, *,
                          device=None, batch_size: Optional[int] = None
                          ) -> tuple[ImageDisentanglement, Optional[ImageDisentanglement]]:
    """D^(m) contributions of one image (target class ``target``) over ``settings.d_pair_count`` pairs drawn
    from the pair set with ``seed``, ``settings.d_samples`` units of whole designs per order: for the study's
    value function, and for its ``twin_value`` (None without one) from the same forward passes."""
    grid = analysis.check_grid(settings.grid, *image.shape[-2:])
    orders, ratios, _ = analysis.disentanglement_orders(grid.n, None, settings.ratios)
    pairs = analysis.resolve_pairs(grid, settings.pairs, settings.d_pair_count, seed)
    game = ImageGame(model, image, target, grid=grid, baseline=settings.baseline, value=settings.value,
                     device=device, batch_size=batch_size, twins=settings.twins)

    def contributions(on: ImageGame) -> ImageDisentanglement:
        est = sample_disentanglement(on, grid.n, pairs, orders, settings.d_samples, seed, coverage=settings.coverage)
        return ImageDisentanglement(orders=orders, ratios=ratios, numerator=est.numerator_debiased[:, 0],
                                    numerator_plugin=est.numerator[:, 0], denominator=est.denominator[:, 0],
                                    target=int(target), pair_count=len(pairs), units=est.units,
                                    mask_rows=game.mask_rows)

    primary = contributions(game)
    return primary, (contributions(game.twin(settings.twin_value)) if settings.twin_value else None)


def attack_numbers(attack) -> dict:
    """The AttackResult of one image in plain numbers (its images are not kept): ``landed`` (equal strength:
    the stop rule's drop in [U, U + tol]; True without a stop), ``fooled`` (the prediction changed), the
    utility v(N|x) - v(N|x'), the stop rule's drop, predictions, steps, norms and settings."""
    stopping = attack.params.get("stop_utility") is not None
    return {"landed": bool(attack.success[0]) if stopping else True, "fooled": bool(attack.fooled[0]),
            "success": bool(attack.success[0]), "utility": float(attack.utility[0]),
            "stop_drop": float(attack.stop_drop[0]) if stopping else None,
            "clean_prediction": int(attack.clean_pred[0]), "adv_prediction": int(attack.adv_pred[0]),
            "steps_used": int(attack.steps_used[0]), "linf_norm": float(attack.linf_norm[0]),
            "l2_norm": float(attack.l2_norm[0]), "params": attack.params}


def run_job(model: nn.Module, job: Job, settings: StudyParams, *, device="cpu", threads: int = 1,
            batch_size: Optional[int] = None) -> JobOutcome:
    """PGD, then (when the attack landed, or without a stop) the order profile and the Shapley map of x and x'
    on shared masks, seeded with the job's seed, and the D^(m) contributions of x; with ``twin_value`` the
    profile and D^(m) again for that value function, from the same forward passes. With ``threads`` torch
    threads; an exception becomes a JobFailure."""
    return run_guarded(StudyRunner(settings), model, job, device=device, threads=threads, batch_size=batch_size)


def compute_job(model: nn.Module, job: Job, settings: StudyParams, *, device="cpu",
                batch_size: Optional[int] = None) -> StudyJobResult:
    """What :func:`run_job` computes, raising what goes wrong."""
    start = time.perf_counter()
    net, where = on_device(model, device)
    x, label = job.image.pixels, job.image.label
    target = "label" if label is not None else "predicted"   # without a label, the model's class stands in
    attack = analysis.run_attack(net, x, resolve_target(net, x, label, target), value=settings.value,
                                 seed=job.seed, device=where, **settings.attack_kwargs())
    numbers = attack_numbers(attack)
    outcome = dict(key=job.key, model=job.model, image=job.image.source, image_sha256=job.image.sha256,
                   gallery_index=job.image.gallery_index, label=label, seed=job.seed, attack=numbers,
                   device=str(where), threads=torch.get_num_threads())
    if not numbers["landed"]:
        return StudyJobResult(**outcome, profile=None, shapley=None, disentanglement=None,
                              forward_passes=0, wall_time_s=time.perf_counter() - start)
    game = analysis.image_game(net, x, label, attack.x_adv[0].cpu(), grid=settings.grid, baseline=settings.baseline,
                               value=settings.value, target=target, device=where, batch_size=batch_size,
                               twins=settings.twins)
    request = settings.profile_request(job.seed)
    profile = request.run(game)
    shapley = settings.shapley_request(job.seed).run(game) if settings.shapley_samples else None
    contributions, twin_contributions = image_disentanglement(net, x, profile.target, settings, job.seed,
                                                              device=where, batch_size=batch_size)
    twin = None
    if settings.twin_value:
        twin = TwinValue(value=settings.twin_value, profile=request.run(game.twin(settings.twin_value)),
                         disentanglement=twin_contributions)
    return StudyJobResult(**outcome, profile=profile, shapley=shapley, disentanglement=contributions, twin=twin,
                          forward_passes=game.forward_passes + contributions.mask_rows,
                          wall_time_s=time.perf_counter() - start)


@dataclass(frozen=True)
class StudyRunner:
    """The study's job as the engine runs it (in-process or on a Ray worker): :func:`compute_job` with ``settings``."""

    settings: StudyParams

    def __call__(self, model: nn.Module, job: Job, *, device="cpu", batch_size: Optional[int] = None
                 ) -> StudyJobResult:
        return compute_job(model, job, self.settings, device=device, batch_size=batch_size)
