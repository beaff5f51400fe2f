"""The defenses' figures plot the numbers of their results (checked through the CSV rows they export)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from mimi.defenses.detection import DETECTORS, Attribution, LeaveOneOut, detection_rocs
from mimi.defenses.strength import order_strength
from mimi.figures import defenses as fd
from mimi.figures import figure_rows


def detection_like(seed: int) -> SimpleNamespace:
    rng = np.random.default_rng(seed)
    scores = rng.normal(size=(3, 12, 2)) + np.array([0.0, 1.0])
    rocs, contrast = detection_rocs(scores, np.ones(12, dtype=bool), resamples=200, seed=seed)
    return SimpleNamespace(detectors=rocs, used=np.ones(12, dtype=bool), high_minus_low=contrast,
                           detector=lambda name: next(r for r in rocs if r.name == name))


def test_roc_and_auc_figures_show_every_detector_and_model():
    studies = {"a": detection_like(0), "b": detection_like(1)}
    roc = fd.roc_figure(studies)
    curves = [t for t in roc.data if t.name != "chance" and t.hoverinfo != "skip"]
    assert len(curves) == 2 * len(DETECTORS)
    assert [t.name for t in curves if t.showlegend] == ["a", "b"]        # one legend entry per model
    first = studies["a"].detectors[0]
    assert f"AUC {first.auc:.3f} [{first.auc_low:.3f}, {first.auc_high:.3f}]" in curves[0].hovertemplate
    np.testing.assert_allclose(curves[0].x, first.fpr)
    np.testing.assert_allclose(curves[0].y, first.tpr)
    bars = fd.auc_figure(studies)
    rows = [r for r in figure_rows(bars) if r["trace"] == "b"]
    assert [r["y"] for r in rows] == pytest.approx([r.auc for r in studies["b"].detectors])
    assert [r["error"] for r in rows] == pytest.approx([r.auc_high - r.auc for r in studies["b"].detectors])


def test_loo_figure_puts_both_maps_on_one_scale():
    clean = Attribution(1, 1, np.arange(4.0).reshape(2, 2), 1.5, 3.0)
    adversarial = Attribution(2, 2, -2 * np.arange(4.0).reshape(2, 2), 3.0, 1.0)
    fig = fd.loo_figure({"m": LeaveOneOut("2x2", 4, 1, clean, adversarial, 10, 0.1)})
    maps = [t for t in fig.data if t.type == "heatmap"]
    assert len(maps) == 2 and {t.zmax for t in maps} == {6.0} and {t.zmin for t in maps} == {-6.0}
    assert "IQR = 3.000" in " ".join(a.text for a in fig.layout.annotations)


def test_recovery_and_strength_figures_carry_means_and_standard_errors():
    k = np.arange(5)
    study = SimpleNamespace(k=k, n=4, ranked_mean=np.array([0, .5, .8, .9, 1]), ranked_se=np.full(5, .1),
                            random_mean=k / 4, random_se=np.full(5, .05),
                            areas={"ranked": {"mean": .7}, "random": {"mean": .5}})
    fig = fd.recovery_figure({"m": study})
    lines = {t.name: t for t in fig.data if t.hoverinfo != "skip"}
    ranked = lines["m, |Δφ|-ranked (ρ = 0.70)"]
    np.testing.assert_allclose(ranked.y, study.ranked_mean)
    np.testing.assert_allclose(ranked.error_y.array, study.ranked_se)   # in the CSV, drawn as the band
    per_image = np.array([[1.0, 2.0, 3.0, 4.0], [2.0, 2.0, 2.0, 2.0], [4.0, 3.0, 2.0, 1.0]])
    fake = SimpleNamespace(strength=per_image, ratios=np.array([0.1, 0.3, 0.7, 0.9]), orders=np.arange(4), n=6,
                           grid="2x3", debiased=True, params={"pairs": "all", "value": "logit"})
    s = order_strength(fake, "m")
    share = fd.strength_share_figure({"m": s})
    np.testing.assert_allclose(share.data[0].y, s.share)
    np.testing.assert_allclose(share.data[0].error_y.array, s.share_se)
    bands = figure_rows(fd.strength_bands_figure({"m": s}))
    by_trace = {r["trace"]: r for r in bands}
    assert by_trace["low orders (r = 0.1, 0.3)"]["y"] == pytest.approx(s.bands["low"]["share"])
    assert by_trace["total strength"]["y"] == pytest.approx(s.total)
    assert by_trace["total strength"]["error"] == pytest.approx(s.total_se)
