"""``mimi bench``: the harness (sections, goals, table, JSON) and the engine section on small settings."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

import mimi.bench as bench
from mimi import analysis
from mimi.bench import BenchReport, goal_met, run_sections
from mimi.cli import main
from mimi.core.results import load_result


def test_goal_parsing():
    assert goal_met(0.95, ">= 0.9") is True and goal_met(0.85, ">= 0.9") is False
    assert goal_met(9.5, "< 10 s") is True and goal_met(10.0, "< 10 s") is False
    assert goal_met(0.4, "<= 0.5") is True and goal_met(3, "") is None and goal_met("n/a", "< 1") is None


def test_harness_skips_missing_and_reports_failing_sections(monkeypatch):
    good = types.ModuleType("mimi.bench.good")
    good.run = lambda quick=False, device="cpu": {"rows": [["speed", 2.0, ">= 1"], ["cost", 3.0, "< 1"]],
                                                   "notes": ["a note"]}
    broken = types.ModuleType("mimi.bench.broken")

    def fail(quick=False, device="cpu"):
        raise RuntimeError("boom")

    broken.run = fail
    monkeypatch.setitem(sys.modules, "mimi.bench.good", good)
    monkeypatch.setitem(sys.modules, "mimi.bench.broken", broken)
    monkeypatch.setattr(bench, "SECTIONS", ("good", "broken", "absent"))
    report = run_sections(quick=True)
    assert report.sections["absent"] == {"skipped": "mimi.bench.absent is not installed"}
    assert report.failed == ["broken"] and "boom" in report.sections["broken"]["error"]
    table = report.markdown()
    assert "| good | speed | 2 | >= 1 | yes |" in table and "| good | cost | 3 | < 1 | NO |" in table
    assert "- good: a note" in table and "absent: skipped" in table and "cores" in table
    back = BenchReport.from_json(report.to_json())
    assert back.sections["good"]["rows"][0] == ["speed", 2.0, ">= 1"]
    with pytest.raises(ValueError, match="unknown bench section"):
        run_sections(["nope"])


def test_engine_section_quick(monkeypatch, tmp_path, capsys):
    small = dict(pair_count=4, ratios=(0.5,), samples=2, heatmap_ratios=(0.5,), heatmap_samples=2, steps=2)
    for key, value in small.items():     # the one shared dict, as every reader sees it
        monkeypatch.setitem(analysis.DEFAULTS, key, value)
    out = tmp_path / "bench.json"
    assert main(["bench", "--quick", "--only", "engine", "--json", str(out)]) == 0
    table = capsys.readouterr().out
    assert "engine / raw throughput" in table and "dashboard default view" in table
    report = load_result(out)
    section = report.sections["engine"]
    metrics = {row[0]: row[1] for row in section["rows"]}
    masked = metrics["(a) engine masked forward, images per CPU-second"]
    raw = metrics["(a) raw forward of the engine's module (channels-last on CPU), images per CPU-second"]
    assert metrics["(a) engine / raw throughput (same module)"] == pytest.approx(masked / raw, rel=0.01, abs=0.002)
    assert section["dashboard"]["forward_passes"] > 0 and section["dashboard"]["defaults"]["samples"] == 2
    assert set(section["dashboard"]["per_model_s"]) == {"fmnist-standard", "fmnist-pgd-at"}


def test_paper224_section_needs_cuda_for_the_full_run_and_runs_quick_on_cpu():
    from mimi.bench import paper224

    full = paper224.run(quick=False, device="cpu")
    assert full["rows"] == [] and "CUDA" in full["notes"][0]
    quick = paper224.run(quick=True, device="cpu")
    metrics = {row[0].split(" (")[0]: row[1] for row in quick["rows"]}
    assert quick["paper_forward_passes"] == 2 * 4 * 2 * 4      # 2 orders x 4 pairs x 2 contexts x 4 terms
    assert quick["mimi_forward_passes"] > 0 and set(quick["units"]) == {127, 254}
    assert 0 < metrics["(a) engine / raw throughput"] < 10
    assert 0 < quick["ratio"]["ratio"] < 10 and quick["ratio"]["per_order_ratio"][254] < 0.05


def test_masked224_section_quick_on_cpu_reports_rates_and_ratios(monkeypatch, capsys):
    from mimi.bench import masked224

    assert "masked224" in bench.SECTIONS
    section = masked224.run(quick=True, device="cpu")
    result = section["throughput"]
    assert result["device"] == "cpu" and result["grid"] == "16x16" and result["precision"] == "float32"
    assert result["rows_per_batch"] == {"single": result["batch_size"], "pair": max(1, result["batch_size"] // 2)}
    assert result["single_ratio"] == pytest.approx(result["single_rows_per_s"] / result["raw_images_per_s"])
    assert result["pair_ratio"] == pytest.approx(2 * result["pair_rows_per_s"] / result["raw_images_per_s"])
    assert all(result[key] > 0 for key in ("raw_images_per_s", "raw_stored_images_per_s", "single_rows_per_s",
                                           "pair_rows_per_s"))
    goals = [row for row in section["rows"] if row[2] == ">= 0.9"]
    assert [row[1] for row in goals] == [round(result["single_ratio"], 3), round(result["pair_ratio"], 3)]
    monkeypatch.setattr(masked224, "run", lambda quick=False, device="cpu": section)
    assert main(["bench", "--only", "masked224", "--quick"]) == 0
    out = capsys.readouterr().out
    assert "| masked224 | batch size (images per forward pass, the engine's default) |" in out


def test_anytime_section_quick_keeps_each_budget_on_the_zoo_and_at_224_px():
    from mimi.bench import anytime

    assert "anytime" in bench.SECTIONS
    section = anytime.run(quick=True, device="cpu")
    results = section["anytime"]
    assert [r["budget_s"] for r in results] == [b for case in anytime.QUICK_BUDGETS for b in case]
    for r in results:
        assert r["wall_s"] <= 1.5 * r["budget_s"] and 0 < r["first_chart_s"] <= r["wall_s"], r
        assert r["rounds"] >= 1 and np.isfinite(r["high_order_delta_i_se"]) and r["first_round_estimate_s"] > 0
    assert results[-1]["design"]["pair_count"] < 48     # at 224 px one round as asked would take minutes
