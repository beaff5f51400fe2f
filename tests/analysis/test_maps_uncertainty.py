"""Uncertainty on the cell maps: the ring on every cell within 2 SE of zero, its rule in the subtitle, the SE and the
mark in the CSV, and SEs that match the spread of the maps over seeds."""

from __future__ import annotations

import csv
import io
from types import SimpleNamespace

import numpy as np
import plotly.graph_objects as go
import pytest
import torch
from torch import nn

from mimi import analysis as A
from mimi import figures
from mimi.analysis import Contrast, Estimated
from mimi.core.compute import freeze
from mimi.figures import maps as figures_maps
from mimi.models.networks import Normalize

NAN = float("nan")


def layers(fig: go.Figure) -> list[go.Scatter]:
    """The ring traces, each checked against the white halo drawn just under it (same rings, wider)."""
    found = []
    for k, trace in enumerate(fig.data):
        if trace.name == figures.UNCERTAIN_LAYER:
            halo = fig.data[k - 1]
            assert halo.name == figures.UNCERTAIN_LAYER + " halo" and halo.xaxis == trace.xaxis
            np.testing.assert_array_equal(halo.x, trace.x)
            assert halo.line.width == trace.line.width + 1.5 and halo.line.color.startswith("rgba(255,255,255")
            found.append(trace)
    return found


def marked(layer: go.Scatter) -> set[tuple[int, int]]:
    """The (row, col) cells a layer rings, from where its rings are drawn (each ring's vertices about its centre)."""
    x, y = np.asarray(layer.x, dtype=float), np.asarray(layer.y, dtype=float)
    rings = np.flatnonzero(np.isnan(x))                               # one gap after each ring
    assert np.array_equal(rings, np.flatnonzero(np.isnan(y)))
    centres = [(np.mean(y[a + 1:b]), np.mean(x[a + 1:b])) for a, b in zip(np.r_[-1, rings[:-1]], rings)]
    found = {(int(round(r)), int(round(c))) for r, c in centres}
    assert found == {tuple(map(int, cell)) for cell in np.reshape(layer.customdata, (-1, 2))}
    return found


def test_a_cell_is_marked_when_its_value_is_within_two_se_of_zero():
    value = np.array([0.0, 0.19, -0.19, 0.2, 1.0, 0.0, 0.5, NAN, -0.0])
    se = np.array([0.1, 0.1, 0.1, 0.1, 0.1, 0.0, NAN, 0.1, 0.0])
    # at 0 with an SE: marked; |v| < 2 SE either sign; 2 SE itself and large values: not; SE 0 (exact), SE NaN
    # (unknown) and a NaN value (the chosen cell): never
    assert figures_maps.within_2se(value, se).tolist() == [True, True, True, False, False, False, False, False, False]


def pair_heatmap(params: dict | None = None) -> SimpleNamespace:
    """A 2x3 PairHeatmap's drawn fields: the chosen cell (0, 0) is NaN; each side has its own SE."""
    clean = np.array([[NAN, 0.0, 0.05], [1.0, -0.3, 0.0]])
    adversarial = np.array([[NAN, 0.5, -0.5], [0.01, 2.0, 0.0]])
    clean_se = np.array([[NAN, 0.1, 0.1], [0.1, 0.1, 0.0]])            # (1, 2): exact 0, SE 0
    adversarial_se = np.array([[NAN, 0.3, 0.2], [NAN, 0.1, 0.1]])      # (1, 0): SE unknown
    difference_se = np.array([[NAN, 0.01, 0.5], [0.5, 0.1, 0.0]])
    pooled = Contrast(Estimated(clean, clean_se), Estimated(adversarial, adversarial_se),
                      Estimated(clean - adversarial, difference_se))
    return SimpleNamespace(cell=0, pooled=pooled, params=params or {})


