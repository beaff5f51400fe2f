"""Figures from small hand-made results: the right traces, values, error bars, scales and exports."""

from __future__ import annotations

import csv
import io
from types import SimpleNamespace

import numpy as np
import plotly.graph_objects as go
import pytest

from mimi import figures
from mimi.analysis import Contrast, Estimated
from mimi.data.datasets import FMNIST_CLASSES
from mimi.figures import attack as figures_attack
from mimi.figures import maps as figures_maps
from mimi.figures import profiles as figures_profiles


def profile(scale: float = 1.0, adversarial: bool = True) -> SimpleNamespace:
    ratios = np.array([0.1, 0.5, 1.0])
    clean = Estimated(scale * np.array([0.1, 0.2, 0.3]), np.array([0.01, 0.02, 0.03]))
    if not adversarial:
        return SimpleNamespace(orders=np.array([4, 23, 47]), ratios=ratios, interaction=Contrast(clean),
                               utility_by_order=None)
    adv = Estimated(scale * np.array([0.05, 0.1, -0.2]), np.array([0.01, 0.01, 0.01]))
    return SimpleNamespace(
        orders=np.array([4, 23, 47]), ratios=ratios,
        interaction=Contrast(clean, adv, Estimated(clean.mean - adv.mean, np.array([0.01, 0.01, 0.01]))),
        utility_by_order=Estimated(scale * np.array([0.001, 0.002, 0.01]), np.array([0.0001, 0.0002, 0.001])))


def heatmap(cell, clean: np.ndarray, adversarial: np.ndarray | None = None) -> SimpleNamespace:
    """The fields of a PairHeatmap that :func:`figures_maps.pair_maps_figure` draws (difference = clean -
    adversarial)."""
    se = np.full_like(clean, 0.25)
    pooled = Contrast(Estimated(clean, se)) if adversarial is None else \
        Contrast(Estimated(clean, se), Estimated(adversarial, se / 2), Estimated(clean - adversarial, se * 1.5))
    return SimpleNamespace(cell=cell, pooled=pooled)


def test_order_profile_has_clean_and_adversarial_bars_with_standard_errors_per_model():
    fig = figures_profiles.order_profile_figure({"fmnist-standard": profile(), "fmnist-pgd-at": profile(0.5)})
    bars = [t for t in fig.data if t.type == "bar"]
    assert [(t.name, t.xaxis) for t in bars] == [("clean", "x"), ("adversarial", "x"), ("clean", "x2"),
                                                  ("adversarial", "x2")]
    assert list(bars[0].x) == ["0.1 (m=4)", "0.5 (m=23)", "1 (m=47)"]
    np.testing.assert_allclose(bars[2].y, [0.05, 0.1, 0.15])
    np.testing.assert_allclose(bars[1].error_y.array, [0.01, 0.01, 0.01])
    assert bars[0].marker.color == figures.CLEAN and bars[1].marker.color == figures.ADVERSARIAL
    assert fig.layout.yaxis2.matches == "y"          # one y scale: models compare at a glance
    own = figures_profiles.order_profile_figure({"fmnist-standard": profile(), "fmnist-pgd-at": profile(0.5)},
                                                shared_y=False)
    assert own.layout.yaxis2.matches is None and "own scale per panel" in own.layout.yaxis.title.text


def test_order_profile_without_attack_shows_clean_only_and_delta_j_skips_it():
    assert [t.name for t in figures_profiles.order_profile_figure({"m": profile(adversarial=False)}).data] == ["clean"]
    fig = figures_profiles.delta_j_figure({"a": profile(), "clean-only": profile(adversarial=False), "b": profile(2)})
    assert [t.name for t in fig.data] == ["a", "b"]
    np.testing.assert_allclose(fig.data[1].y, [0.002, 0.004, 0.02])
    np.testing.assert_allclose(fig.data[0].error_y.array, [0.0001, 0.0002, 0.001])


def test_confidence_bars_show_the_most_probable_classes_before_or_after_with_both_probabilities():
    probs_clean = [0.9, 0.01, 0.02, 0.0, 0.0, 0.0, 0.06, 0.005, 0.003, 0.002]
    probs_adv = [0.2, 0.01, 0.0, 0.05, 0.0, 0.01, 0.7, 0.02, 0.01, 0.0]
    fig = figures_attack.confidence_figure(FMNIST_CLASSES, range(10), probs_clean, range(10), probs_adv, true_label=0,
                                    shown=4)
    clean, adv = fig.data
    assert list(clean.y) == ["T-shirt/top ✓", "Shirt", "Dress", "Pullover"]   # by the larger probability
    np.testing.assert_allclose(clean.x, [0.9, 0.06, 0.0, 0.02])
    np.testing.assert_allclose(adv.x, [0.2, 0.7, 0.05, 0.0])
    assert adv.text[0] == "20.0%" and "top" not in " ".join(clean.text + adv.text)
    partial = figures_attack.confidence_figure(FMNIST_CLASSES, [0, 6], [0.9, 0.06], [6, 3], [0.7, 0.05], true_label=0)
    assert list(partial.data[1].text) == ["< 5.0%", "70.0%", "5.0%"]          # below the shorter list, said so


