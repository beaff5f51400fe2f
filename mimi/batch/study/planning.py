"""Planning a study: load its models, check every (image, model) pair, and list one job per pair that fits, with
the manifest and the runner that the job engine (:func:`mimi.batch.engine.run_study`) runs."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn

from mimi.batch.study.jobs import StudyRunner
from mimi.batch.study.plan import (NOMINAL_SHAPE, STUDY_VERSION, Job, StudyImage, StudyManifest, StudyParams, job_key,
                                   model_role, study_image_seed, weights_hash)
from mimi.models import zoo


@dataclass
class StudyPlan:
    """A manifest, its jobs and the loaded models (frozen, on the CPU), ready to run by the job engine
    (:func:`mimi.batch.engine.run_study`) with ``runner``, which computes one job (:class:`StudyRunner`)."""

    manifest: StudyManifest
    jobs: list[Job]
    models: dict[str, nn.Module]
    settings: StudyParams
    runner: StudyRunner


def _unfit_reason(model: nn.Module, card: dict[str, Any], image: StudyImage, params: StudyParams) -> str:
    """Why ``model`` cannot take ``image`` ("" when it can): the card's input shape, a forward pass, the
    label's range, and whether the grid fits the image."""
    shape = tuple(image.pixels.shape)
    expected = (card.get("input") or {}).get("shape")
    if expected and tuple(int(s) for s in expected) != shape:
        return f"the model takes {'x'.join(map(str, expected))} images, this one is {'x'.join(map(str, shape))}"
    try:
        with torch.inference_mode():
            logits = model(image.pixels[None])
    except RuntimeError as exc:
        return f"the model cannot take a {'x'.join(map(str, shape))} image ({str(exc).splitlines()[0][:120]})"
    if image.label is not None and not 0 <= image.label < logits.shape[-1]:
        return f"label {image.label} is outside the model's {logits.shape[-1]} classes"
    try:
        params.check(shape)
    except ValueError as exc:
        return str(exc)
    return ""


def plan_study(models: Sequence[str], images: Sequence[StudyImage], params: StudyParams = StudyParams(), *,
               seed: int = 0, images_description: str = "", zoo_dir: Path = zoo.ZOO_DIR,
               command: str = "") -> StudyPlan:
    """Load the models, check the settings, and list the jobs: one per (image, model) that fits, in image
    order; the pairs that do not fit are in ``manifest.skipped`` with the reason."""
    names = list(dict.fromkeys(models))
    if not names:
        raise ValueError("a study needs at least one model")
    if not images:
        raise ValueError("a study needs at least one image")
    sources = [image.source for image in images]
    if len(set(sources)) != len(sources):
        raise ValueError(f"image {next(s for s in sources if sources.count(s) > 1)!r} is listed twice")
    params.check(NOMINAL_SHAPE)  # every setting but the grid's fit to an image's size
    loaded, cards, model_records = {}, {}, {}
    for name in names:
        model, card = zoo.load(name, "cpu", zoo_dir=Path(zoo_dir))
        loaded[name], cards[name] = model, card
        model_records[name] = {"sha256": weights_hash(name, card, Path(zoo_dir)),
                               "recipe": (card.get("training") or {}).get("recipe"), "role": model_role(card),
                               "classes": card.get("classes")}
    image_list_hash = hashlib.sha256(json.dumps([[i.sha256, i.label] for i in images]).encode()).hexdigest()
    settings = params.as_dict()
    study_params = {"version": STUDY_VERSION, "seed": int(seed), "attack": "pgd", **settings,
                    "models": {name: record["sha256"] for name, record in model_records.items()},
                    "images": {"description": images_description or f"{len(images)} images", "count": len(images),
                               "sha256": image_list_hash}}
    jobs, skipped, passes = [], [], None
    for image in images:
        for name in names:
            reason = _unfit_reason(loaded[name], cards[name], image, params)
            if reason:
                skipped.append({"model": name, "image": image.source, "reason": reason})
                continue
            passes = passes if passes is not None else params.check(tuple(image.pixels.shape))
            key = job_key(name, model_records[name]["sha256"], image, settings, seed)
            jobs.append(Job(key, name, image, study_image_seed(seed, image.sha256)))
    if not jobs:
        first = skipped[0]
        raise ValueError(f"no image fits any model of the study: {first['image']} on {first['model']}: "
                         f"{first['reason']}")
    manifest = StudyManifest(params=study_params, models=model_records, images=[i.record() for i in images],
                             jobs=[job.record() for job in jobs], skipped=skipped, passes_per_job=int(passes),
                             command=command)
    return StudyPlan(manifest, jobs, loaded, params, StudyRunner(params))
