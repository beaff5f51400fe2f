"""The remedy a refusal or a confirmation names brings the request under its limit, by the planner's own count."""

from __future__ import annotations

import re

import pytest

from mimi.analysis import DEFAULTS, planned_forward_passes
from mimi.ui.compute import Work


def work(computation: str, per_pass: float, **plan) -> Work:
    """A Work of this plan at ``per_pass`` seconds per forward pass (as if measured)."""
    passes = planned_forward_passes(computation, **plan)
    item = Work(passes, "cpu", "Ask for less", "m", "", computation, tuple(sorted(plan.items())))
    item.__dict__["seconds"] = passes * per_pass        # the measured speed, without a model
    return item


REQUESTS = [
    ("heatmap", dict(grid="16x16", image_shape=(224, 224), ratios=(0.2, 0.5, 0.8), samples=8, cell=5, images=2),
     "samples"),
    ("shapley", dict(grid="16x16", image_shape=(224, 224), samples=64, images=2), "samples"),
    ("disentanglement", dict(grid="7x7", image_shape=(28, 28), ratios=(0.1, 0.5, 0.9), pairs="neighbors",
                             pair_count=32, samples=16, images=40), "samples"),
    ("decomposition", dict(grid="4x4", image_shape=(28, 28), images=2), "grid"),
    ("profile", dict(grid="16x16", image_shape=(224, 224), ratios=DEFAULTS["ratios"], pairs="neighbors",
                     pair_count=48, samples=8, contexts=1, images=2), "samples"),
]


@pytest.mark.parametrize("computation, plan, first", REQUESTS, ids=[r[0] for r in REQUESTS])
@pytest.mark.parametrize("share", [0.5, 0.1])
def test_the_named_remedy_fits_the_limit_by_the_planners_count(computation, plan, first, share):
    item = work(computation, 0.03, **plan)
    limit = item.seconds * share
    text = item.remedy(limit)
    match = re.match(r"(.+) (\S+) instead of (\S+) would need ([\d,]+) forward passes, about (.+)$", text)
    assert match, text
    words, value, before, passes = match.group(1), match.group(2), match.group(3), int(match.group(4).replace(",", ""))
    key = next(k for k in ("samples", "pair_count", "images", "grid") if str(plan.get(k)) == before)
    changed = {**plan, key: value if key == "grid" else int(value)}
    assert passes == planned_forward_passes(computation, **changed)         # the planner's count, not a guess
    assert passes * 0.03 <= limit                                            # it brings the request under
    if share == 0.5:
        assert key == first          # the mildest kind of change is tried first


def test_without_a_fitting_change_the_generic_advice_stays():
    item = work("decomposition", 1.0, grid="2x2", image_shape=(28, 28), images=2)
    assert item.remedy(0.001) == "Ask for less"
