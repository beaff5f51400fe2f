"""The gallery studies, run by the job engine (:mod:`mimi.batch.engine`), and their files.

Four kinds, each over gallery images for each model:

- ``population``: the default view's order profile averaged over the images, the dashboard's faint reference
  (:mod:`mimi.batch.population`, written to ``assets/population/<model>.json``);
- ``detection``: ML-LOO vs order-band detectors, ROC, AUC and CIs (:func:`mimi.defenses.detection.detection_study`);
- ``recovery``: recovered fraction R(k) and recoverability (:func:`mimi.defenses.recovery.recovery_study`);
- ``strength``: D^(m) with the per-image interaction strength that :func:`mimi.defenses.strength.order_strength`
  turns into normalized order profiles (:func:`mimi.defenses.strength.gallery_strength`);

the last three written to ``assets/defenses/<kind>/<model>.json``, which the /detection, /recovery and /defenses
pages read (a gallery-wide computation takes minutes per model on a CPU).

:func:`plan_gallery` lists the jobs, one per (model, gallery image); the images are independent replicates, each
seeded from (seed, gallery index), or for ``strength`` from (seed, position in the selection), as
:func:`mimi.analysis.disentanglement` seeds its batch. A job carries its image's pixels, so a Ray worker needs no
data. The job
engine runs them into a study folder, resumably, in-process or on Ray; :func:`collect` combines a complete folder's
job results into one result per model, the same numbers, value for value, as the in-process functions
(``gallery_profile``, ``detection_study``, ``recovery_study``, ``gallery_strength``) give with the same seed and
threads. :func:`load_study` reads a written result back.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Optional, Sequence

import torch
from torch import nn

from mimi.analysis.gallery import check_gallery_indices, gallery_image_seed
from mimi.analysis.requests import DisentanglementRequest, ProfileRequest
from mimi.batch.engine import read_manifest, scan_results, study_status
from mimi.batch.population import (POPULATION_DIR, gallery_profile, load_gallery_profile, population_image,
                                   population_settings, reference_path, summarize)
from mimi.batch.study.plan import weights_hash
from mimi.core.results import Result, load_shipped_result
from mimi.data.datasets import ASSETS_DIR, load_gallery
from mimi.defenses.detection import (bootstrap_weights, combine_detection, detection_image, detection_settings,
                                     detection_study)
from mimi.defenses.recovery import combine_recovery, recovery_image, recovery_settings, recovery_study
from mimi.defenses.requests import LeaveOneOutRequest, RecoveryRequest
from mimi.defenses.strength import combine_strength, gallery_strength, strength_image, strength_settings
from mimi.models import zoo

DEFENSES_DIR = ASSETS_DIR / "defenses"
DEFENSE_KINDS = ("detection", "recovery", "strength")
KINDS = ("population", *DEFENSE_KINDS)
#: The result type of each kind's file, and of each of its jobs.
RESULT_TYPES = {"population": "GalleryProfile", "detection": "DetectionStudy", "recovery": "RecoveryStudy",
                "strength": "Disentanglement"}
JOB_TYPES = {"population": "InteractionProfile", "detection": "DetectionImage", "recovery": "RecoveryImage",
             "strength": "ImageContributions"}
GALLERY_VERSION = 1


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise ValueError(f"unknown gallery study {kind!r}; choose {', '.join(KINDS)}")
    return kind


# --------------------------------------------------------------------------- settings
def gallery_settings(kind: str, **options: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """(what every job of ``kind`` computes with, what combining the jobs adds), as plain JSON values, from the
    keyword arguments of the kind's in-process function (the population's come from the dashboard's defaults)."""
    if check_kind(kind) == "population":
        if options:
            raise ValueError(f"the gallery references take the dashboard's defaults, not {', '.join(options)}")
        return population_settings(), {}
    if kind == "detection":
        combine = {"successful_only": bool(options.pop("successful_only", True)),
                   "resamples": int(options.pop("resamples", 2000))}
        bootstrap_weights(2, combine["resamples"], 0)   # bound check before any work, as detection_study does
        return detection_settings(**options), combine
    if kind == "recovery":
        return recovery_settings(**options), {}
    return strength_settings(**options), {}


