"""The compute gate: FIFO slots, content-keyed cache, dedup of identical work, clean cancellation."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import torch

from mimi.core.progress import Cancelled
from mimi.ui.gate import ComputeGate, content_key


def test_content_key_depends_on_content_not_identity():
    a = torch.arange(6.0).reshape(2, 3)
    assert content_key(a, {"eps": 0.1, "steps": 5}) == content_key(a.clone(), {"steps": 5, "eps": 0.1})
    assert content_key(a) != content_key(a.reshape(3, 2))                 # shape matters
    assert content_key(a) != content_key(a.double())                       # dtype matters
    b = a.clone()
    b[1, 2] += 1e-6
    assert content_key(a) != content_key(b)
    assert content_key(np.zeros(3), 1) != content_key(np.zeros(3), 1.0)   # int vs float parameter
    assert content_key("a", "bc") != content_key("ab", "c")


def test_many_sessions_at_once_get_their_own_correct_results_with_bounded_concurrency():
    gate = ComputeGate(slots=2, poll_s=0.01)
    running, peak, lock = [0], [0], threading.Lock()
    results: dict[int, int] = {}

    def work(n: int) -> int:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.02)
        with lock:
            running[0] -= 1
        return n * n

    def session(n: int) -> None:
        results[n] = gate.run(content_key("square", n), lambda: work(n))

    threads = [threading.Thread(target=session, args=(n,)) for n in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert results == {n: n * n for n in range(12)}
    assert peak[0] == 2
    status = gate.status()
    assert (status.running, status.queued, status.cached) == (0, 0, 12)


def test_identical_requests_compute_once_and_revisits_are_cached():
    gate = ComputeGate(slots=1, poll_s=0.01)
    calls = []

    def slow():
        calls.append(1)
        time.sleep(0.05)
        return {"value": 42}

    out = []
    threads = [threading.Thread(target=lambda: out.append(gate.run("k", slow))) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(calls) == 1 and len(out) == 5 and all(o is out[0] for o in out)
    assert gate.run("k", lambda: pytest.fail("recomputed")) is out[0]


def test_a_cancelled_computation_caches_nothing_and_frees_its_slot():
    gate = ComputeGate(slots=1, poll_s=0.01)

    def cancelled():
        raise Cancelled("superseded")

    with pytest.raises(Cancelled):
        gate.run("k", cancelled)
    assert gate.lookup("k") is None
    assert gate.run("k", lambda: 7) == 7
    assert gate.status().running == 0


def test_a_queued_session_can_give_up_while_waiting():
    gate = ComputeGate(slots=1, poll_s=0.01)
    release = threading.Event()
    holder = threading.Thread(target=lambda: gate.run("busy", lambda: release.wait(5)))
    holder.start()
    while gate.status().running == 0:
        time.sleep(0.005)
    seen = []

    def give_up(ahead: int) -> None:
        seen.append(ahead)
        raise Cancelled("input changed")

    with pytest.raises(Cancelled):
        gate.run("other", lambda: 1, on_wait=give_up)
    assert seen == [0] and gate.status().queued == 0
    release.set()
    holder.join(5)
    assert gate.run("other", lambda: 2) == 2


def test_lru_eviction():
    gate = ComputeGate(cache_entries=2)
    for key in "abc":
        gate.run(key, lambda k=key: k)
    assert gate.lookup("a") is None and gate.lookup("c") == "c"


def test_concurrent_sessions_through_the_gate_get_the_serial_results_of_the_engine():
    """Four sessions ask for order profiles of different images at once: each gets exactly the
    result a lone, serial call gives (no cross-talk between sessions sharing one model)."""
    from mimi.analysis import image_game, interaction_profile
    from mimi.core.compute import freeze
    from mimi.models.networks import SmallCNN

    torch.manual_seed(0)
    model = freeze(SmallCNN())
    images = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    kwargs = dict(samples=2, pair_count=4, ratios=(0.1, 0.5, 1.0), seed=3)

    def profile(k: int):
        return interaction_profile(image_game(model, images[k], k, images[k] * 0.9, grid="4x4"), **kwargs)

    serial = [profile(k) for k in range(4)]
    gate = ComputeGate(slots=2, poll_s=0.01)
    got: dict[int, object] = {}
    threads = [threading.Thread(target=lambda k=k: got.__setitem__(k, gate.run(content_key(images[k], kwargs),
                                                                               lambda: profile(k))))
               for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    for k in range(4):
        np.testing.assert_array_equal(got[k].interaction.clean.mean, serial[k].interaction.clean.mean)
        np.testing.assert_array_equal(got[k].interaction.adversarial.mean, serial[k].interaction.adversarial.mean)