def test_pair_maps_ring_exactly_the_cells_within_two_se_of_zero_of_their_own_panel():
    fig = figures_maps.pair_maps_figure({"A": pair_heatmap({"samples": 2})}, np.zeros((1, 4, 6)), title="cell (0, 0)")
    clean, adversarial, difference = layers(fig)
    assert marked(clean) == {(0, 1), (0, 2)}
    assert marked(adversarial) == {(0, 1), (1, 2)}          # 0.5 < 2 x 0.3; -0.5 = 2.5 SE; (1, 0) SE unknown
    assert marked(difference) == {(0, 2), (1, 0)}           # 0.55 < 1.0, 0.99 < 1.0; -0.5 at SE 0.01: not
    heat = [t for t in fig.data if t.type == "heatmap" and t.name != "image"]
    assert [layer.xaxis for layer in (clean, adversarial, difference)] == [h.xaxis for h in heat]
    assert all(h.zmid == 0 and h.zmin == -h.zmax == pytest.approx(-2.3) for h in heat)   # centred at zero
    x, y = np.asarray(clean.x[:17]), np.asarray(clean.y[:17])       # a closed ring of radius 0.3 cell: in the
    np.testing.assert_allclose(np.hypot(x - 1, y), 0.3)             # map's units, it scales with the panel
    assert (x[0], y[0]) == pytest.approx((x[-1], y[-1]))
    assert clean.mode == "lines" and clean.line.width == 2 and clean.hoverinfo == "skip" and clean.showlegend is False
    clicks = [t for t in fig.data if t.name == figures.CELL_LAYER]               # the click layer is intact and,
    assert len(clicks) == 4 and clicks[0].text is None                           # over the maps, says value ± SE
    assert list(clicks[1].text[:3]) == ["the chosen cell", "I = 0.0000 ± 0.1000 (SE), within 2 SE of zero",
                                        "I = 0.0500 ± 0.1000 (SE), within 2 SE of zero"]
    assert clicks[1].text[3] == "I = 1.0000 ± 0.1000 (SE)" and "%{text}" in clicks[1].hovertemplate
    # the rule is a subtitle line of its own, with what the SE covers
    assert ("<sup>cells marked ○: within 2 SE of zero (SE over 2 random context draws per order)</sup>"
            in fig.layout.title.text)


def test_the_csv_of_the_pair_maps_gives_each_cell_its_se_and_its_mark():
    fig = figures_maps.pair_maps_figure({"A": pair_heatmap()}, np.zeros((1, 4, 6)), title="cell (0, 0)")
    assert "SE over the random context draws per order" in fig.layout.title.text   # a result without params
    rows = figures.figure_rows(fig)
    assert len(rows) == 4 * 6 + 3 * 6                       # image pixels, then the three maps' cells
    by_cell = {(r["trace"], r["y"], r["x"]): r for r in rows}
    assert by_cell["clean", 0, 1] == dict(trace="clean", panel="x2", x=1, y=0, value=0.0, error=0.1, within_2se=True)
    assert by_cell["clean", 1, 0]["within_2se"] is False and by_cell["clean", 1, 0]["error"] == 0.1
    assert by_cell["clean", 1, 2]["within_2se"] is False and by_cell["clean", 1, 2]["error"] == 0.0
    assert np.isnan(by_cell["adversarial", 1, 0]["error"]) and by_cell["adversarial", 1, 0]["within_2se"] is False
    assert by_cell["clean − adversarial", 1, 0]["within_2se"] is True
    assert {r["trace"] for r in rows if "within_2se" not in r} == {"image"}
    table = list(csv.DictReader(io.StringIO(figures.figure_csv(fig))))
    assert list(table[0]) == ["trace", "panel", "x", "y", "value", "error", "within_2se"]
    assert table[0]["within_2se"] == "" and table[0]["trace"] == "image"
    assert {(r["trace"], r["y"], r["x"]) for r in table if r["within_2se"] == "True"} == {
        ("clean", "0", "1"), ("clean", "0", "2"), ("adversarial", "0", "1"), ("adversarial", "1", "2"),
        ("clean − adversarial", "0", "2"),
        ("clean − adversarial", "1", "0")}


def test_pair_maps_with_no_cell_near_zero_keep_an_empty_layer_and_the_rule():
    maps = SimpleNamespace(cell=4, pooled=Contrast(Estimated(np.full((14, 14), 5.0), np.full((14, 14), 0.1))))
    fig = figures_maps.pair_maps_figure({"A": maps}, np.zeros((1, 28, 28)))
    (layer,) = layers(fig)
    assert marked(layer) == set() and layer.line.width == 1            # a finer line on a finer grid
    assert fig.layout.title.text.startswith("<sup>cells marked ○")      # no title: the rule alone
    assert [r["within_2se"] for r in figures.figure_rows(fig) if r["trace"] == "clean"] == [False] * 14 * 14


def shapley(values, se, samples=16) -> SimpleNamespace:
    return SimpleNamespace(phi=Contrast(Estimated(np.asarray(values, float), se)), params={"samples": samples})


