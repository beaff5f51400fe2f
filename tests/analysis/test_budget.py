"""Time budgets (mimi.analysis.budget): the design fitted to the budget, rounds pooled order by order, the budget
kept, honest SEs, and clear errors before any forward pass."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from mimi import analysis as A
from mimi.analysis import profile as profile_module
from mimi.analysis import result_fields
from mimi.analysis.budget import BudgetTooSmall, Design, Speed, check_budget, fit_design, next_orders, smallest_design
from mimi.analysis.requests import AttackRequest, ProfileRequest, ShapleyRequest
from mimi.core.compute import freeze
from mimi.core.games import ImageGame
from mimi.core.results import Result
from mimi.interactions import exact_order_interactions
from tests.analysis.test_analysis import images, model  # noqa: F401  (fixtures: a tiny net and an image pair)

SLACK = 1.5   # the bound: a budgeted computation ends within 1.5 times its budget


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf"), "abc", None, True, "0"])
def test_a_budget_must_be_a_positive_number_of_seconds(bad):
    with pytest.raises(ValueError, match="number of seconds > 0"):
        check_budget(bad)
    assert check_budget("2.5") == 2.5


def test_the_smallest_honest_design_draws_two_pairs_of_one_context():
    assert smallest_design(156) == Design(2, 1, 1)
    assert smallest_design(2) == Design(None, 2, 1)      # too few pairs to draw: every pair, two units


def test_the_design_shrinks_contexts_then_units_then_pairs():
    cost = (lambda d: (d.pair_count or 100) * d.samples * (d.contexts or 20))   # seconds of a round
    asked = Design(48, 2, 4)
    assert fit_design(asked, cost, 1e9, 100) == asked                 # fits: as asked
    assert fit_design(asked, cost, 48 * 2, 100) == Design(48, 2, 1)   # contexts first
    assert fit_design(asked, cost, 48, 100) == Design(48, 1, 1)       # then units (pairs are drawn)
    assert fit_design(asked, cost, 17.5, 100) == Design(17, 1, 1)     # then the most pairs that fit
    assert fit_design(asked, cost, 0.1, 100) == Design(2, 1, 1)       # never below the smallest
    assert fit_design(Design(None, 2, None), cost, 60, 100) == Design(60, 1, 1)   # every pair -> pairs drawn


def test_later_rounds_refine_the_orders_with_the_largest_relative_se():
    means = {"a": np.array([1.0, 1.0, 1.0, 1.0]), "b": np.array([0.1, 0.1, 0.1, 0.1])}
    ses = {"a": np.array([0.01, 0.5, 0.02, 0.03]), "b": np.array([0.001, 0.001, 0.05, 0.001])}
    # relative: a/1 = [.01 .5 .02 .03], b/.1 = [.01 .01 .5 .01] -> the half with the largest: orders 1 and 2;
    # the widest bar (0.5 at order 1) is among them
    assert next_orders(means, ses, None).tolist() == [1, 2]
    assert next_orders(means, ses, 0.04).tolist() == [1, 2]           # only orders above the target are open
    assert next_orders(means, ses, 0.45).tolist() == [1]
    assert next_orders(means, ses, 1.0).tolist() == []                # every order at the target
    # a wide bar on a large effect is resolved, yet its error bar is the chart's widest: it is refined too
    wide = {"a": np.array([10.0, 10.0, 0.1, 0.1]), "b": np.array([1.0, 1.0, 1.0, 1.0])}
    spread = {"a": np.array([2.0, 0.1, 0.09, 0.09]), "b": np.array([0.01, 0.01, 0.01, 0.01])}
    # relative (small bars counted at 1.0): a = [.2 .01 .09 .09]: the half is orders 0 and 2 (stable order)
    assert next_orders(wide, spread, None).tolist() == [0, 2]
    spread["a"][0] = 0.5                     # now order 0 is relatively resolved but still the widest bar
    assert 0 in next_orders(wide, spread, None).tolist()


def test_speed_sums_the_engines_batches():
    speed = Speed(latency=0.01, per_image=0.001, batch=8)
    # 2 images per row -> 4 rows a batch: a call of 10 rows is 2 full batches and one of 2 rows
    assert speed.seconds([10], 2) == pytest.approx(2 * (0.01 + 8 * 0.001) + (0.01 + 4 * 0.001))
    assert speed.rate == pytest.approx(8 / 0.018)


def test_rounds_over_some_orders_pool_order_by_order(model, images):
    x, x_adv = images
    game_options = dict(grid="3x3", batch_size=256)
    common = dict(samples=2, pair_count=4, seed=5)
    first = A.interaction_profile(A.image_game(model, x, 1, x_adv, **game_options), **common)
    later = A.interaction_profile(A.image_game(model, x, 1, x_adv, **game_options), orders=first.orders[[1, 3]],
                                  replicate=1, singletons=False, **common)
    pooled = A.combine_profiles([first, later])
    assert pooled.order_replicates.tolist() == [1, 2, 1, 2, 1, 1, 1, 1]
    for side in A.Contrast.SIDES:
        a, b, p = (getattr(r.interaction, side) for r in (first, later, pooled))
        np.testing.assert_allclose(p.mean[[0, 2]], a.mean[[0, 2]])
        np.testing.assert_allclose(p.mean[[1, 3]], (a.mean[[1, 3]] + b.mean) / 2)
        np.testing.assert_allclose(p.se[[1, 3]], np.sqrt(a.se[[1, 3]] ** 2 + b.se ** 2) / 2)
    # pooling a pooled profile with one more round weights each replicate once
    third = A.interaction_profile(A.image_game(model, x, 1, x_adv, **game_options), orders=first.orders[[1]],
                                  replicate=2, singletons=False, **common)
    again = A.combine_profiles([pooled, third])
    np.testing.assert_allclose(again.interaction.clean.mean[1],
                               (first.interaction.clean.mean[1] + later.interaction.clean.mean[0]
                                + third.interaction.clean.mean[0]) / 3)
    assert later.attack_single is None and later.clean_image.phi0_sum is None    # no singletons evaluated
    assert first.forward_passes - 2 * 9 > 0
    with pytest.raises(ValueError, match="orders of the first"):
        A.combine_profiles([later, first])


@pytest.mark.parametrize("budget", [1.5, 4.0])
def test_a_budgeted_profile_keeps_its_budget_with_finite_ses(model, images, budget):
    x, x_adv = images
    start = time.perf_counter()
    p = A.interaction_profile(A.image_game(model, x, 1, x_adv, grid="4x4", batch_size=256), pair_count=24, samples=2,
                              contexts=1, max_seconds=budget, seed=2)
    wall = time.perf_counter() - start
    assert wall <= SLACK * budget
    for name, estimate in p.estimates().items():
        assert np.isfinite(estimate.se).all() and (estimate.se > 0).all(), name
    record = p.precision
    assert record["max_seconds"] == budget and record["rounds"] >= 1 and record["stopped"] == "budget"
    assert p.wall_time_s == pytest.approx(record["wall_time_s"]) and p.wall_time_s <= wall
    assert p.forward_passes > 0 and p.params["max_seconds"] == budget
    assert Result.from_json(p.to_json()).precision["rounds"] == record["rounds"]


def test_a_target_se_ends_the_rounds_early(model, images):
    x, x_adv = images
    game = A.image_game(model, x, 1, x_adv, grid="3x3", batch_size=256)
    loose = A.interaction_profile(game, pair_count=8, samples=2, seed=1)
    target = 0.7 * float(max(e.se.max() for e in loose.estimates().values()))
    p = A.interaction_profile(A.image_game(model, x, 1, x_adv, grid="3x3", batch_size=256), pair_count=8, samples=2,
                              seed=1, max_seconds=30, max_se=target)
    assert p.precision["stopped"] == "target" and p.precision["reached"]
    assert max(e.se.max() for e in p.estimates().values()) <= target
    assert p.wall_time_s < 30


def test_a_budget_too_small_says_what_the_smallest_answer_needs_and_computes_nothing(model, images):
    x, x_adv = images
    game = ImageGame(model, torch.stack([x, x_adv]), [1, 1], grid="4x4", batch_size=256)
    with pytest.raises(BudgetTooSmall, match=r"smallest honest answer \(2 pairs drawn × 1 unit of 1 context per "
                                             r"order\) needs [\d,]+ forward passes, about .* give at least \d+ s"):
        A.interaction_profile(game, max_seconds=1e-4)
    assert game.forward_passes == 0
    for bad in (0, -3, "soon"):
        with pytest.raises(ValueError, match="number of seconds > 0"):
            A.interaction_profile(game, max_seconds=bad)
    assert game.forward_passes == 0


class WorkClock:
    """A clock that advances 10 µs per forward pass of ``game``: a budget in work done, whatever else the machine
    runs, so that the rounds each seed gets are the same on every machine."""

    def __init__(self, game: ImageGame) -> None:
        self.game = game

    def perf_counter(self) -> float:
        return self.game.forward_passes * 1e-5


def test_budgeted_ses_cover_the_spread_over_seeds(model, images, monkeypatch):  # noqa: F811
    """A sceptic's check: with the exact interactions of a 3x3 game known, the root mean square error of budgeted
    profiles over 40 seeds matches the root mean square of their reported SEs, order by order (pairs drawn and the
    rounds' order choices included). A few pairs per round give each SE few degrees of freedom, so the mean of
    z² is heavy-tailed (about 3 for one round of 4 pairs); the variance it estimates is what must match. The budget
    is counted in forward passes (:class:`WorkClock`, a matching speed): on a loaded machine fewer, noisier rounds
    would otherwise make the check a different one."""
    x, x_adv = images
    game = ImageGame(model, torch.stack([x, x_adv]), [1, 1], grid="3x3", batch_size=256)
    exact = exact_order_interactions(game, 9)                       # (n-1, n, n, 2)
    first = A.interaction_profile(game, pair_count=4, samples=1, contexts=1, seed=0)
    pairs = A.interaction_profile(game, samples=2, seed=0).pairs          # the whole neighbour set
    truth = exact[:, pairs[:, 0], pairs[:, 1], 0].mean(axis=1)[first.orders]
    clock = WorkClock(game)
    for module in (profile_module, result_fields):
        monkeypatch.setattr(module, "time", clock)
    monkeypatch.setattr(profile_module, "probe_speed", lambda *args, **kwargs: Speed(0.0, 1e-5, 256))
    estimates, ses, rounds = [], [], []
    for seed in range(40):
        p = A.interaction_profile(game, pair_count=4, samples=1, contexts=1, seed=seed, max_seconds=0.03)
        estimates.append(p.interaction.clean.mean)
        ses.append(p.interaction.clean.se)
        rounds.append(p.precision["rounds"])
    assert 10 <= min(rounds) and max(rounds) <= 30, rounds          # as on a quiet machine at 0.6 s
    ratio = np.sqrt(np.mean((np.array(estimates) - truth) ** 2, axis=0) / np.mean(np.square(ses), axis=0))
    assert 0.8 < float(np.mean(ratio)) < 1.25 and (ratio < 1.6).all(), ratio


def test_the_analysis_keeps_its_budget_and_fits_the_shapley_map(model, images):
    x, _ = images
    report = A.analyze_image(model, x, 1, attack=AttackRequest(eps=0.1, steps=5),
                             profile=ProfileRequest(grid="3x3", pair_count=8, samples=2),
                             shapley=ShapleyRequest(grid="3x3", samples=64), batch_size=256, max_seconds=3)
    assert report.wall_time_s <= SLACK * 3
    assert 2 <= report.params["shapley_samples"] <= 64 and report.params["max_seconds"] == 3
    assert report.profile.precision["rounds"] >= 1
    with pytest.raises(BudgetTooSmall, match="too small for this analysis"):
        A.analyze_image(model, x, 1, attack=AttackRequest(eps=0.1, steps=5), profile=ProfileRequest(grid="3x3"),
                        shapley=ShapleyRequest(grid="3x3"), max_seconds=1e-4)


# --------------------------------------------------------------------------- 224 px
@pytest.fixture(scope="module")
def resnet224():
    from mimi.data.input_spaces import input_space
    from mimi.models.networks import Normalize
    from tests.models.test_checkpoints import random_network

    net = random_network("resnet18", input_space("imagenet"))
    return freeze(torch.nn.Sequential(Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)), net))


def test_a_224_px_resnet_keeps_its_budget(resnet224):
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(3, 224, 224, generator=gen)
    x_adv = (x + 4 / 255 * torch.sign(torch.randn(3, 224, 224, generator=gen))).clamp(0, 1)
    start = time.perf_counter()
    p = A.interaction_profile(A.image_game(resnet224, x, 0, x_adv, grid="16x16"), pair_count=48, samples=2, contexts=1,
                              max_seconds=40, singletons=False, seed=0)    # the dashboard's request
    wall = time.perf_counter() - start
    assert wall <= SLACK * 40, p.precision["message"]
    assert p.precision["design"]["pair_count"] < 48          # one round as asked would take minutes
    assert all(np.isfinite(e.se).all() for e in p.estimates().values())


# --------------------------------------------------------------------------- CLI
def analyze(args, tmp_path, capsys) -> tuple[int, str, dict | None]:
    from mimi.cli import main

    out = tmp_path / "report.json"
    code = main(["analyze", *args, "--quiet", "--json", str(out)])
    err = capsys.readouterr().err
    return code, err, Result.from_json(out.read_text()) if out.exists() else None


def test_mimi_analyze_keeps_its_time_budget_on_the_zoo(tmp_path, capsys):
    code, _, report = analyze(["--model", "fmnist-standard", "--image", "gallery:3", "--attack", "pgd",
                               "--time-budget", "6"], tmp_path, capsys)
    assert code == 0 and report.wall_time_s <= SLACK * 6
    assert report.profile.precision["max_seconds"] <= 6 and report.params["max_seconds"] == 6
    assert all(np.isfinite(e.se).all() for e in report.profile.estimates().values())


def test_mimi_analyze_keeps_its_time_budget_on_a_registered_224_px_resnet(tmp_path, capsys, monkeypatch):
    from mimi.data.input_spaces import input_space
    from mimi.models import registry
    from tests.models.test_checkpoints import random_network

    monkeypatch.setenv("MIMI_HOME", str(tmp_path))
    weights = tmp_path / "r18.pt"
    torch.save(random_network("resnet18", input_space("imagenet")).state_dict(), weights)
    registry.add("r18", weights, "resnet18", "imagenet", note="random weights, for the tests")
    code, err, report = analyze(["--model", "r18", "--image", "gallery:0", "--attack", "pgd", "--steps", "5",
                                 "--shapley-samples", "0", "--time-budget", "45"], tmp_path, capsys)
    assert code == 0, err
    assert report.wall_time_s <= SLACK * 45 and report.profile.grid == "16x16"
    assert all(np.isfinite(e.se).all() for e in report.profile.estimates().values())
    code, err, _ = analyze(["--model", "r18", "--image", "gallery:0", "--time-budget", "0.5"], tmp_path, capsys)
    assert code != 0 and "too small for this analysis" in err and "give at least" in err
