"""The dashboard bench section runs the pages through AppTest and reports its rows."""

from __future__ import annotations

import pytest

from tests.conftest_app import app_env, test_zoo  # noqa: F401  (fixtures)


@pytest.mark.slow
def test_dashboard_bench_quick(app_env):
    from mimi.bench import dashboard

    report = dashboard.run(quick=True)
    rows = report["rows"]
    assert len(rows) == 6 and all(row[0].startswith("dashboard: ") for row in rows)
    assert [row[2] for row in rows] == ["< 2", "< 2", "", "", "< 10", "< 1"]
    seconds = {row[0]: row[1] for row in rows}
    assert all(isinstance(v, float) and v > 0 for v in seconds.values())
    total = rows[4][1]
    assert total == pytest.approx(rows[1][1] + rows[2][1] + rows[3][1], abs=0.02)
    assert rows[5][1] < rows[2][1]                 # a revisit is served from the cache
