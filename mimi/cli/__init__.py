"""The ``mimi`` command: ``mimi zoo | train | evaluate | analyze | population | defenses | bench | models``.

Each subcommand lives in its own module with ``register(subparsers)``; expected
failures (missing data, unknown model, bad parameters, unwritable paths) end with a
one-line message and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from mimi.data.datasets import DatasetMissing

COMMANDS = ("zoo", "train", "evaluate", "analyze", "population", "defenses", "bench", "models", "study",
            "precompute")


class CommandError(Exception):
    """A user-facing failure of a subcommand."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mimi", description="See why adversarial attacks work: "
                                     "multi-order interactions of image models.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"mimi.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"mimi.cli.{name}":
                raise
            continue
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    args.argv = argv  # recorded verbatim in model cards and result files
    try:
        return int(args.run(args) or 0)
    except (CommandError, DatasetMissing, ValueError, OSError) as exc:
        print(f"mimi {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"mimi {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
