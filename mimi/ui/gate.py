"""The compute gate: one process-wide FIFO queue for heavy work, and results cached by content.

Every session of the dashboard sends its computations through one :class:`ComputeGate`, so
that concurrent sessions queue (at most ``slots`` computations run at a time) instead of
exhausting memory and cores. Results are kept in an LRU cache under a content key
(:func:`content_key` of image bytes, model, parameters, seed), so a revisit is instant and two
sessions asking for the same thing at once compute it once. A computation that raises
(for instance :class:`mimi.core.progress.Cancelled` from its progress callback) caches nothing
and lets the next waiter for the same key compute it.
"""

from __future__ import annotations

import bisect
import dataclasses
import hashlib
import itertools
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, Optional, TypeVar

import numpy as np

T = TypeVar("T")
WaitFn = Callable[[int], None]   # called while queued with the number of computations ahead


def _feed(digest: "hashlib._Hash", value: Any) -> None:
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # torch.Tensor
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        array = np.ascontiguousarray(value)
        digest.update(f"nd{array.dtype.str}{array.shape}".encode())
        digest.update(array.tobytes())
    elif isinstance(value, dict):
        digest.update(b"{")
        for key in sorted(value, key=str):
            _feed(digest, str(key))
            _feed(digest, value[key])
        digest.update(b"}")
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):   # a request: its type and every field
        digest.update(f"{type(value).__name__}(".encode())
        _feed(digest, {f.name: getattr(value, f.name) for f in dataclasses.fields(value)})
        digest.update(b")")
    elif isinstance(value, (list, tuple)):
        digest.update(b"[")
        for item in value:
            _feed(digest, item)
        digest.update(b"]")
    else:
        digest.update(f"{type(value).__name__}:{value!r};".encode())


def content_key(*parts: Any) -> str:
    """SHA-256 over the parts: arrays/tensors by dtype, shape and bytes; containers recursively."""
    digest = hashlib.sha256()
    for part in parts:
        _feed(digest, part)
    return digest.hexdigest()


@dataclass
class GateStatus:
    running: int
    queued: int
    cached: int
    slots: int


class ComputeGate:
    """A FIFO gate of ``slots`` concurrent computations plus an LRU result cache of ``cache_entries``."""

    def __init__(self, slots: int = 1, cache_entries: int = 1024, poll_s: float = 0.1) -> None:
        if slots < 1:
            raise ValueError(f"slots must be >= 1, got {slots}")
        self.slots, self.cache_entries, self.poll_s = slots, cache_entries, poll_s
        self._cond = threading.Condition()
        self._cache: OrderedDict[str, Any] = OrderedDict()
        self._inflight: dict[str, threading.Event] = {}
        self._queue: list[tuple[int, int]] = []     # (priority, ticket), in the order they run
        self._tickets = itertools.count()
        self._running = 0

    def status(self) -> GateStatus:
        with self._cond:
            return GateStatus(self._running, len(self._queue), len(self._cache), self.slots)

    def lookup(self, key: str, default: Any = None) -> Any:
        """The cached result under ``key`` (marked as recently used), else ``default``."""
        with self._cond:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        return default

    def put(self, key: str, value: Any) -> None:
        """Cache ``value`` under ``key`` (a result obtained without computing, e.g. a precomputed one)."""
        with self._cond:
            self._cache[key] = value
            self._cache.move_to_end(key)
            while len(self._cache) > self.cache_entries:
                self._cache.popitem(last=False)

    def clear(self) -> None:
        with self._cond:
            self._cache.clear()

    def run(self, key: str, compute: Callable[[], T], on_wait: Optional[WaitFn] = None, priority: int = 0) -> T:
        """The cached result for ``key``, else ``compute()`` run when a slot is free, then cached. The queue is
        FIFO within a ``priority``; a lower one goes first (a chart's first round before refining rounds).

        ``on_wait(ahead)`` is called every ``poll_s`` while queued; it may raise to give up.
        """
        missing = object()
        while True:
            with self._cond:
                result = self.lookup(key, missing)
                if result is not missing:
                    return result
                other = self._inflight.get(key)
                if other is None:
                    mine = self._inflight[key] = threading.Event()
            if other is not None:  # the same computation runs for another session: wait, then look again
                while not other.wait(self.poll_s):
                    if on_wait is not None:
                        on_wait(0)
                continue
            try:
                self._acquire(on_wait, priority)
                try:
                    result = compute()
                finally:
                    self._release()
                self.put(key, result)
                return result
            finally:
                with self._cond:
                    self._inflight.pop(key, None)
                mine.set()

    def _acquire(self, on_wait: Optional[WaitFn], priority: int = 0) -> None:
        ticket = (priority, next(self._tickets))
        with self._cond:
            bisect.insort(self._queue, ticket)
        try:
            while True:
                with self._cond:
                    ahead = self._queue.index(ticket)
                    if ahead < self.slots - self._running:
                        self._queue.remove(ticket)
                        self._running += 1
                        return
                    self._cond.wait(self.poll_s)
                    ahead = self._queue.index(ticket)
                if on_wait is not None:
                    on_wait(ahead)
        except BaseException:
            with self._cond:
                if ticket in self._queue:
                    self._queue.remove(ticket)
                self._cond.notify_all()
            raise

    def _release(self) -> None:
        with self._cond:
            self._running -= 1
            self._cond.notify_all()
