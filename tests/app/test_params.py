"""The dashboard's settings (keyed by URL names) become the library's requests in one place, mimi.ui.params."""

from __future__ import annotations

import pytest

from mimi.analysis import DEFAULTS
from mimi.analysis.requests import AttackRequest
from mimi.defenses.recovery import DEFAULT_RANDOM_ORDERS
from mimi.defenses.requests import LeaveOneOutRequest, RecoveryRequest
from mimi.ui import params as P


@pytest.fixture
def settings() -> dict:
    """Every parameter at its default, then a few changed, as a session holds them."""
    values = {key: spec.default for key, spec in P.build_params().items()}
    return {**values, "pcount": 30, "dpcount": 0, "samples": 3, "dsamples": 5, "ctx": 0, "orders": "coarse",
            "hsamples": 4, "ssamples": 6, "seed": 7, "budget": 12.0, "tse": 0.02}


def test_profile_and_disentanglement_share_the_settings_but_their_pairs_and_samples(settings):
    profile, d = P.profile_request(settings), P.disentanglement_request(settings)
    assert (profile.pair_count, profile.samples) == (30, 3)
    assert (d.pair_count, d.samples) == (None, 5)          # dpcount 0: every pair
    for request in (profile, d):
        assert request.contexts is None and request.ratios == P.COARSE_RATIOS and request.seed == 7
        assert request.coverage == DEFAULTS["coverage"] and request.grid == settings["grid"]
    assert P.refinement_limits(settings) == (12.0, 0.02)
    assert P.refinement_limits({**settings, "tse": 0.0}) == (12.0, None)


def test_heatmap_shapley_and_recovery_take_their_own_samples(settings):
    heatmap = P.heatmap_request(settings, cell=5, ratios=[0.5, 1.0])
    assert (heatmap.cell, heatmap.ratios, heatmap.samples, heatmap.seed) == (5, (0.5, 1.0), 4, 7)
    assert P.shapley_request(settings).samples == 6
    assert P.recovery_request(settings) == RecoveryRequest(grid=settings["grid"], baseline=settings["baseline"],
                                                           value=settings["value"], samples=6,
                                                           random_orders=DEFAULT_RANDOM_ORDERS, seed=7)
    assert P.leave_one_out_request(settings) == LeaveOneOutRequest(grid=settings["grid"], baseline=settings["baseline"],
                                                                   value=settings["value"], target="predicted")


def test_each_protocol_takes_its_own_budget(settings):
    strength = P.attack_request({**settings, "target": "3", "ustep": 0.0, "rstart": "on"})
    assert strength == AttackRequest(eps=settings["ueps"], steps=settings["usteps"], step_size=None,
                                     norm=settings["norm"], targeted=None, stop_utility=settings["utility"],
                                     tolerance=settings["tol"], random_start=True, value=settings["value"], seed=7)
    eps = P.attack_request({**settings, "target": "3", "step": 0.01, "stop": "success"}, "eps")
    assert eps == AttackRequest(eps=settings["eps"], steps=settings["steps"], step_size=0.01, norm=settings["norm"],
                                targeted=3, stop_utility=None, early_stop=True, value=settings["value"], seed=7)
