"""What the commands that run the job engine share (``mimi study run``, ``mimi population``, ``mimi defenses``): the
options that say where the jobs run, and running a gallery study into its folder and its result files."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Optional

import torch

from mimi.batch.engine import DEFAULT_RAY_TIMEOUT_S, StudyMismatch, run_study
from mimi.batch.gallery import collect, plan_gallery
from mimi.cli import CommandError
from mimi.core.progress import TerminalBar


def add_ray_options(parser: argparse.ArgumentParser, gpus_per_job: float = 1.0) -> None:
    """--ray, --ray-cpus, --ray-timeout and --gpus-per-job."""
    parser.add_argument("--ray", nargs="?", const="local", metavar="ADDRESS",
                        help="run the jobs on Ray: a local instance (no ADDRESS), or the cluster at ADDRESS "
                             "(HOST:PORT, ray://HOST:PORT or auto); needs pip install -e \".[ray]\"")
    parser.add_argument("--ray-cpus", type=int, help="CPUs of the local Ray instance (default: all)")
    parser.add_argument("--ray-timeout", type=float, default=DEFAULT_RAY_TIMEOUT_S,
                        help="seconds to reach a Ray cluster (default %(default)s)")
    parser.add_argument("--gpus-per-job", type=float, default=gpus_per_job,
                        help="GPUs a Ray task asks for on a CUDA device (fractions allowed; default %(default)s)")


def add_work_options(parser: argparse.ArgumentParser) -> None:
    """--work, --force and --limit of the gallery commands, and the Ray options."""
    parser.add_argument("--work", metavar="DIR",
                        help="keep the jobs' results in DIR/<study> (a study folder of the job engine): an interrupted "
                             "or failed run resumes there (default: a temporary folder, removed at the end)")
    parser.add_argument("--force", action="store_true",
                        help="replace the manifest of a --work folder that holds other settings (jobs whose inputs "
                             "still match are reused)")
    parser.add_argument("--limit", type=int, help="run at most N jobs this time (with --work; nothing is written "
                                                  "until every job is done)")
    add_ray_options(parser, gpus_per_job=0.0)


def run_gallery(args, kind: str, names: list[str], indices: Optional[list[int]], *, seed: int, zoo_dir: Path,
                device: torch.device, command: str, write: Callable[[str, Any], None], **options: Any) -> bool:
    """Gallery study ``kind`` of models ``names`` over gallery ``indices`` as jobs of the job engine, in the
    ``--work`` folder (or a temporary one), in-process or on Ray; when every job is done, ``write(model, result)``
    for each model. Returns whether it wrote (False: jobs failed or are left; the message says how to resume)."""
    try:
        plan = plan_gallery(kind, names, indices, seed=seed, zoo_dir=zoo_dir, command=command, **options)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    with tempfile.TemporaryDirectory(prefix=f"mimi-{kind}-") as scratch:
        folder = Path(args.work) / kind if args.work else Path(scratch)
        threads = args.threads or torch.get_num_threads()   # the same threads give the same numbers as in-process
        log = lambda line: print(f"mimi {kind}: {line}", file=sys.stderr)  # noqa: E731
        try:
            status = run_study(folder, plan, force=args.force, limit=args.limit, ray=args.ray,
                               ray_timeout=args.ray_timeout, gpus_per_job=args.gpus_per_job, device=str(device),
                               threads=threads, num_cpus=args.ray_cpus, progress=TerminalBar(kind), log=log)
        except StudyMismatch as exc:
            raise CommandError(str(exc)) from None
        if not status.complete:
            print(status.summary(), file=sys.stderr)
            again = (f"run the same command again to compute the rest (the finished jobs are kept in {folder})"
                     if args.work else "rerun with --work DIR to keep the finished jobs between runs")
            log(f"{status.jobs - status.done} of {status.jobs} jobs not done; nothing written; {again}")
            return False
        for name, result in collect(folder, device=str(device)).items():
            write(name, result)
    return True