def test_attack_figure_perturbation_panel_is_the_difference_on_a_symmetric_eps_scale():
    clean = np.zeros((1, 4, 4))
    adv = clean.copy()
    adv[0, 1, 2] = 0.1
    fig = figures_attack.attack_figure(clean, adv, eps=0.1)
    delta = fig.data[2]
    assert (delta.zmin, delta.zmax) == (-0.1, 0.1)
    assert np.asarray(delta.z)[1, 2] == pytest.approx(0.1) and np.asarray(delta.z).sum() == pytest.approx(0.1)
    assert fig.layout.yaxis.autorange == "reversed"


def test_pair_maps_have_a_clickable_cell_layer_on_every_panel_and_a_shared_symmetric_scale():
    clean = np.arange(9.0).reshape(3, 3) - 4
    maps = heatmap((1, 2), clean, clean / 2)
    fig = figures_maps.pair_maps_figure({"A": maps, "B": maps}, np.zeros((1, 6, 6)))
    layers = [t for t in fig.data if t.name == figures.CELL_LAYER]
    assert len(layers) == 8                        # 2 models x (image, clean, adversarial, difference)
    assert list(layers[0].customdata) == list(range(9))
    assert (list(layers[0].x[:4]), list(layers[0].y[:4])) == ([0, 1, 2, 0], [0, 0, 0, 1])
    heat = [t for t in fig.data if t.type == "heatmap" and t.name != "image"]
    assert all((h.zmin, h.zmax) == (-4.0, 4.0) for h in heat)
    # every cell's hover gives its value and its SE, of the panel it is on
    assert [float(np.asarray(h.customdata)[0, 0]) for h in heat[:3]] == [0.25, 0.125, 0.375]
    assert all("± %{customdata:.4f} (SE)" in h.hovertemplate for h in heat)
    image = fig.data[0]
    np.testing.assert_allclose(image.x, [-0.25, 0.25, 0.75, 1.25, 1.75, 2.25])   # 2 px per cell
    marks = [s for s in fig.layout.shapes]
    assert len(marks) == 8 and (marks[0].x0, marks[0].y0) == (1.5, 0.5)


def test_pair_maps_without_adversarial_show_image_and_clean_only():
    maps = heatmap(4, np.ones((3, 3)))
    fig = figures_maps.pair_maps_figure({"A": maps}, np.zeros((1, 6, 6)))
    assert [a.text for a in fig.layout.annotations] == ["image", "clean", "A"]   # column titles, then the row's
    assert (fig.layout.shapes[0].x0, fig.layout.shapes[0].y0) == (0.5, 0.5)   # cell 4 of 3x3 = (1, 1)


def test_shapley_and_disentanglement_figures():
    values = np.array([[1.0, -2.0], [0.5, 0.0]])
    phi = Contrast(Estimated(values, np.full((2, 2), 0.1)))
    fig = figures_maps.shapley_figure({"A": SimpleNamespace(phi=phi)}, np.zeros((1, 4, 4)))
    assert (fig.data[1].zmin, fig.data[1].zmax) == (-2.0, 2.0)
    np.testing.assert_allclose(fig.data[1].z, values)
    np.testing.assert_allclose(fig.data[1].customdata, np.full((2, 2), 0.1))
    d = SimpleNamespace(orders=np.array([1, 5, 6]), ratios=np.array([0.1, 0.8, 1.0]), d=np.array([0.8, 0.3, 1.0]),
                        d_low=np.array([0.7, 0.2, 1.0]), d_high=np.array([0.9, 0.4, 1.0]),
                        d_plugin=np.array([0.85, 0.5, 1.0]), trivial=np.array([False, False, True]),
                        per_image=np.zeros((4, 3)), debiased=True)
    fig = figures_profiles.disentanglement_figure({"std": d, "at": d})
    band, line, plugin = fig.data[0], fig.data[1], fig.data[2]
    assert band.fill == "toself" and list(band.y) == [0.9, 0.4, 0.2, 0.7]   # the trivial order is left out
    assert list(line.y) == [0.8, 0.3] and line.line.color == figures.model_colour("std")
    assert list(plugin.y) == [0.85, 0.5] and plugin.line.dash == "dot" and plugin.visible == "legendonly"
    assert fig.data[4].line.color == figures.model_colour("at")
    assert "over these 4 images" in fig.layout.title.text       # each subtitle clause on a line of its own:
    assert "bias-corrected</sup><br><sup>band: 95% over images" in fig.layout.title.text


