"""Options and helpers shared by the subcommands."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from mimi.cli import CommandError


def add_device(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="auto", help="auto (cuda, then mps, then cpu), cpu, cuda, mps")


def add_threads(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's choice)")


def apply_threads(args) -> None:
    """``torch.set_num_threads(--threads)`` when the option was given."""
    if args.threads is not None:
        if args.threads < 1:
            raise ValueError(f"--threads must be >= 1, got {args.threads}")
        torch.set_num_threads(args.threads)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise CommandError(f"unknown device {name!r}") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise CommandError("--device cuda asked for, but no CUDA GPU is available")
    return device


def writable_path(path: str | Path) -> Path:
    """Create the parent folder of ``path`` and check it is writable before long work starts."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        probe = path.parent / f".mimi-write-test-{path.name}"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise CommandError(f"cannot write to {path.parent}: {exc.strerror or exc}") from exc
    return path


def write_json(path: str | Path, payload) -> None:
    text = payload if isinstance(payload, str) else json.dumps(payload, indent=2)
    Path(path).write_text(text)
