"""The ``attacks`` bench section: its timing and accuracy helpers on a tiny model, and a quick full run."""

from __future__ import annotations

import json

import pytest
import torch

from mimi.bench import attacks as bench
from mimi.data import load_gallery
from mimi.models import freeze
from tests.test_attacks import TinyNet

pytest.importorskip("torchattacks", reason="torchattacks is a test extra: pip install -e '.[test]'")


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return freeze(TinyNet())


def test_step_times_interleave_both_implementations(net):
    data = load_gallery()
    times = bench.step_times(net, data.images[:16], data.labels[:16], steps=2, repeats=3, device="cpu")
    assert set(times) == {"mimi", "torchattacks", "mimi cpu", "torchattacks cpu"}
    assert all(len(t) == 3 and min(t) > 0 for t in times.values())


def test_robust_accuracy_counts_only_images_right_both_clean_and_attacked(net):
    data = load_gallery().subset(30)
    clean, robust = bench.robust_accuracy(net, lambda x, y: x, data, "cpu", batch_size=7)
    assert robust == clean == pytest.approx((net(data.images).argmax(1) == data.labels).float().mean().item())
    _, attacked = bench.robust_accuracy(net, bench._mimi_pgd(net, 5, 0), data, "cpu")
    _, reference = bench.robust_accuracy(net, bench._torchattacks_pgd(net, 5, 0), data, "cpu")
    assert attacked <= clean and reference <= clean


@pytest.mark.slow
def test_quick_run_gives_json_rows_with_goals():
    section = bench.run(quick=True)
    json.dumps(section)
    goals = {metric: goal for metric, _, goal in section["rows"]}
    assert goals["PGD step time mimi / torchattacks (median of paired ratios)"] == "<= 1.05"
    assert sum(goal == "<= 1" for goal in goals.values()) == 2
