"""Every option and argument of every ``mimi`` subcommand (nested verbs included) says what it does in ``--help``."""

from __future__ import annotations

import argparse

from mimi.cli import COMMANDS, build_parser


def _commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ("mimi",)):
    """(path, parser) of the parser and of every subcommand below it, depth first."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _commands(sub, path + (name,))


def _missing_help(parser: argparse.ArgumentParser, path: tuple[str, ...]) -> list[str]:
    """The options, positional arguments and subcommands of ``parser`` whose help is empty."""
    missing = []
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        if isinstance(action, argparse._SubParsersAction):   # each subcommand's one-line help
            missing += [f"{' '.join(path)} {choice.dest}" for choice in action._choices_actions
                        if not (choice.help or "").strip()]
            continue
        if action.help == argparse.SUPPRESS:
            continue
        if not (action.help or "").strip():
            missing.append(f"{' '.join(path)} {'/'.join(action.option_strings) or action.dest}")
    return missing


def test_every_subcommand_is_registered():
    subcommands = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    assert len(subcommands) == 1
    assert set(subcommands[0].choices) == set(COMMANDS)


def test_every_option_of_every_subcommand_has_help():
    commands = list(_commands(build_parser()))
    assert len(commands) > len(COMMANDS)        # the top level, every subcommand and the nested verbs
    missing = [name for path, parser in commands for name in _missing_help(parser, path)]
    assert not missing, "options without help text:\n" + "\n".join(missing)


def test_every_help_text_renders():
    """``--help`` of every subcommand formats (a stray % in a help string would raise here)."""
    for path, parser in _commands(build_parser()):
        text = parser.format_help()
        assert text.startswith("usage: " + " ".join(path)), path
