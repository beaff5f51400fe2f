"""Progress reporting and cancellation shared by the engine, training, the CLI and the UI.

A progress callback is ``progress(done, total, message)``; it may raise
:class:`Cancelled` to stop a computation cleanly at its next batch.
"""

from __future__ import annotations

import sys
import time
from typing import Callable, Optional

ProgressFn = Callable[[int, int, str], None]


class Cancelled(RuntimeError):
    """Raised by a progress callback to abandon a computation between batches."""


def report(progress: Optional[ProgressFn], done: int, total: int, message: str = "") -> None:
    if progress is not None:
        progress(done, total, message)


class TerminalBar:
    """A one-line text progress bar on stderr: ``TerminalBar('train')`` is a ProgressFn."""

    def __init__(self, label: str, width: int = 30, stream=None) -> None:
        self.label, self.width = label, width
        self.stream = stream or sys.stderr
        self.start = time.perf_counter()
        self._last = 0.0

    def __call__(self, done: int, total: int, message: str = "") -> None:
        now = time.perf_counter()
        if done < total and now - self._last < 0.2:
            return
        self._last = now
        frac = done / total if total else 1.0
        filled = int(round(frac * self.width))
        elapsed = now - self.start
        eta = elapsed / frac - elapsed if 0 < frac < 1 else 0.0
        line = (f"\r{self.label} [{'#' * filled}{'.' * (self.width - filled)}] {done}/{total}"
                f" {elapsed:5.0f}s eta {eta:4.0f}s {message}")
        self.stream.write(line[:160].ljust(100))
        if done >= total:
            self.stream.write("\n")
        self.stream.flush()
