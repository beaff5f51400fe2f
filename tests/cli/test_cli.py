import json
import subprocess
import sys

import pytest

from mimi.cli import main


def test_zoo_lists_models_with_accuracies(capsys):
    assert main(["zoo"]) == 0
    out = capsys.readouterr().out
    assert "fmnist-standard" in out and "PGD-20" in out
    assert main(["zoo", "--json"]) == 0
    cards = json.loads(capsys.readouterr().out)
    assert {c["name"] for c in cards} >= {"fmnist-standard"}


def test_train_writes_weights_and_card(tiny_fmnist, tmp_path, capsys):
    out = tmp_path / "models"
    argv = ["train", "--recipe", "standard", "--epochs", "1", "--data-dir", str(tiny_fmnist),
            "--out", str(out), "--name", "tiny", "--eval-limit", "16", "--device", "cpu"]
    assert main(argv) == 0
    card = json.loads((out / "tiny.json").read_text())
    assert card["training"]["command"] == "mimi " + " ".join(argv)
    assert card["evaluation"]["n_images"] == 16 and 0 <= card["evaluation"]["clean_accuracy"] <= 1
    assert card["evaluation"]["test_subset_accuracy"] is not None
    assert (out / "tiny.pt").exists() and (out / "tiny.ckpt").exists()
    assert "tiny: clean" in capsys.readouterr().out


def test_train_resnet_on_a_local_cifar_folder(tiny_cifar, tmp_path):
    out = tmp_path / "models"
    assert main(["train", "--recipe", "trades", "--dataset", "cifar10", "--data-dir", str(tiny_cifar),
                 "--epochs", "1", "--attack-steps", "1", "--batch-size", "20", "--out", str(out),
                 "--eval-limit", "2", "--device", "cpu"]) == 0
    card = json.loads((out / "cifar10-trades.json").read_text())
    assert card["architecture"] == "resnet18" and card["input"]["shape"] == [3, 32, 32]


def test_missing_dataset_is_one_line_and_exit_2(tmp_path, capsys):
    assert main(["train", "--recipe", "standard", "--data-dir", str(tmp_path / "none"),
                 "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "apt-get install dataset-fashion-mnist" in err and "Traceback" not in err


def test_unwritable_output_folder_is_refused_before_training(tiny_fmnist, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert main(["train", "--recipe", "standard", "--data-dir", str(tiny_fmnist), "--out", str(blocker / "sub")]) == 2
    assert "cannot write" in capsys.readouterr().err


def test_console_script_prints_no_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "mimi", "train", "--recipe", "standard",
                           "--data-dir", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "dataset-fashion-mnist" in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "mimi", "train", "--recipe", "nope"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "invalid choice" in proc.stderr


@pytest.mark.parametrize("command", [["population", "--models", "all"], ["defenses", "--models", "all"],
                                     ["train", "--recipe", "standard"]])
def test_a_thread_count_below_one_is_refused_by_every_command(command, capsys):
    assert main([*command, "--threads", "0"]) == 2
    assert "--threads must be >= 1, got 0" in capsys.readouterr().err
