"""The Streamlit side of the gate: a rerun request stops the engine at its next batch, cleanly."""

from __future__ import annotations

import pytest
import torch
from streamlit.runtime.scriptrunner_utils.exceptions import RerunException

from mimi.ui import compute


class FakeBar:
    """Stands in for st.progress: the ``fail_at``-th update finds a pending rerun, as Streamlit does."""

    def __init__(self, fail_at: int) -> None:
        self.updates, self.fail_at = 0, fail_at

    def progress(self, value, text=None):
        self.updates += 1
        if self.updates == self.fail_at:
            raise RerunException(None)


class FakeSlot:
    def __init__(self, bar: FakeBar) -> None:
        self.bar = bar
        self.emptied = False

    def progress(self, value, text=None):
        return self.bar

    def empty(self):
        self.emptied = True


@pytest.fixture
def fresh_gate(monkeypatch):
    gate = compute.ComputeGate(slots=1, poll_s=0.01)
    monkeypatch.setattr(compute, "gate", lambda: gate)
    return gate


def use_bar(monkeypatch, fail_at: int) -> FakeSlot:
    slot = FakeSlot(FakeBar(fail_at))
    monkeypatch.setattr(compute.st, "empty", lambda: slot)
    return slot


def test_a_rerun_request_cancels_the_engine_at_its_next_batch_and_caches_nothing(monkeypatch, fresh_gate):
    from mimi.analysis import image_game, interaction_profile
    from mimi.core.compute import freeze
    from mimi.models.networks import SmallCNN

    torch.manual_seed(0)
    model = freeze(SmallCNN())
    image = torch.rand(1, 28, 28, generator=torch.Generator().manual_seed(0))
    batches = []

    def run(progress):
        def counting(done, total, message=""):
            batches.append(done)
            progress(done, total, message)
        return interaction_profile(image_game(model, image, 0, grid="3x3", batch_size=8, progress=counting),
                                   ratios=(0.5, 1.0), samples=2, pair_count=2)

    use_bar(monkeypatch, fail_at=3)
    with pytest.raises(RerunException):
        compute.compute("profile", run, "key")
    assert len(batches) == 3                       # stopped at the batch that saw the request
    assert fresh_gate.status().cached == 0 and fresh_gate.status().running == 0
    slot = use_bar(monkeypatch, fail_at=10**9)
    result = compute.compute("profile", run, "key")
    assert slot.emptied and len(batches) > 6       # the rerun computes it in full
    assert compute.compute("profile", lambda progress: pytest.fail("not cached"), "key") is result


def test_requests_above_the_work_bound_stop_at_the_first_batch(monkeypatch, fresh_gate):
    from mimi.ui.params import MAX_FORWARD_PASSES, WorkTooLarge

    calls = []

    def huge(progress):
        for done in range(1, 4):
            calls.append(done)
            progress(done * 100, MAX_FORWARD_PASSES + 1, "")
        return "never"

    use_bar(monkeypatch, fail_at=10**9)
    with pytest.raises(WorkTooLarge, match="2,000,000"):
        compute.compute("huge", huge, 1)
    assert calls == [1] and fresh_gate.status().cached == 0


def test_time_estimates_follow_the_speed_of_the_models_last_computation(monkeypatch, fresh_gate):
    import time

    use_bar(monkeypatch, fail_at=10**9)
    monkeypatch.setattr(compute, "_probed_rate", lambda *args: 1000.0)   # passes per second of a probe batch
    compute._observed_rates().clear()
    first = compute.work("m", "cpu", 5000, "Fewer pairs")
    assert first.seconds == 5.0 and "5,000 forward passes, about 5 s" in first.describe()

    def slow(progress):
        time.sleep(0.3)
        return "done"

    assert compute.compute("slow", slow, 1, planned=first) == "done"
    later = compute.work("m", "cpu", 5000, "Fewer pairs")
    assert 0.3 <= later.seconds < 1.5                                       # the observed speed, not the probe's
    assert compute.work("other", "cpu", 5000, "").seconds == 5.0             # per model
    compute._observed_rates().clear()
