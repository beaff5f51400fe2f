"""Anytime order profiles on /interactions (AppTest): a first chart after one round, redraws with shrinking SEs,
the budget kept, Stop, more time, a target SE, a budget too small, bad budgets, and first rounds ahead in the
gate's queue."""

from __future__ import annotations

import threading
import time

import pytest

from mimi.ui import refine
from mimi.ui.gate import ComputeGate
from mimi.ui.state import STATE_KEY
from tests.conftest_app import app_env, app_test, errors, test_zoo  # noqa: F401  (fixtures)

PAGE = "views/interactions.py"


@pytest.fixture
def draws(monkeypatch):
    """Every redraw of the page's charts: {model: (rounds, largest SE, stopped)} after each round."""
    seen: list[dict] = []
    original = refine.refined_profiles

    def recording(*args, **kwargs):
        draw = args[7]

        def record(profiles, statuses):
            seen.append({name: (s.rounds, s.largest_se, s.stopped) for name, s in statuses.items()})
            draw(profiles, statuses)

        return original(*args[:7], record, *args[8:], **kwargs)

    monkeypatch.setattr(refine, "refined_profiles", recording)
    return seen


def statuses(at) -> str:
    return " ".join(c.value for c in at.caption if "budget, largest SE" in c.value)


def test_a_first_chart_then_redraws_with_smaller_ses_within_the_budget(app_env, draws):
    start = time.perf_counter()
    at = app_test(PAGE, budget="4")
    assert not errors(at)
    assert time.perf_counter() - start < 60
    first = draws[0]
    assert list(first) == ["fmnist-standard"] and first["fmnist-standard"][0] == 1     # model A's chart first
    final = draws[-1]
    for name in ("fmnist-standard", "fmnist-pgd-at"):
        rounds, se, stopped = final[name]
        first_se = next(d[name][1] for d in draws if name in d)
        assert rounds >= 2 and se < first_se, (name, rounds, se, first_se)
        assert stopped == "budget"
    text = statuses(at)
    assert "of a 4 s budget" in text and "at the time budget" in text
    seconds = [float(part.split(" s of")[0].split(" in ")[-1]) for part in text.split("**")[2::2]]
    assert all(s <= 1.5 * 4 for s in seconds), text


def test_stop_keeps_the_rounds_so_far_and_more_time_goes_on(app_env, draws, monkeypatch):
    keys, original = [], refine.request_key
    monkeypatch.setattr(refine, "request_key", lambda *a, **k: keys.append(original(*a, **k)) or keys[-1])
    at = app_test(PAGE, budget="2", seed="11")   # a seed of its own: no other test's rounds in the cache
    before = draws[-1]["fmnist-standard"][0]
    # the user raises the budget, and presses Stop as the page starts refining (what the button's callback does)
    at.session_state[STATE_KEY]["budget"] = 60.0
    at.session_state[refine.STOP_KEY] = keys[-1]
    draws.clear()
    start = time.perf_counter()
    at.run()
    assert not errors(at) and time.perf_counter() - start < 30
    assert draws[-1]["fmnist-standard"][0] == before                 # nothing new computed
    assert "stopped by the user" in statuses(at)
    assert [b.label for b in at.button if b.label.startswith("Refine")] == ["Refine 60 s more"]
    draws.clear()
    at.session_state[STATE_KEY]["budget"] = 3.0
    at.run()
    next(b for b in at.button if b.label.startswith("Refine")).click()
    at.run()
    assert not errors(at) and at.session_state[STATE_KEY]["budget"] == 6.0
    assert refine.STOP_KEY not in at.session_state
    assert draws[-1]["fmnist-standard"][0] > before
    assert "of a 6 s budget" in statuses(at)


def test_a_target_se_ends_refining_early(app_env, draws):
    at = app_test(PAGE, budget="30", tse="5")
    assert not errors(at)
    assert "at the target SE" in statuses(at)
    assert all(d[name][0] == 1 for d in draws[-1:] for name in d)        # the first round already meets ±5


def test_a_budget_too_small_says_what_the_smallest_round_needs(app_env, monkeypatch):
    monkeypatch.setenv("MIMI_MAX_SECONDS", "600")
    at = app_test(PAGE, budget="1", grid="16x16", pairs="all", pcount="0")
    shown = " ".join(errors(at))
    assert not at.exception
    if "too small" in shown:   # on a fast machine the smallest round may fit in 1 s
        assert "smallest honest round" in shown and "give at least" in shown


@pytest.mark.parametrize("bad", ["0", "-5", "soon", "1e9"])
def test_bad_budgets_are_refused_with_a_clear_message(app_env, bad):
    at = app_test(None, budget=bad)
    assert not at.exception
    assert any("budget" in w.value and "allowed: 1 … 600" in w.value for w in at.warning), \
        [w.value for w in at.warning]
    assert at.session_state[STATE_KEY]["budget"] == 30.0          # the default stays


def test_first_rounds_go_ahead_of_refining_rounds_in_the_queue():
    gate, order, hold = ComputeGate(slots=1, poll_s=0.01), [], threading.Event()

    def job(name, wait=False):
        def run():
            if wait:
                hold.wait(5)
            order.append(name)
            return name
        return run

    blocker = threading.Thread(target=gate.run, args=("busy", job("busy", True)))
    blocker.start()
    time.sleep(0.05)
    threads = [threading.Thread(target=gate.run, args=(key, job(key)), kwargs={"priority": priority})
               for key, priority in (("refining-1", 1), ("refining-2", 1), ("first", 0))]
    for thread in threads:
        thread.start()
        time.sleep(0.05)
    hold.set()
    for thread in [blocker, *threads]:
        thread.join(5)
    assert order == ["busy", "first", "refining-1", "refining-2"]
