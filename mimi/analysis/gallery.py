"""What every run over the gallery shares: which images (all, or k per class), each image's own seed, the settings a
gallery result records, and the plain JSON values a result records.

The gallery references (:mod:`mimi.batch.population`), the defenses studies (:mod:`mimi.defenses`, written by
:mod:`mimi.batch.gallery`) and their pages all draw image b's PGD start, pairs and contexts from
``gallery_image_seed(seed, b)``, so the images are independent replicates whatever order they run in.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Sequence, TypeVar

import numpy as np

from mimi.analysis.defaults import DEFAULTS
from mimi.core.progress import ProgressFn, report
from mimi.data.datasets import load_gallery

#: The interaction settings of DEFAULTS that the profile uses, and the attack settings of DEFAULTS its PGD uses
#: (the gallery studies' attack, :func:`attack_settings`, adds ``step_size`` and ``restarts``).
PROFILE_KEYS = ("grid", "ratios", "pairs", "pair_count", "samples", "contexts", "pilot", "coverage", "baseline",
                "value", "target")
PROFILE_ATTACK_KEYS = ("eps", "steps", "norm", "stop_utility")


def gallery_image_seed(seed: int, index: int) -> int:
    """The seed of gallery image ``index`` (its PGD start, pairs and contexts), from (seed, index): the gallery
    references and studies' seed (a full 32-bit state). Not :func:`mimi.batch.study.plan.study_image_seed`, which seeds
    a study's jobs from the image's hash."""
    return int(np.random.SeedSequence([int(seed), int(index)]).generate_state(1)[0])


def balanced_indices(count: int, total: int = 100, classes: int = 10) -> list[int]:
    """``count`` gallery indices taken one class at a time (0, 10, 20, …, 90, 1, 11, …), as the dashboard's
    disentanglement page does: ``count`` = 10 k gives the first k images of every class."""
    per_class = total // classes
    order = [c * per_class + k for k in range(per_class) for c in range(classes)]
    if not 1 <= count <= len(order):
        raise ValueError(f"the gallery has {len(order)} images; asked for {count}")
    return order[:count]


def describe_selection(indices: Sequence[int], total: int = 100, classes: int = 10) -> str:
    """The images in words: all of them, the first k of every class, or the list."""
    chosen = [int(i) for i in indices]
    if sorted(chosen) == list(range(total)):
        return f"all {total} gallery images"
    per_class = total // classes
    for k in range(1, per_class):
        if sorted(chosen) == sorted(balanced_indices(k * classes, total, classes)):
            return (f"the first {k} gallery images of each of the {classes} classes ({len(chosen)} of {total}, "
                    f"indices c*{per_class} + 0..{k - 1})")
    return f"{len(chosen)} of the {total} gallery images: indices {', '.join(map(str, sorted(chosen)))}"


def check_gallery_indices(images: Optional[Sequence[int]], total: int, minimum: int = 2) -> list[int]:
    """Gallery indices (default all ``total``), each once, in range, at least ``minimum`` of them."""
    indices = list(range(total)) if images is None else [int(i) for i in images]
    bad = [i for i in indices if not 0 <= i < total]
    if bad:
        raise ValueError(f"gallery image {bad[0]} does not exist: indices must be in 0..{total - 1}")
    if len(set(indices)) != len(indices):
        raise ValueError("each gallery image can be used once; the indices repeat")
    if len(indices) < minimum:
        raise ValueError(f"at least {minimum} gallery images are needed, got {len(indices)}")
    return indices


T = TypeVar("T")


def each_gallery_image(images: Optional[Sequence[int]], compute: Callable[[int, int, Any, int], T], *, gallery=None,
                       progress: Optional[ProgressFn] = None) -> tuple[list[int], list[T]]:
    """(indices, results): ``compute(position b, gallery index, x, label)`` for each chosen gallery image (default
    all; :func:`check_gallery_indices`) of ``gallery`` (default the shipped one), in order, telling ``progress``
    (images done, images, message) after each: the loop of every in-process gallery study."""
    data = load_gallery() if gallery is None else gallery
    indices = check_gallery_indices(images, len(data))
    results = []
    report(progress, 0, len(indices), "gallery images")
    for b, index in enumerate(indices):
        results.append(compute(b, index, data.images[index], int(data.labels[index])))
        report(progress, b + 1, len(indices), f"image {index}")
    return indices, results


def attack_settings(attack: Optional[dict] = None) -> dict[str, Any]:
    """PGD keyword arguments of :func:`mimi.analysis.run_attack`: the dashboard's default attack
    (:data:`mimi.analysis.DEFAULTS`) updated with ``attack``."""
    return {"step_size": None, "restarts": 1, **{k: DEFAULTS[k] for k in PROFILE_ATTACK_KEYS}, **(attack or {})}


def plain(value: Any) -> Any:
    """Tuples as lists, numpy scalars as Python numbers: what comes back from JSON equals what was written."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value
