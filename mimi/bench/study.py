"""Bench section ``study``: jobs per second of ``mimi study run`` in-process and on a local Ray with 2 workers.

The same study (a seeded untrained stand-in of the zoo's architecture as two models, gallery images, the
default study settings; ``quick``: a 4x4 grid and tiny effort) runs once in-process, one job after the
other with 1 torch thread, and once on a fresh local Ray instance with 2 CPUs (2 workers, 1 thread a job).
Ray's start-up (``ray.init`` and the folder scan, until the first job is submitted) is timed apart from its
jobs. Overhead per job = (2 x Ray's job time - in-process time) / jobs: the worker-seconds Ray spends per
job beyond the job itself (process start, imports, shipping the model, the result's way back). The two
runs must give bitwise the same result files. On ``device="cuda"`` the jobs run on the GPU (Ray tasks ask
for half a GPU each).
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import torch

from mimi.batch.study import StudyParams, gallery_images, plan_study, run_study
from mimi.models import zoo
from mimi.models.networks import SmallCNN


def _timed_run(folder: Path, plan, **options) -> tuple[float, float]:
    """(seconds before the first job, seconds of the jobs) of one run_study call."""
    marks: list[float] = []
    start = time.perf_counter()
    run_study(folder, plan, progress=lambda done, total, message: marks.append(time.perf_counter()), **options)
    end = time.perf_counter()
    first = marks[0] if marks else end
    return first - start, end - first


def _files(folder: Path) -> dict:
    def strip(value):
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in ("wall_time_s", "device")}
        return [strip(v) for v in value] if isinstance(value, list) else value

    return {p.name: strip(json.loads(p.read_text())) for p in sorted((folder / "jobs").glob("*.json"))}


def run(quick: bool = False, device: str = "cpu") -> dict:
    try:
        import ray  # noqa: F401  (deferred: optional, pip install mimi[ray])
    except ImportError:
        ray = None
    params = (StudyParams(steps=5, grid="4x4", ratios=(0.1, 0.3, 0.5, 0.7, 0.9, 1.0), pair_count=4, shapley_samples=2,
                          d_samples=2, d_pair_count=4) if quick else StudyParams())
    images = [0, 10, 20, 30] if quick else [0, 10, 20, 30, 40, 50]
    on_gpu = torch.device(device).type == "cuda"
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for seed, (name, recipe) in enumerate((("stand-in-standard", "standard"), ("stand-in-at", "pgd-at"))):
            torch.manual_seed(seed)
            zoo.save(SmallCNN(), {"name": name, "architecture": "small-cnn", "arch_kwargs": {},
                                  "training": {"recipe": recipe}, "description": "bench stand-in"}, folder / "zoo")
        plan = plan_study(["stand-in-standard", "stand-in-at"], gallery_images(images), params, seed=0,
                          zoo_dir=folder / "zoo")
        jobs = len(plan.jobs)
        _, local = _timed_run(folder / "here", plan, device=device, threads=1)
        rows = [["study: jobs (images x 2 models)", jobs, ""],
                ["study: forward passes planned per job", plan.manifest.passes_per_job, ""],
                ["study: in-process, 1 thread [jobs/s]", round(jobs / local, 3), ""],
                ["study: in-process, seconds per job [s]", round(local / jobs, 3), ""]]
        notes = [f"device {device}; settings {'quick (4x4 grid, tiny effort)' if quick else 'the default study'}"]
        if ray is None:
            notes.append("Ray is not installed (pip install -e \".[ray]\"): Ray rows skipped")
            return {"rows": rows, "notes": notes, "quick": quick, "device": device}
        startup, remote = _timed_run(folder / "ray", plan, ray="local", num_cpus=2, device=device, threads=1,
                                     gpus_per_job=0.5 if on_gpu else 0.0)
        rows += [["study: Ray, 2 workers [jobs/s]", round(jobs / remote, 3), ""],
                 ["study: Ray speed-up over in-process (2 workers)", round(local / remote, 3), ""],
                 ["study: Ray start-up (local instance, until the first job) [s]", round(startup, 2), ""],
                 ["study: Ray overhead per job (2 x Ray time - in-process time) / jobs [s]",
                  round((2 * remote - local) / jobs, 3), ""],
                 ["study: Ray and in-process give the same result files", _files(folder / "ray") == _files(folder / "here"),
                  "= True"]]
    return {"rows": rows, "notes": notes, "quick": quick, "device": device}