def test_decomposition_waterfall_ends_in_a_total_beside_the_exact_value():
    fig = figures_profiles.decomposition_figure([("φ⁰", 0.5), ("m=0", 1.0), ("m=1", -0.25)], total=1.25)
    waterfall, exact = fig.data
    assert list(waterfall.measure) == ["relative"] * 3 + ["total"]
    assert exact.x[0] == 1.25 and exact.y[0] == "sum of parts"     # parts on rows of their own (narrow columns)
    low, high = fig.layout.xaxis.range                 # the running total peaks at 1.5: room beyond it and 0
    assert low < 0 < 1.5 < high and list(fig.layout.yaxis.ticktext)[-1] == "sum of parts"


def test_accuracy_from_cards_tolerates_missing_numbers():
    cards = [{"name": "a", "evaluation": {"clean_accuracy": 0.9, "pgd20_accuracy": 0.05}}, {"name": "b"}]
    fig = figures_attack.accuracy_figure(cards)
    assert list(fig.data[0].y) == [0.9, 0] and list(fig.data[1].text) == ["5.0%", "n/a"]


def test_csv_export_lists_every_plotted_value_and_skips_the_click_layer():
    fig = figures_profiles.order_profile_figure({"A": profile()})
    rows = list(csv.DictReader(io.StringIO(figures.figure_csv(fig))))
    assert len(rows) == 6
    assert rows[0] == {"trace": "clean", "panel": "x", "x": "0.1 (m=4)", "y": "0.1", "value": "", "error": "0.01"}
    maps = heatmap((0, 0), np.eye(2))
    heat_rows = figures.figure_rows(figures_maps.pair_maps_figure({"A": maps}, np.zeros((1, 4, 4))))
    assert {r["trace"] for r in heat_rows} == {"image", "clean"}
    assert [r["value"] for r in heat_rows if r["trace"] == "clean"] == [1.0, 0.0, 0.0, 1.0]
    hbar = figures.figure_rows(figures_attack.confidence_figure(FMNIST_CLASSES, [1], [1.0], [1], [0.5], 1))
    assert hbar[0]["x"] == "Trouser ✓" and hbar[1]["y"] == 0.5


def test_every_figure_is_valid_plotly_json():
    fig = figures_profiles.order_profile_figure({"A": profile()})
    assert isinstance(go.Figure(fig.to_dict()), go.Figure)


def test_each_model_keeps_its_colour_on_every_chart_and_no_model_is_clean_blue_or_adversarial_red():
    zoo = ["fmnist-standard", "fmnist-pgd-at", "fmnist-trades", "fmnist-cutout", "fmnist-dropout"]
    colours = [figures.model_colour(name) for name in zoo + ["my-resnet", "rb-standard"]]
    assert len(set(colours[:5])) == 5 and not {figures.CLEAN, figures.ADVERSARIAL} & set(colours)
    assert figures.model_colour("my-resnet") == figures.model_colour("my-resnet")   # a hash, not an order
    one = figures_profiles.delta_j_figure({"fmnist-pgd-at": profile(), "fmnist-standard": profile(2)})
    other = figures_profiles.delta_j_figure({"fmnist-standard": profile(), "fmnist-pgd-at": profile(2)})
    assert {t.name: t.marker.color for t in one.data} == {t.name: t.marker.color for t in other.data}


def test_every_single_image_chart_names_its_value_function():
    def valued(result, kind):
        result.params = {"value": kind}
        return result

    for kind in ("log-odds", "log-softmax"):
        profiles = {"a": valued(profile(), kind), "b": valued(profile(2), kind)}
        for fig in (figures_profiles.order_profile_figure(profiles), figures_profiles.delta_j_figure(profiles)):
            assert f"v = {kind}" in fig.layout.title.text
        maps = {"a": valued(heatmap(4, np.ones((3, 3)), np.zeros((3, 3))), kind)}
        figure = figures_maps.pair_maps_figure(maps, np.zeros((1, 9, 9)), title="cell 4")
        assert f"v = {kind}" in figure.layout.title.text
    mixed = {"a": valued(profile(), "log-odds"), "b": valued(profile(), "logit")}
    # no single value function to name
    assert "v = " not in figures_profiles.order_profile_figure(mixed).layout.title.text