@dataclass(frozen=True)
class GalleryRequest:
    """A gallery study of ``kind`` over gallery ``images`` with ``seed`` and ``options`` (the keyword arguments of
    its in-process function): the dashboard's live studies over a few images run it in this process, keyed by it,
    and :meth:`planned_passes` is their cost."""

    kind: str
    images: tuple[int, ...]
    seed: int = 0
    options: dict = field(default_factory=dict)

    def settings(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """What each image computes with, and what combining adds (:func:`gallery_settings`)."""
        return gallery_settings(self.kind, **self.options)

    def planned_passes(self, image_shape: Sequence[int]) -> int:
        """Forward passes of the study's images (the PGD steps not counted, as in its ``forward_passes``; for
        recovery an upper bound: an image whose attacking utility stays below ``min_utility`` has no curve)."""
        settings, _ = self.settings()
        count = len(self.images)
        if self.kind == "strength":
            return DisentanglementRequest(**_fields(DisentanglementRequest, settings), seed=self.seed,
                                          contexts=None).planned_passes(image_shape, count)
        if self.kind == "recovery":
            return count * RecoveryRequest(**settings["game"], samples=settings["samples"],
                                           random_orders=settings["random_orders"]).planned_passes(image_shape)
        profile = settings["profile"]
        request = ProfileRequest(**_fields(ProfileRequest, {**profile, "ratios": tuple(profile["ratios"])}))
        seeded = [dataclasses.replace(request, seed=gallery_image_seed(self.seed, index)) for index in self.images]
        if self.kind == "population":   # a profile's pair draw, hence its passes, depends on the image's seed
            return sum(r.planned_passes(image_shape, 2) for r in seeded)
        loo = LeaveOneOutRequest(**_fields(LeaveOneOutRequest, profile))
        return sum(loo.planned_passes(image_shape, 2) + 2 * r.planned_passes(image_shape, 1) for r in seeded)

    def run(self, model: nn.Module, *, model_name: str, device=None, progress=None) -> Result:
        return run_in_process(self.kind, model, model_name=model_name, images=list(self.images), seed=self.seed,
                              device=device, progress=progress, **self.options)


def _fields(kind: type, settings: dict[str, Any]) -> dict[str, Any]:
    """The entries of ``settings`` that are fields of request class ``kind``."""
    return {k: v for k, v in settings.items() if k in kind.__dataclass_fields__}


# --------------------------------------------------------------------------- jobs
@dataclass(frozen=True, eq=False)
class GalleryJob:
    """One job: model ``model`` on gallery image ``index``, the ``position``-th of the selection, with its
    ``pixels`` (C, H, W) and ``label``."""

    key: str
    model: str
    image: str
    index: int
    position: int
    pixels: torch.Tensor
    label: int

    def record(self) -> dict[str, Any]:
        return {"key": self.key, "model": self.model, "image": self.image, "index": self.index,
                "position": self.position}


@dataclass
class GalleryJobResult(Result):
    """What one job computed (``value``: the kind's per-image result, :data:`JOB_TYPES`), for ``kind``."""

    key: str
    model: str
    image: str
    kind: str
    index: int
    value: Result
    wall_time_s: float

    def problem(self, manifest: "GalleryManifest") -> str:
        """What makes this result inconsistent with its study ("" when nothing)."""
        if self.kind != manifest.kind:
            return f"it is a {self.kind} job, not {manifest.kind}"
        if type(self.value).__name__ != JOB_TYPES[self.kind]:
            return f"it holds a {type(self.value).__name__}, not a {JOB_TYPES[self.kind]}"
        return ""


@dataclass
class GalleryManifest(Result):
    """``study.json`` of a gallery study: its ``kind``; ``params`` (kind, seed, the jobs' ``settings``, what
    combining adds (``combine``), each model's weights hash, the gallery indices; compared when it is run again);
    ``models`` (name -> weights hash); ``jobs`` (key, model, image, index, position); and the command that made
    it."""

    job_result: ClassVar[str] = "GalleryJobResult"
    kind: str
    params: dict
    models: dict
    jobs: list
    command: str = ""
    skipped: list = field(default_factory=list)


@dataclass(frozen=True)
class GalleryRunner:
    """A gallery study's job as the engine runs it (in-process or on a Ray worker)."""

    kind: str
    settings: dict
    seed: int

    def __call__(self, model: nn.Module, job: GalleryJob, *, device="cpu", batch_size: Optional[int] = None
                 ) -> GalleryJobResult:
        start = time.perf_counter()
        if self.kind == "strength":
            value = strength_image(model, job.pixels, job.label, self.seed, self.settings, position=job.position,
                                   device=device)
        else:
            compute = {"population": population_image, "detection": detection_image, "recovery": recovery_image}
            value = compute[self.kind](model, job.pixels, job.label, gallery_image_seed(self.seed, job.index),
                                       self.settings, device=device)
        return GalleryJobResult(key=job.key, model=job.model, image=job.image, kind=self.kind, index=job.index,
                                value=value, wall_time_s=time.perf_counter() - start)


@dataclass
class GalleryPlan:
    """A gallery study's manifest, jobs, loaded models (on the CPU) and runner, ready for the job engine."""

    manifest: GalleryManifest
    jobs: list[GalleryJob]
    models: dict[str, nn.Module]
    runner: GalleryRunner


def _job_key(kind: str, model: str, sha256: str, index: int, position: int, settings: dict, seed: int) -> str:
    """SHA-256 (first 32 hex digits) of the job's inputs (the position seeds only ``strength``'s images)."""
    payload = {"version": GALLERY_VERSION, "kind": kind, "model": model, "weights": sha256, "image": int(index),
               "position": int(position) if kind == "strength" else None, "settings": settings, "seed": int(seed)}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:32]