def test_shapley_maps_ring_cells_within_two_se_and_say_over_which_permutations():
    a = shapley([[1.0, -0.05], [0.0, NAN]], np.array([[0.1, 0.05], [0.0, 0.1]]))
    b = shapley([[0.0, 0.3], [-0.1, 2.0]], np.array([[0.2, 0.1], [0.1, NAN]]))
    fig = figures_maps.shapley_figure({"A": a, "B": b}, np.zeros((1, 4, 4)))
    first, second = layers(fig)
    assert (first.xaxis, second.xaxis) == ("x2", "x3")
    assert marked(first) == {(0, 1)} and marked(second) == {(0, 0), (1, 0)}
    assert "cells marked ○: within 2 SE of zero (SE over 16 random permutation pairs)" in fig.layout.title.text
    table = list(csv.DictReader(io.StringIO(figures.figure_csv(fig))))
    rows = [(r["trace"], r["y"], r["x"], r["error"], r["within_2se"]) for r in table if r["trace"] != "image"]
    assert rows == [("A", "0", "0", "0.1", "False"), ("A", "0", "1", "0.05", "True"), ("A", "1", "0", "0.0", "False"),
                    ("A", "1", "1", "0.1", "False"), ("B", "0", "0", "0.2", "True"), ("B", "0", "1", "0.1", "False"),
                    ("B", "1", "0", "0.1", "True"), ("B", "1", "1", "nan", "False")]


def test_a_shapley_map_without_se_has_no_mark_and_no_rule_and_other_charts_keep_their_csv():
    fig = figures_maps.shapley_figure({"A": shapley(np.zeros((2, 2)), None)}, np.zeros((1, 4, 4)))
    assert layers(fig) == [] and "within 2 SE" not in fig.layout.title.text
    assert "within_2se" not in figures.figure_csv(fig)
    bars = go.Figure(go.Bar(x=["a"], y=[1.0], error_y=dict(array=[0.1])))
    assert figures.figure_csv(bars).splitlines()[0] == "trace,panel,x,y,value,error"


# --------------------------------------------------------------------------- are the SEs honest?
def tiny_net() -> nn.Module:
    """normalize -> conv -> ReLU -> pool -> linear on 1x12x12 inputs, 4 classes; weights from a seeded generator."""
    gen = torch.Generator().manual_seed(0)
    net = nn.Sequential(Normalize((0.3,), (0.3,)), nn.utils.skip_init(nn.Conv2d, 1, 6, 3, padding=1), nn.ReLU(),
                        nn.AvgPool2d(3), nn.Flatten(), nn.utils.skip_init(nn.Linear, 6 * 4 * 4, 4))
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(0.5 * torch.randn(p.shape, generator=gen))
    return freeze(net)


SEEDS = 30


def spread_over_reported_se(contrasts: list[Contrast], side: str) -> float:
    """sqrt(mean over cells of the variance of the estimates across seeds / mean over cells and seeds of SE²),
    over the cells with an SE (not the chosen cell, not exact ones): 1 when the SEs are honest."""
    means = np.stack([getattr(c, side).mean for c in contrasts])
    se = np.stack([getattr(c, side).se for c in contrasts])
    random = np.isfinite(means[0]) & (se.max(axis=0) > 0)
    assert random.sum() >= 12
    return float(np.sqrt(means.var(axis=0, ddof=1)[random].mean() / (se[:, random] ** 2).mean()))


@pytest.fixture(scope="module")
def game_inputs():
    gen = torch.Generator().manual_seed(3)
    x = torch.rand(1, 12, 12, generator=gen)
    return tiny_net(), x, (x + 0.15 * torch.randn(1, 12, 12, generator=gen)).clamp(0, 1)


@pytest.mark.parametrize("side", ["clean", "adversarial", "difference"])
def test_map_standard_errors_match_the_spread_of_the_maps_over_seeds(game_inputs, side):
    """30 seeds of the dashboard's heatmap (2 context draws per order, coverage 1, orders 0.2/0.5/0.8 pooled) and of
    a 4-pair Shapley map on a 4x4 grid: the spread of each cell's estimate over the seeds matches the reported SE
    (root mean squares over the cells; measured 0.95-1.03). Tolerance 0.8-1.25: with 30 seeds and 15 cells the
    ratio's own sampling error is about 0.06."""
    model, x, x_adv = game_inputs
    game = A.image_game(model, x, 1, x_adv, grid="4x4")
    heatmaps = [A.pair_heatmap(game, (1, 1), samples=2, coverage=1, seed=seed).pooled
                for seed in range(SEEDS)]
    shapleys = [A.shapley_map(game, samples=4, seed=seed).phi for seed in range(SEEDS)]
    assert 0.8 <= spread_over_reported_se(heatmaps, side) <= 1.25
    assert 0.8 <= spread_over_reported_se(shapleys, side) <= 1.25
