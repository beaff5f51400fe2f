"""``mimi defenses``: bad options end with a one-line message and status 2; a run writes the three studies where
the dashboard reads them, and they read back."""

from __future__ import annotations

import numpy as np
import pytest

from mimi.batch import gallery
from mimi.cli import main
from tests.conftest_app import make_zoo


@pytest.fixture(scope="module")
def stand_in_zoo(tmp_path_factory):
    return make_zoo(tmp_path_factory.mktemp("zoo"))


@pytest.mark.parametrize("argv, message", [
    (["--models", "fmnist-standard", "--only", "detection,bogus"], "--only 'detection,bogus': choose among"),
    (["--models", "fmnist-standard", "--resamples", "5"], "--resamples 5: must be in 100..100000"),
    (["--models", "fmnist-standard", "--min-utility", "0"], "--min-utility 0.0: must be > 0"),
    (["--models", "fmnist-standard", "--random-orders", "1"], "--random-orders 1: must be in 2..256"),
    (["--models", "nope"], "unknown model 'nope'"),
    (["--models", "fmnist-standard", "--images", "1"], "--images 1: a count must be in 2..100"),
])
def test_bad_options_exit_with_status_2(stand_in_zoo, tmp_path, capsys, argv, message):
    assert main(["defenses", *argv, "--zoo-dir", str(stand_in_zoo), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not any(tmp_path.rglob("*.json"))


def test_a_recovery_run_writes_the_study_the_page_reads(stand_in_zoo, tmp_path, capsys):
    argv = ["defenses", "--models", "fmnist-standard", "--only", "recovery", "--images", "0,10", "--min-utility",
            "0.0001", "--random-orders", "2", "--zoo-dir", str(stand_in_zoo), "--out", str(tmp_path), "--device", "cpu"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.count("wrote") == 1 and "recoverability ρ ± SE" in out
    recovery = gallery.load_study("recovery", "fmnist-standard", tmp_path)
    assert recovery.params["command"].startswith("mimi defenses --models fmnist-standard --only recovery")
    assert recovery.images.tolist() == [0, 10] and recovery.params["random_orders"] == 2
    assert recovery.min_utility == 1e-4 and recovery.ranked.shape == (2, 50)
    assert not (tmp_path / "detection").exists()


@pytest.mark.slow
def test_a_full_run_writes_the_three_studies(stand_in_zoo, tmp_path, capsys):
    argv = ["defenses", "--models", "fmnist-standard", "--images", "0,10", "--all-images", "--resamples", "100",
            "--min-utility", "0.0001", "--random-orders", "2", "--zoo-dir", str(stand_in_zoo), "--out", str(tmp_path),
            "--device", "cpu"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.count("wrote") == 3 and "AUC [95% CI]" in out and "recoverability" in out and "low orders" in out
    detection = gallery.load_study("detection", "fmnist-standard", tmp_path)
    assert detection.images.tolist() == [0, 10] and detection.used.all()
    strength = gallery.load_study("strength", "fmnist-standard", tmp_path)
    assert strength.strength.shape == (2, len(strength.orders)) and np.all(np.isfinite(strength.strength))