def plan_gallery(kind: str, models: Sequence[str], images: Optional[Sequence[int]] = None, *, seed: int = 0,
                 zoo_dir: Path = zoo.ZOO_DIR, gallery=None, command: str = "", **options: Any) -> GalleryPlan:
    """The jobs of gallery study ``kind`` for ``models`` over gallery ``images`` (default all); ``options``: the
    keyword arguments of its in-process function (:func:`gallery_settings`)."""
    data = load_gallery() if gallery is None else gallery
    indices = check_gallery_indices(images, len(data))
    settings, combine = gallery_settings(kind, **options)
    names = list(dict.fromkeys(models))
    if not names:
        raise ValueError("a gallery study needs at least one model")
    loaded, hashes = {}, {}
    for name in names:
        loaded[name], card = zoo.load(name, "cpu", zoo_dir=Path(zoo_dir))
        hashes[name] = weights_hash(name, card, Path(zoo_dir))
    jobs = [GalleryJob(_job_key(kind, name, hashes[name], index, position, settings, seed), name, f"gallery:{index}",
                       index, position, data.images[index].clone(), int(data.labels[index]))
            for name in names for position, index in enumerate(indices)]
    params = {"version": GALLERY_VERSION, "kind": kind, "seed": int(seed), "settings": settings, "combine": combine,
              "models": hashes, "images": [int(i) for i in indices]}
    manifest = GalleryManifest(kind=kind, params=params, models=hashes, jobs=[job.record() for job in jobs],
                               command=command)
    return GalleryPlan(manifest, jobs, loaded, GalleryRunner(kind, settings, int(seed)))


def run_in_process(kind: str, model: nn.Module, *, model_name: str, images: Optional[Sequence[int]] = None,
                   seed: int = 0, device=None, progress=None, **options: Any) -> Result:
    """One gallery study of ``kind`` for ``model`` in this process, image after image (``options``: keyword
    arguments of its function; the dashboard's live studies over a few images)."""
    run = {"population": gallery_profile, "detection": detection_study, "recovery": recovery_study,
           "strength": gallery_strength}
    return run[check_kind(kind)](model, model_name=model_name, images=images, seed=seed, device=device,
                                 progress=progress, **options)


# --------------------------------------------------------------------------- results
def collect(folder: str | Path, *, device: str = "cpu") -> dict[str, Result]:
    """One result per model of the complete gallery study in ``folder`` (its jobs combined as the kind's in-process
    function combines them; ``device`` is what the result records). ValueError naming what is missing when jobs
    have failed or not run."""
    manifest = read_manifest(folder)
    if not isinstance(manifest, GalleryManifest):
        raise ValueError(f"{folder} holds a {type(manifest).__name__}, not a gallery study")
    scan = scan_results(folder, manifest)
    status = study_status(folder, scan=scan)
    if not status.complete:
        raise ValueError(f"the {manifest.kind} study in {folder} is not complete ({status.done} of {status.jobs} jobs "
                         f"done, {status.failed} failed); run it again to compute the rest")
    done, params = scan.results(), manifest.params
    results = {}
    for name in manifest.models:
        jobs = [done[job["key"]] for job in manifest.jobs if job["model"] == name]
        results[name] = _combine(manifest.kind, name, jobs, params, device)
    return results


def _combine(kind: str, name: str, jobs: list[GalleryJobResult], params: dict, device: str) -> Result:
    """The result of model ``name`` from its jobs (in the manifest's image order)."""
    values, indices = [job.value for job in jobs], params["images"]
    wall = sum(job.wall_time_s for job in jobs)
    common = dict(model_name=name, seed=params["seed"], settings=params["settings"], wall_time_s=wall)
    if kind == "population":
        return summarize(values, indices, **common)
    if kind == "detection":
        return combine_detection(values, indices, device=device, **common, **params["combine"])
    if kind == "strength":
        return combine_strength(values, indices, device=device, **common)
    return combine_recovery(values, indices, device=device, **common)


def study_file(kind: str, name: str, folder: str | Path | None = None) -> Path:
    """Where the ``kind`` result of model ``name`` is written (default: the shipped assets)."""
    if check_kind(kind) == "population":
        return reference_path(name, POPULATION_DIR if folder is None else folder)
    return Path(DEFENSES_DIR if folder is None else folder) / kind / f"{name}.json"


def load_study(kind: str, name: str, folder: str | Path | None = None) -> Optional[Result]:
    """The precomputed ``kind`` study of model ``name``, or None when there is none. A file that does not hold
    that study of that model raises ValueError naming the file and the command that rewrites it."""
    if check_kind(kind) == "population":
        return load_gallery_profile(name, POPULATION_DIR if folder is None else folder)
    path = study_file(kind, name, folder)
    if not path.exists():
        return None
    fix = f"recompute it with `mimi defenses --models {name} --only {kind}`"
    result = load_shipped_result(path, f"{kind} study", fix)
    model = result.params.get("model") if kind == "strength" else getattr(result, "model", None)
    if type(result).__name__ != RESULT_TYPES[kind] or model != name:
        raise ValueError(f"the {kind} study {path} holds a {type(result).__name__} of model {model!r}, not the "
                         f"{RESULT_TYPES[kind]} of {name!r}; {fix}")
    return result
