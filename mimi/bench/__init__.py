"""``mimi bench``: benchmark sections run side by side in one process, one markdown table.

A section is a module ``mimi.bench.<name>`` with ``run(quick: bool = False, device="cpu") -> dict``
whose ``"rows"`` is a list of ``[metric, value, goal]`` (goal a string such as ``">= 0.9"``,
``"< 10 s"`` or ``""``); other keys (``"notes"``, raw numbers) are kept in the JSON report.
Sections that are not installed are skipped with a note; a section that fails is reported
with its error and the others still run.
"""

from __future__ import annotations

import importlib
import os
import platform
import re
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Optional

import torch

from mimi.core.results import Result

SECTIONS = ("engine", "estimators", "attacks", "dashboard", "paper224", "masked224", "anytime", "study", "sessions")
_GOAL = re.compile(r"^\s*(<=|>=|<|>|=)\s*([-+0-9.eE]+)")


def machine() -> dict[str, Any]:
    """CPU model, cores, torch version and threads, and the GPU if any."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {"cpu": cpu, "cores": os.cpu_count(), "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(), "python": platform.python_version(),
            "platform": platform.platform()}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def goal_met(value: Any, goal: str) -> Optional[bool]:
    """Whether a numeric ``value`` meets a goal written ``<op> number [unit]``; None if not comparable."""
    match = _GOAL.match(goal or "")
    if not match or not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    op, bound = match.group(1), float(match.group(2))
    return {"<": value < bound, "<=": value <= bound, ">": value > bound, ">=": value >= bound,
            "=": value == bound}[op]


def format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


@dataclass
class BenchReport(Result):
    """All sections of one ``mimi bench`` run: ``sections[name]`` is the section's dict, or
    ``{"skipped": reason}`` / ``{"error": message}``."""

    machine: dict = field(default_factory=dict)
    sections: dict = field(default_factory=dict)
    quick: bool = False
    device: str = "cpu"
    wall_time_s: float = 0.0

    @property
    def failed(self) -> list[str]:
        return [name for name, section in self.sections.items() if "error" in section]

    def markdown(self) -> str:
        """The report as one markdown table, then the machine and the sections' notes."""
        lines = ["| section | metric | value | goal | met |", "|---|---|---|---|---|"]
        notes = []
        for name, section in self.sections.items():
            if "skipped" in section or "error" in section:
                status = "skipped" if "skipped" in section else "error"
                lines.append(f"| {name} | ({status}) | | | |")
                notes.append(f"- {name}: {status}: {section.get('skipped') or section.get('error')}")
                continue
            for metric, value, goal in section.get("rows", []):
                met = goal_met(value, goal)
                mark = "" if met is None else ("yes" if met else "NO")
                lines.append(f"| {name} | {metric} | {format_value(value)} | {goal} | {mark} |")
            notes += [f"- {name}: {note}" for note in section.get("notes", [])]
        info = self.machine
        lines += ["", f"Machine: {info.get('cpu')}, {info.get('cores')} cores, torch {info.get('torch')} "
                      f"({info.get('torch_threads')} threads), device {self.device}"
                      + (f", GPU {info['gpu']}" if "gpu" in info else "")
                      + f"; {'quick' if self.quick else 'full'} run, {self.wall_time_s:.1f} s."]
        if notes:
            lines += ["", *notes]
        return "\n".join(lines)


def run_sections(only: Optional[list[str]] = None, quick: bool = False, device: str = "cpu",
                 log=None) -> BenchReport:
    """Run the named sections (default: all of SECTIONS) and collect their rows."""
    names = list(only) if only else list(SECTIONS)
    unknown = [name for name in names if name not in SECTIONS]
    if unknown:
        raise ValueError(f"unknown bench section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    report = BenchReport(machine=machine(), quick=quick, device=str(device))
    start = time.perf_counter()
    for name in names:
        try:
            module = importlib.import_module(f"mimi.bench.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"mimi.bench.{name}":
                raise
            report.sections[name] = {"skipped": f"mimi.bench.{name} is not installed"}
            continue
        if log:
            log(f"bench: running {name} ...")
        began = time.perf_counter()
        try:
            section = dict(module.run(quick=quick, device=device))
        except Exception as exc:  # one broken section must not hide the others
            section = {"error": f"{type(exc).__name__}: {exc}",
                       "traceback": traceback.format_exc(limit=5)}
        section["wall_time_s"] = time.perf_counter() - began
        report.sections[name] = section
    report.wall_time_s = time.perf_counter() - start
    return report
