"""The dashboard bench section runs the pages through AppTest and reports its rows."""

from __future__ import annotations

import pytest

from tests.conftest_app import app_env, test_zoo  # noqa: F401  (fixtures)


@pytest.mark.slow
def test_dashboard_bench_quick(app_env):
    from mimi.bench import dashboard

    report = dashboard.run(quick=True)
    seconds = {row[0].split(": ", 1)[1].split(" [s]")[0]: row[1] for row in report["rows"]}
    pages = {"disentanglement", "defenses", "detection", "recovery", "study", "models"}
    assert {f"first visit of /{page} after the default view" for page in pages} <= set(seconds)
    assert all(isinstance(v, float) and v > 0 for v in seconds.values())
    default_view = seconds["default view (/attack + /interactions + /pairs)"]
    parts = [v for k, v in seconds.items() if k.startswith(("/attack", "/interactions", "/pairs"))]
    assert default_view == pytest.approx(sum(parts), abs=0.02)        # the total is the sum of its pages
    first = seconds["/interactions (profiles + exact decomposition, 2 models)"]
    assert seconds["revisit /interactions (cached)"] < first                # served from the cache
