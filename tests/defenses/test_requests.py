"""The defenses' request objects: a run equals the direct call, the planned passes equal the passes the run made,
and every field reaches the result (a change of any field changes the cache key and the computation)."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from mimi.defenses.detection import leave_one_out_map
from mimi.defenses.recovery import recovery_curve
from mimi.defenses.requests import LeaveOneOutRequest, RecoveryRequest
from mimi.ui.gate import content_key
from tests.defenses.test_detection import linear_model

SHAPE = (1, 4, 4)


def inputs(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(SHAPE, generator=g)
    return x, (x + 0.3 * torch.randn(SHAPE, generator=g)).clamp(0, 1)


def plain(result) -> dict:
    data = json.loads(result.to_json())
    data.pop("wall_time_s")
    return data


@pytest.mark.parametrize("adversarial", [True, False])
def test_leave_one_out_request_runs_the_map_and_plans_its_passes(adversarial):
    model, (x, x_adv) = linear_model(), inputs()
    request = LeaveOneOutRequest(grid="2x2", baseline="zero", value="logit", target="label")
    adv = x_adv if adversarial else None
    result = request.run(model, x, 1, adv)
    direct = leave_one_out_map(model, x, adv, label=1, grid="2x2", baseline="zero", value="logit", target="label")
    assert plain(result) == plain(direct)
    images = 2 if adversarial else 1
    assert request.planned_passes(SHAPE, images) == result.forward_passes == images * 5


def test_recovery_request_runs_the_curve_and_plans_its_passes():
    model, (x, x_adv) = linear_model(), inputs(1)
    request = RecoveryRequest(grid="2x2", baseline="zero", value="logit", samples=3, random_orders=4, seed=7)
    result = request.run(model, x, 0, x_adv)
    direct = recovery_curve(model, x, 0, x_adv, grid="2x2", baseline="zero", value="logit", samples=3,
                            random_orders=4, seed=7)
    assert plain(result) == plain(direct)
    assert request.planned_passes(SHAPE) == result.forward_passes
    shapley_rows, restorations = request.planned_calls(SHAPE)
    assert (shapley_rows, restorations) == (2 * 3 * 3 + 4, 5 * 5)        # 2 (n-1) samples + 4; (1 + R)(n + 1)


@pytest.mark.parametrize("request_type, changes", [
    (LeaveOneOutRequest, dict(grid="4x4", baseline="zero", value="logit", target="label")),
    (RecoveryRequest, dict(grid="4x4", baseline="zero", value="logit", samples=4, random_orders=3, seed=1)),
])
def test_every_field_changes_the_cache_key(request_type, changes):
    base = request_type()
    assert set(changes) == {f.name for f in dataclasses.fields(base)}
    keys = {content_key(base)} | {content_key(dataclasses.replace(base, **{name: value}))
                                  for name, value in changes.items()}
    assert len(keys) == len(changes) + 1


def test_a_bad_setting_is_refused_when_planned():
    with pytest.raises(ValueError, match="random_orders"):
        RecoveryRequest(grid="2x2", random_orders=1).planned_passes(SHAPE)
    with pytest.raises(ValueError, match="grid"):
        LeaveOneOutRequest(grid="9x9").planned_passes(SHAPE, 2)
