"""``mimi evaluate``: output, JSON, sweep, FGSM, card updates, and one-line errors with exit 2."""

from __future__ import annotations

import json

import pytest
import torch

from mimi.cli import main
from mimi.core.results import load_result
from mimi.models import zoo
from mimi.models.evaluation import AccuracyResult
from mimi.models.networks import SmallCNN


@pytest.fixture
def tmp_zoo(tmp_path, monkeypatch):
    """A zoo folder with one untrained SmallCNN, ``tiny-standard``, installed as the zoo."""
    folder = tmp_path / "zoo"
    torch.manual_seed(0)
    meta = {"name": "tiny-standard", "architecture": "small-cnn", "arch_kwargs": {},
            "training": {"recipe": "standard"}, "evaluation": {"clean_accuracy": 0.5}}
    zoo.save(SmallCNN(), meta, folder)
    monkeypatch.setattr(zoo, "ZOO_DIR", folder)
    return folder


def run(capsys, *argv):
    code = main(["evaluate", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_evaluate_prints_accuracies_and_writes_json(tmp_zoo, tiny_fmnist, tmp_path, capsys):
    out_file = tmp_path / "out" / "eval.json"
    code, out, err = run(capsys, "--model", "tiny-standard", "--data-dir", str(tiny_fmnist), "--steps", "3",
                         "--sweep", "0,0.05,0.1", "--json", str(out_file), "--device", "cpu")
    assert code == 0, err
    result = load_result(out_file)
    assert isinstance(result, AccuracyResult)
    assert result.n_images == 40 and result.eps == [0.0, 0.05, 0.1] and result.model == "tiny-standard"
    assert result.robust_accuracy[0] == result.clean_accuracy
    assert f"{100 * result.clean_accuracy:6.2f}%" in out and "eps 0.05" in out and "PGD-3 linf" in out
    assert "evaluate tiny-standard [" in err  # the progress bar


def test_evaluate_with_fgsm_limit_and_gallery(tmp_zoo, tiny_fmnist, capsys):
    code, out, _ = run(capsys, "--model", "tiny-standard", "--data-dir", str(tiny_fmnist), "--attack", "fgsm-rs",
                       "--limit", "10", "--eps", "0.2")
    assert code == 0 and "FGSM-RS linf, step 1.25*eps" in out and "(10 images)" in out
    code, out, _ = run(capsys, "--model", "tiny-standard", "--gallery", "--steps", "2", "--norm", "l2",
                       "--eps", "1.0", "--restarts", "2")
    assert code == 0 and "gallery" in out and "(100 images)" in out and "2 restart(s)" in out


def test_update_card_writes_the_card_protocol_numbers(tmp_zoo, tiny_fmnist, capsys):
    code, out, err = run(capsys, "--model", "tiny-standard", "--data-dir", str(tiny_fmnist),
                         "--sweep", "0,0.1", "--update-card")
    assert code == 0, err
    card = json.loads((tmp_zoo / "tiny-standard.json").read_text())["evaluation"]
    assert card["n_images"] == 40 and card["eps"] == 0.1 and card["split"] == "test"
    assert card["protocol"]["steps"] == 20 and card["protocol"]["attack"] == "pgd"
    assert card["robustness_curve"]["eps"] == [0.0, 0.1]
    assert card["pgd20_accuracy"] == card["robustness_curve"]["accuracy"][1]
    assert f"{100 * card['clean_accuracy']:6.2f}%" in out and "machine" in card


@pytest.mark.parametrize("extra, message", [
    (["--limit", "5"], "full test set"),
    (["--steps", "10"], "PGD-20 L-inf"),
    (["--attack", "fgsm"], "PGD-20 L-inf"),
    (["--eps", "0.2"], "eps 0.1"),
])
def test_update_card_refuses_other_protocols(tmp_zoo, tiny_fmnist, capsys, extra, message):
    before = (tmp_zoo / "tiny-standard.json").read_text()
    code, _, err = run(capsys, "--model", "tiny-standard", "--data-dir", str(tiny_fmnist), "--update-card", *extra)
    assert code == 2 and message in err and "Traceback" not in err
    assert (tmp_zoo / "tiny-standard.json").read_text() == before


@pytest.mark.parametrize("argv, message", [
    (["--model", "nope"], "unknown model 'nope'; the zoo has: tiny-standard"),
    (["--model", "tiny-standard", "--eps", "-0.1"], "eps must be >= 0, got -0.1"),
    (["--model", "tiny-standard", "--steps", "0"], "steps must be an integer >= 1, got 0"),
    (["--model", "tiny-standard", "--restarts", "0"], "restarts must be an integer >= 1, got 0"),
    (["--model", "tiny-standard", "--sweep", "0,x"], "--sweep takes comma-separated numbers"),
    (["--model", "tiny-standard", "--limit", "0"], "--limit must be >= 1"),
    (["--model", "tiny-standard", "--step-size", "-1"], "step_size must be > 0"),
])
def test_errors_are_one_line_with_exit_2(tmp_zoo, capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 2 and message in err
    assert err.strip().count("\n") == 0 and err.startswith("mimi evaluate: error:")


def test_missing_dataset_names_the_package(tmp_zoo, tmp_path, capsys):
    code, _, err = run(capsys, "--model", "tiny-standard", "--data-dir", str(tmp_path / "empty"))
    assert code == 2 and "apt-get install dataset-fashion-mnist" in err and "Traceback" not in err


def test_unwritable_json_path_fails_before_the_work(tmp_zoo, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    code, _, err = run(capsys, "--model", "tiny-standard", "--gallery", "--json", str(blocker / "x" / "out.json"))
    assert code == 2 and "cannot write" in err
