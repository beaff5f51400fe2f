"""Interaction strength by order: shares, bands and their jackknife SEs on known numbers; the gallery
computation end to end; the precomputed-study files."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from mimi.batch import gallery
from mimi.core.results import Result
from mimi.data.datasets import load_gallery
from mimi.defenses import strength

RATIOS = np.array([0.1, 0.2, 0.3, 0.5, 0.7, 0.9])


def fake_disentanglement(per_image: np.ndarray) -> SimpleNamespace:
    return SimpleNamespace(strength=per_image, ratios=RATIOS, orders=np.arange(len(RATIOS)), n=8, grid="3x3",
                           debiased=True, params={"pairs": "neighbors"})


def delete_one_se(statistic, per_image: np.ndarray) -> float:
    """Jackknife SE of statistic(per_image) by deleting each image in turn."""
    count = len(per_image)
    replicates = np.array([statistic(np.delete(per_image, b, axis=0)) for b in range(count)])
    return float(np.sqrt((count - 1) / count * ((replicates - replicates.mean(axis=0)) ** 2).sum(axis=0)))


def test_bands_split_the_paper_ratios():
    ratios = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0])
    assert ratios[strength.band_mask(ratios, "low")].tolist() == [0.1, 0.2, 0.3]
    assert ratios[strength.band_mask(ratios, "high")].tolist() == [0.7, 0.8, 0.9, 0.95, 1.0]
    with pytest.raises(ValueError, match="unknown order band 'middle'"):
        strength.band_mask(ratios, "middle")


@settings(max_examples=40, deadline=None)
@given(arrays(np.float64, (5, 6), elements=st.floats(0.01, 10.0)))
def test_shares_bands_and_their_standard_errors(per_image):
    result = strength.order_strength(fake_disentanglement(per_image), "m")
    assert result.share.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(result.share, per_image.sum(axis=0) / per_image.sum())
    np.testing.assert_allclose(result.strength, per_image.mean(axis=0))
    np.testing.assert_allclose(result.strength_se, per_image.std(axis=0, ddof=1) / np.sqrt(5))
    assert result.total == pytest.approx(per_image.sum(axis=1).mean())
    low = strength.band_mask(RATIOS, "low")
    assert result.bands["low"]["share"] == pytest.approx(result.share[low].sum())
    assert result.bands["high"]["share"] == pytest.approx(result.share[RATIOS >= 2 / 3].sum())
    assert result.bands["low"]["se"] == pytest.approx(
        delete_one_se(lambda a: a[:, low].sum() / a.sum(), per_image), rel=1e-9, abs=1e-12)
    for m in (0, 4):
        assert result.share_se[m] == pytest.approx(
            delete_one_se(lambda a: a[:, m].sum() / a.sum(), per_image), rel=1e-9, abs=1e-12)


def test_order_strength_bad_input():
    with pytest.raises(ValueError, match="at least 2 images, got 1"):
        strength.order_strength(fake_disentanglement(np.ones((1, 6))), "m")
    with pytest.raises(ValueError, match="no per-image strength"):
        strength.order_strength(SimpleNamespace(strength=None), "m")


def test_gallery_strength_end_to_end_and_the_study_files(tmp_path):
    from mimi.core.compute import freeze
    from mimi.models.networks import SmallCNN

    torch.manual_seed(0)
    model = freeze(SmallCNN())
    result = strength.gallery_strength(model, model_name="tiny", images=[0, 10, 20], grid="3x3", samples=2,
                                       pair_count=4, gallery=load_gallery(), device="cpu")
    assert result.strength.shape == (3, len(result.orders)) and np.all(result.strength >= 0)
    summary = strength.order_strength(result, "tiny")
    assert summary.count == 3 and summary.share.sum() == pytest.approx(1.0)
    assert "share of interaction strength in low orders" in summary.summary()
    assert Result.from_json(summary.to_json()).bands == summary.bands
    # Files: written where the pages look, read back, and refused when they hold something else.
    path = gallery.study_file("strength", "tiny", tmp_path)
    path.parent.mkdir(parents=True)
    result.to_json(path)
    back = gallery.load_study("strength", "tiny", tmp_path)
    np.testing.assert_array_equal(back.strength, result.strength)
    assert gallery.load_study("strength", "other", tmp_path) is None
    path.rename(gallery.study_file("strength", "other", tmp_path))
    with pytest.raises(ValueError, match="of model 'tiny', not the Disentanglement of 'other'"):
        gallery.load_study("strength", "other", tmp_path)
    gallery.study_file("strength", "other", tmp_path).write_text("{not json")
    with pytest.raises(ValueError, match="unreadable or corrupt.*mimi defenses --models other --only strength"):
        gallery.load_study("strength", "other", tmp_path)
    with pytest.raises(ValueError, match="unknown gallery study 'bogus'"):
        gallery.study_file("bogus", "tiny")
