"""Request objects (mimi.analysis.requests): a request runs exactly the computation it names, its planned passes are
the passes a run makes, and every field is in the dashboard's cache key."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from mimi import analysis as A
from mimi.analysis.requests import (AttackRequest, DecompositionRequest, DisentanglementRequest, HeatmapRequest,
                                    ProfileRequest, ShapleyRequest)
from mimi.attacks import pgd
from mimi.ui.gate import content_key
from tests.analysis.test_analysis import images, model  # noqa: F401  (fixtures)

GRID = dict(grid="3x3", baseline="mean", value="log-odds")
REQUESTS = [
    ProfileRequest(ratios=(0.2, 0.5, 0.8), pair_count=6, samples=2, contexts=1, seed=4, **GRID),
    HeatmapRequest(cell=4, ratios=(0.3, 0.7), samples=2, seed=5, **GRID),
    ShapleyRequest(samples=3, seed=6, **GRID),
    DecompositionRequest(**GRID),
]


def _same(a, b) -> None:
    """Two results with the same fields, number for number (wall times aside)."""
    first, second = a.to_dict(), b.to_dict()
    for data in (first, second):
        data.pop("wall_time_s")
    assert first == second


@pytest.mark.parametrize("request_", REQUESTS, ids=lambda r: type(r).__name__)
def test_a_request_runs_its_computation_and_plans_its_passes(model, images, request_):  # noqa: F811
    x, x_adv = images
    result = request_.run(request_.game(model, x, 1, x_adv))
    game = A.image_game(model, x, 1, x_adv, **GRID)
    direct = {ProfileRequest: lambda: A.interaction_profile(game, **request_.options()),
              HeatmapRequest: lambda: A.pair_heatmap(game, request_.cell, ratios=request_.ratios,
                                                     samples=request_.samples, coverage=request_.coverage,
                                                     seed=request_.seed),
              ShapleyRequest: lambda: A.shapley_map(game, samples=request_.samples, seed=request_.seed),
              DecompositionRequest: lambda: A.decomposition(game)}[type(request_)]()
    _same(result, direct)
    assert request_.planned_passes(x.shape, images=2) == result.forward_passes


def test_a_profile_replicate_is_planned_with_its_own_seed(model, images):  # noqa: F811
    x, x_adv = images
    request = dataclasses.replace(REQUESTS[0], replicate=3, singletons=False)
    result = request.run(request.game(model, x, 1, x_adv))
    assert request.planned_passes(x.shape, images=2) == result.forward_passes
    assert result.params["replicate"] == 3


def test_disentanglement_request_runs_over_images(model, images):  # noqa: F811
    x, x_adv = images
    request = DisentanglementRequest(ratios=(0.3, 0.6), pair_count=4, samples=2, contexts=1, seed=2, **GRID)
    batch, labels = torch.stack([x, x_adv]), [1, 2]
    result = request.run(model, batch, labels)
    direct = A.disentanglement(model, batch, labels, **GRID, **request.options())
    np.testing.assert_array_equal(result.d, direct.d)
    assert request.planned_passes(x.shape, images=2) == result.forward_passes


def test_attack_request_is_pgd_with_its_fields(model, images):  # noqa: F811
    x, _ = images
    request = AttackRequest(eps=0.2, steps=5, stop_utility=None, seed=3)
    ours = request.run(model, x, 1, top_k=3)
    theirs = pgd(model, x[None], [1], top_k=3, eps=0.2, steps=5, seed=3)
    torch.testing.assert_close(ours.x_adv, theirs.x_adv, rtol=0, atol=0)


def _changed(value):
    """Another value of a field's type."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 1
    if isinstance(value, str):
        return value + "'"
    if isinstance(value, tuple):
        return value + (0.9,)
    return 1     # None


@pytest.mark.parametrize("request_", REQUESTS + [DisentanglementRequest(), AttackRequest()],
                         ids=lambda r: type(r).__name__)
def test_every_field_is_in_the_cache_key(request_):
    """The dashboard caches a result under the request itself: changing any one field changes the key, so no
    setting can be left out of it."""
    key = content_key("label", request_)
    for field in dataclasses.fields(request_):
        other = dataclasses.replace(request_, **{field.name: _changed(getattr(request_, field.name))})
        assert content_key("label", other) != key, field.name
    assert content_key("label", dataclasses.replace(request_)) == key
