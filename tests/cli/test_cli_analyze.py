"""``mimi analyze`` end to end on a freshly initialised model in a temporary zoo."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from mimi.analysis import ImageReport
from mimi.cli import main
from mimi.core.results import load_result
from mimi.models import zoo
from mimi.models.networks import SmallCNN

SMALL = ["--grid", "4x4", "--ratios", "0.2,0.8", "--samples", "2", "--pair-count", "6", "--shapley-samples", "2",
         "--quiet"]


@pytest.fixture(scope="module")
def tiny_zoo(tmp_path_factory):
    folder = tmp_path_factory.mktemp("zoo")
    torch.manual_seed(0)
    zoo.save(SmallCNN(), {"name": "tiny", "architecture": "small-cnn", "arch_kwargs": {},
                          "classes": ["c%d" % i for i in range(10)], "training": {"recipe": "none"}}, folder)
    return folder


def analyze(tiny_zoo, *args):
    return main(["analyze", "--model", "tiny", "--zoo-dir", str(tiny_zoo), *args])


def test_analyze_gallery_image_writes_a_report(tiny_zoo, tmp_path, capsys):
    out = tmp_path / "report.json"
    assert analyze(tiny_zoo, "--image", "gallery:3", *SMALL, "--json", str(out)) == 0
    report = load_result(out)
    assert isinstance(report, ImageReport)
    assert report.label == 0 and report.profile.orders.tolist() == [2, 11]
    assert report.profile.interaction.clean.se.shape == (2,) and report.profile.interaction.adversarial is None
    assert report.shapley.phi.clean.mean.shape == (4, 4) and report.attack is None
    assert report.probabilities.shape == (10,) and report.image.shape == (1, 28, 28)
    assert "forward passes" in capsys.readouterr().out


def test_analyze_with_attack_and_an_image_file(tiny_zoo, tmp_path):
    path = tmp_path / "shirt.png"
    Image.fromarray((np.random.default_rng(0).random((40, 30)) * 255).astype(np.uint8)).save(path)
    out = tmp_path / "adv.json"
    assert analyze(tiny_zoo, "--image", str(path), "--label", "6", *SMALL, "--attack", "pgd", "--eps", "0.1",
                   "--steps", "3", "--json", str(out)) == 0
    report = load_result(out)
    p = report.profile
    assert report.attack.params["eps"] == 0.1 and report.attack.x_adv.shape == (1, 1, 28, 28)
    assert p.interaction.adversarial.mean.shape == (2,) and p.utility_by_order.mean.shape == (2,)
    assert p.utility_by_order.se.shape == (2,)
    assert p.attack_utility == pytest.approx(float(report.attack.utility[0]), abs=1e-4)
    assert report.shapley.phi.difference.mean.shape == (4, 4) and report.label == 6


@pytest.mark.parametrize("args,message", [
    (["--image", "/nonexistent/x.png"], "image file /nonexistent/x.png does not exist"),
    (["--image", "gallery:100"], "gallery image 100 does not exist"),
    (["--image", "gallery:0", "--grid", "7by7"], "bad grid '7by7'"),
    (["--image", "gallery:0", "--grid", "40x40"], "at most 16 cells a side"),
    (["--image", "gallery:0", "--samples", "0"], "samples must be an integer in 1..1024"),   # pairs drawn: 1 is enough
    (["--image", "gallery:0", "--orders", "3,x"], "--orders takes comma-separated numbers"),
])
def test_bad_input_is_one_line_and_exit_2(tiny_zoo, capsys, args, message):
    assert analyze(tiny_zoo, *args, "--quiet") == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "Traceback" not in err and len(err.splitlines()) == 1


def test_unreadable_image_file_without_traceback(tiny_zoo, tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    proc = subprocess.run([sys.executable, "-m", "mimi", "analyze", "--model", "tiny", "--zoo-dir", str(tiny_zoo),
                           "--image", str(bad), "--quiet"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "broken.png" in proc.stderr


def test_analyze_target_precision_reports_the_estimand_and_an_unreached_bound(tiny_zoo, capsys):
    assert analyze(tiny_zoo, "--image", "gallery:3", *SMALL, "--contexts", "1", "--max-se", "1e-9",
                   "--max-passes", "5000") == 0
    out = capsys.readouterr().out
    assert "profile: mean of I^(m)(i, j) over all 42 pairs of 8-neighbouring cells of the 4x4 grid" in out
    assert "SEs cover pairs drawn from the pair set, contexts" in out
    assert "target precision not reached" in out and "best estimate within the budget" in out


def test_analyze_refuses_a_pair_count_above_the_pair_set_with_the_value(tiny_zoo, capsys):
    assert analyze(tiny_zoo, "--image", "gallery:3", "--grid", "4x4", "--pair-count", "500", "--quiet") == 2
    assert "pair_count=500" in capsys.readouterr().err


def test_analyze_at_equal_strength_says_whether_the_attack_landed(tiny_zoo, tmp_path, capsys):
    out = tmp_path / "strength.json"
    assert analyze(tiny_zoo, "--image", "gallery:3", *SMALL, "--attack", "pgd", "--eps", "0.3", "--steps", "20",
                   "--stop-utility", "0.5", "--tolerance", "0.1", "--no-random-start", "--json", str(out)) == 0
    attack = load_result(out).attack
    assert attack.params["stop_rule"] == "utility" and attack.params["random_start"] is False
    landed = bool(attack.success[0])
    assert landed == (0.5 <= float(attack.utility[0]) <= 0.6)
    assert f"{'landed' if landed else 'did NOT land'} in [0.5, 0.6]" in capsys.readouterr().out
    assert analyze(tiny_zoo, "--image", "gallery:3", *SMALL, "--attack", "pgd", "--stop-utility", "1000") == 0
    assert "did NOT land in [1000, 1000.05]: not an equal-strength result" in capsys.readouterr().out
