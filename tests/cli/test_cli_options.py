"""The options the subcommands share (mimi/cli/common.py): each command's --help lists the ones it always had,
with the help text that fits it, and no others; the shared readers behave as each command did."""

from __future__ import annotations

import argparse
import re

import pytest

from mimi.cli import CommandError, main
from mimi.cli.common import command_line, model_names, resolve_zoo_dir
from mimi.models import zoo

SHARED = ("--zoo-dir", "--seed", "--json", "--out", "--models", "--images", "--data-dir", "--eps", "--steps",
          "--step-size", "--norm", "--restarts")
ZOO_DIR_HELP = "folder of model cards and weights (default: the shipped zoo)"
GALLERY_SEED = "per-image seeds are drawn from (seed, gallery index)"
ATTACK = {"--eps": "L-inf or L2 radius in pixel units", "--steps": "PGD steps (default 20)",
          "--step-size": "step size (default", "--norm": "{linf,l2}", "--restarts": "PGD random restarts"}
FMNIST_DIR = "Fashion-MNIST folder (default $MIMI_DATA_DIR or /usr/share/datasets/fashion-mnist)"

#: command -> {shared option it lists: a piece of its help}
EXPECTED = {
    "analyze": {"--zoo-dir": ZOO_DIR_HELP, "--seed": "random seed (default 0)",
                "--json": "write the ImageReport as JSON", **ATTACK},
    "bench": {"--json": "write the full report (a BenchReport) as JSON"},
    "defenses": {"--zoo-dir": ZOO_DIR_HELP, "--seed": GALLERY_SEED, "--out": "output folder (default",
                 "--models": "comma-separated model names (see `mimi zoo`), or 'all'",
                 "--images": "a count N (N images taken one class at a time"},
    "evaluate": {"--seed": "random seed (default 0)", "--json": "write the AccuracyResult as JSON",
                 "--data-dir": FMNIST_DIR + "; CIFAR-10: cifar-10-batches-py or class folders; ImageNet", **ATTACK,
                 "--eps": "(default: the input space's, Fashion-MNIST 0.1"},
    "models add": {}, "models check": {}, "models convert": {}, "models remove": {},
    "models list": {"--json": "print the model cards as JSON"},
    "population": {"--zoo-dir": ZOO_DIR_HELP, "--seed": GALLERY_SEED, "--out": "output folder (default",
                   "--models": "or 'all' (the shipped zoo's)", "--images": "(default: all 100)"},
    "precompute": {"--zoo-dir": ZOO_DIR_HELP, "--out": "store folder (default", "--models": "or 'all' (default)",
                   "--images": "gallery indices and ranges"},
    "study run": {"--zoo-dir": ZOO_DIR_HELP, "--seed": "per-image seeds are drawn from (seed, image hash)",
                  "--out": "the study folder (created; a rerun resumes it)", "--models": "or 'all'",
                  "--images": "gallery:SPEC", "--data-dir": FMNIST_DIR + "; read for --images dataset:N", **ATTACK},
    "study report": {"--json": "write every number of the report (a StudyReport) as JSON"},
    "study status": {},
    "train": {"--seed": "random seed (default 0)", "--out": "folder for weights and card (default",
              "--eps": "training eps for pgd-at and trades",
              "--data-dir": FMNIST_DIR + "; CIFAR-10: cifar-10-batches-py or its parent"},
    "zoo": {"--json": "print the model cards as JSON"},
}


@pytest.mark.parametrize("command", sorted(EXPECTED))
def test_help_lists_each_shared_option_where_the_command_takes_it(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([*command.split(), "--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    listed = set(re.findall(r"^  (?:-\w, )?(--[\w-]+)", text, flags=re.MULTILINE))
    assert listed & set(SHARED) == set(EXPECTED[command])
    flat = " ".join(text.split())
    for option, help_piece in EXPECTED[command].items():
        assert help_piece in flat, (option, help_piece)


def test_every_command_is_covered():
    from mimi.cli import build_parser

    commands = set()
    for action in build_parser()._subparsers._group_actions:
        for name, sub in action.choices.items():
            verbs = [a for a in sub._actions if isinstance(a, argparse._SubParsersAction)]
            commands |= {f"{name} {verb}" for verb in verbs[0].choices} if verbs else {name}
    assert commands == set(EXPECTED)


def test_model_names_reads_models_in_the_zoo_of_zoo_dir(tmp_path):
    shipped = argparse.Namespace(models="all", zoo_dir=None)
    assert resolve_zoo_dir(shipped) == zoo.ZOO_DIR
    assert model_names(shipped) == zoo.names() and model_names(shipped, registered=False) == zoo.names(registered=False)
    first, second = zoo.names(registered=False)[:2]
    assert model_names(argparse.Namespace(models=f" {second}, {first},", zoo_dir=None)) == [second, first]
    empty = argparse.Namespace(models=first, zoo_dir=str(tmp_path))
    assert resolve_zoo_dir(empty) == tmp_path
    with pytest.raises(CommandError, match=f"unknown model '{first}'; the zoo has: \\(nothing\\)"):
        model_names(empty)
    with pytest.raises(CommandError, match="--models is empty"):
        model_names(argparse.Namespace(models=" , ", zoo_dir=None))


def test_command_line_quotes_the_arguments_as_typed():
    args = argparse.Namespace(argv=["study", "run", "--images", "my photos", "--seed", "3"])
    assert command_line(args) == "mimi study run --images 'my photos' --seed 3"
    assert command_line(argparse.Namespace()) == "mimi"
