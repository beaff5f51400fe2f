"""The ``attacks`` bench section: its timing and accuracy helpers on a tiny model, and a quick full run."""

from __future__ import annotations

import json
import statistics

import pytest
import torch

from mimi.bench import attacks as bench
from mimi.data.datasets import load_gallery
from tests.nets import TwoConvNet, frozen

pytest.importorskip("torchattacks", reason="torchattacks is a test extra: pip install -e '.[test]'")


@pytest.fixture(scope="module")
def net():
    return frozen(TwoConvNet)


def test_step_times_interleave_both_implementations(net):
    data = load_gallery()
    times = bench.step_times(net, data.images[:16], data.labels[:16], steps=2, repeats=3, device="cpu")
    assert set(times) == {"mimi", "torchattacks", "mimi cpu", "torchattacks cpu"}
    assert all(len(t) == 3 and min(t) > 0 for t in times.values())


def test_robust_accuracy_counts_only_images_right_both_clean_and_attacked(net):
    data = load_gallery().subset(30)
    blank = torch.zeros_like(data.images[:1])

    def every_other_blanked(x, y):   # a stand-in attack whose effect is known image by image
        return torch.where((torch.arange(len(x)) % 2 == 1).view(-1, 1, 1, 1), blank, x)

    clean, robust = bench.robust_accuracy(net, every_other_blanked, data, "cpu", batch_size=7)
    with torch.no_grad():
        right = net(data.images).argmax(1) == data.labels
        attacked = net(every_other_blanked(data.images, data.labels)).argmax(1) == data.labels
    assert clean == pytest.approx(right.float().mean().item())
    assert robust == pytest.approx((right & attacked).float().mean().item())   # both right, counted once
    assert (right & ~attacked).any() or (~right & attacked).any()               # the cases differ here


@pytest.mark.slow
def test_quick_run_measures_both_attacks_on_the_same_images():
    section = bench.run(quick=True)
    json.dumps(section)
    values = {metric: value for metric, value, _ in section["rows"]}
    ratio = values["PGD step time mimi / torchattacks (median of paired ratios)"]
    paired = [a / b for a, b in zip(section["timing"]["seconds_per_step"]["mimi"],
                                    section["timing"]["seconds_per_step"]["torchattacks"])]
    assert ratio == pytest.approx(statistics.median(paired), abs=1e-3)   # the median of paired ratios
    for name, robust in section["robust"].items():
        if isinstance(robust, dict):
            assert robust["mimi"] <= robust["clean"] and robust["torchattacks"] <= robust["clean"]
            assert values[f"robust accuracy mimi - torchattacks (points; {name})"] == pytest.approx(
                100 * (robust["mimi"] - robust["torchattacks"]), abs=0.01)
