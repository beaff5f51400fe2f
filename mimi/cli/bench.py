"""``mimi bench``: run the benchmark sections side by side and print one markdown table."""

from __future__ import annotations

import sys

from mimi.bench import SECTIONS, run_sections
from mimi.cli.common import add_device, add_json_out, optional_writable_path, resolve_device


def register(sub) -> None:
    p = sub.add_parser("bench", help="benchmark the engine, estimators, attacks and dashboard")
    add_json_out(p, "the full report (a BenchReport)")
    p.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    p.add_argument("--only", metavar="SECTION,...", help=f"sections to run, from {', '.join(SECTIONS)}")
    add_device(p)
    p.set_defaults(run=run)


def run(args) -> int:
    only = [name.strip() for name in args.only.split(",") if name.strip()] if args.only else None
    out = optional_writable_path(args.json)
    device = resolve_device(args.device)
    report = run_sections(only, quick=args.quick, device=str(device),
                          log=lambda line: print(line, file=sys.stderr, flush=True))
    print(report.markdown())
    if out is not None:
        report.to_json(out)
    if report.failed:
        print(f"mimi bench: section(s) failed: {', '.join(report.failed)}", file=sys.stderr)
        return 1
    return 0
