import dataclasses
import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from mimi.analysis import Contrast, Estimated, InteractionProfile
from mimi.data import ASSETS_DIR
from mimi.evaluation import AccuracyResult
from mimi.population import GalleryProfile
from mimi.results import Result, _encode, load_result


def test_any_result_file_reads_back_in_a_fresh_process(tmp_path):
    path = tmp_path / "acc.json"
    AccuracyResult("m", 10, 0.9, [0.1], [0.5]).to_json(path)
    code = ("from mimi.results import load_result; r = load_result(%r); "
            "print(type(r).__name__, r.robust_accuracy)" % str(path))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["AccuracyResult", "[0.5]"]


# --------------------------------------------------------------------------- nested clean / adversarial records
STUDY_JOB = Path(__file__).parent / "data" / "study-job-flat-layout.json"   # a job of an older study, flat layout
GALLERY_REFERENCE = ASSETS_DIR / "population" / "fmnist-standard.json"


def plain(value):
    """A flat-layout JSON value as the old field held it."""
    if isinstance(value, dict) and "__ndarray__" in value:
        return np.asarray(value["__ndarray__"], dtype=value["dtype"]).reshape(value["shape"])
    return value


def assert_same(a, b, name):
    if a is None or b is None:
        assert a is None and b is None, name
    else:
        np.testing.assert_array_equal(a, b, err_msg=name)


def flat_heatmap(adversarial: bool = True) -> dict:
    """A PairHeatmap in the flat layout of older files, with the adversarial side or without it."""
    maps = {name: np.arange(9.0).reshape(3, 3) + k for k, name in enumerate(("clean", "adv", "diff"))}
    by_order = {name: np.arange(18.0).reshape(2, 3, 3) + k for k, name in enumerate(("clean", "adv"))}
    flat = {"__result__": "PairHeatmap", "label": 1, "target": 1, "prediction": 1,
            "adv_prediction": 2 if adversarial else None, "forward_passes": 10, "mask_rows": 5, "units": 2,
            "wall_time_s": 0.5, "params": {"cell": 4}, "cell": 4, "cell_rc": [1, 1], "orders": np.array([0, 3]),
            "ratios": np.array([0.0, 0.5]), "n": 9, "grid": "3x3"}
    for name, value in maps.items():
        keep = adversarial or name == "clean"
        flat[name], flat[f"{name}_se"] = (value, value / 10) if keep else (None, None)
    for name, value in by_order.items():
        keep = adversarial or name == "clean"
        flat[f"{name}_by_order"], flat[f"{name}_by_order_se"] = (value, value / 10) if keep else (None, None)
    return {k: _encode(v) for k, v in flat.items()}


def legacy_cases() -> list[tuple[Result, dict]]:
    """(result read from a flat-layout file or dict, that flat dict): shipped files and hand-made heatmaps."""
    job = json.loads(STUDY_JOB.read_text())
    reference = json.loads(GALLERY_REFERENCE.read_text())
    return [(Result.from_dict(flat), flat) for flat in (job["profile"], job["shapley"], reference, flat_heatmap(),
                                                         flat_heatmap(adversarial=False))]


def test_shipped_flat_files_load_into_the_nested_records_without_a_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        job = load_result(STUDY_JOB)
        reference = load_result(GALLERY_REFERENCE)
    raw = json.loads(STUDY_JOB.read_text())["profile"]
    profile = job.profile
    assert isinstance(profile, InteractionProfile) and isinstance(profile.interaction, Contrast)
    np.testing.assert_array_equal(profile.interaction.clean.mean, plain(raw["clean_mean"]))
    np.testing.assert_array_equal(profile.interaction.difference.se, plain(raw["diff_se"]))
    np.testing.assert_array_equal(profile.utility_by_order.mean, plain(raw["delta_j"]))
    assert profile.adversarial_image.v_full == raw["adv_v_full"]
    np.testing.assert_array_equal(profile.clean_image.probabilities, plain(raw["probabilities"]))
    assert job.shapley.phi.adversarial.mean.shape == (7, 7) and job.shapley.clean_image.phi0_sum is None
    assert isinstance(reference, GalleryProfile) and reference.utility_by_order.se.shape == reference.orders.shape
    # what loaded from the flat layout writes the nested one and reads back unchanged
    for result in (job, reference):
        assert Result.from_json(result.to_json()).to_json() == result.to_json()
        assert "clean_mean" not in result.to_json()


def test_a_flat_dict_without_an_attack_loads_with_the_adversarial_records_absent():
    heatmap = Result.from_dict(flat_heatmap(adversarial=False))
    assert heatmap.pooled.adversarial is None and heatmap.pooled.difference is None
    assert heatmap.by_order.adversarial is None and heatmap.by_order.clean.mean.shape == (2, 3, 3)
    profile = dict(json.loads(STUDY_JOB.read_text())["profile"])
    for name in ("adv_mean", "adv_se", "diff", "diff_se", "delta_j", "delta_j_se", "adv_v_full", "adv_v_empty",
                 "adv_phi0_sum", "adv_probabilities", "attack_utility", "attack_single", "attack_pairwise",
                 "adv_prediction"):
        profile[name] = None
    clean_only = Result.from_dict(profile)
    assert clean_only.interaction.adversarial is None and clean_only.interaction.difference is None
    assert clean_only.utility_by_order is None and clean_only.adversarial_image is None
    assert clean_only.clean_image.v_full == profile["v_full"]


@pytest.mark.parametrize("case", range(5))
def test_every_old_name_warns_and_reads_what_the_flat_file_held(case):
    result, flat = legacy_cases()[case]
    assert result._legacy_fields
    for old, path in result._legacy_fields.items():
        with pytest.warns(DeprecationWarning, match=f"{type(result).__name__}.{old} is deprecated.*use .{path}"):
            value = getattr(result, old)
        assert_same(value, plain(flat.get(old)), old)


def test_old_names_equal_the_new_ones_and_are_read_only():
    job = load_result(STUDY_JOB)
    profile, shapley = job.profile, job.shapley
    with pytest.warns(DeprecationWarning):
        assert profile.clean_mean is profile.interaction.clean.mean
        assert profile.delta_j_se is profile.utility_by_order.se
        assert profile.adv_v_empty == profile.adversarial_image.v_empty
        assert shapley.values is shapley.phi.clean.mean and shapley.diff_se is shapley.phi.difference.se
    with pytest.raises(AttributeError, match="read-only.*set .interaction.clean.mean"):
        profile.clean_mean = np.zeros(3)
    with pytest.raises(AttributeError, match="no attribute 'clean_means'"):
        profile.clean_means
    clean_only = dataclasses.replace(profile, interaction=Contrast(profile.interaction.clean), utility_by_order=None)
    with pytest.warns(DeprecationWarning):
        assert clean_only.adv_mean is None and clean_only.delta_j is None


def test_contrast_merge_and_scaled_estimates():
    a = Contrast(Estimated(np.array([1.0, 2.0]), np.array([0.1, 0.2])), None, None)
    b = Contrast(Estimated(np.array([3.0, 4.0]), np.array([0.3, 0.4])), None, None)
    merged = Contrast.merge([a, b], lambda parts: Estimated(sum(p.mean for p in parts), sum(p.se for p in parts)))
    np.testing.assert_allclose(merged.clean.mean, [4.0, 6.0])
    assert merged.adversarial is None and merged.difference is None
    scaled = a.clean.scaled(np.array([2.0, -3.0]))
    np.testing.assert_allclose(scaled.mean, [2.0, -6.0])
    np.testing.assert_allclose(scaled.se, [0.2, 0.6])
