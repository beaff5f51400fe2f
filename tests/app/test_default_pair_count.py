"""The default pair count fits every grid (issue 20, item 5): DEFAULTS' 48 pairs (8 for D^(m)) drawn when the
pair set holds more, every pair of a smaller set, in the library, the CLI, the study and the dashboard; a count
the user names is never changed, and one the set cannot give is refused with the value."""

from __future__ import annotations

import json

import pytest
import torch

from mimi import analysis as A
from mimi.analysis import DEFAULTS, default_pair_count
from mimi.batch.study import StudyParams
from mimi.batch.study.plan import D_PAIR_COUNT, NOMINAL_SHAPE
from mimi.cli import main
from mimi.core.results import load_result
from mimi.models.networks import SmallCNN
from tests.conftest_app import APP, FAST, app_env, make_zoo, test_zoo  # noqa: F401  (fixtures)

GRIDS = [f"{side}x{side}" for side in range(2, 17)]


def set_size(grid: str, pairs: str) -> int:
    return len(A.pair_set_of(A.check_grid(grid, 16, 16), pairs))


@pytest.mark.parametrize("pairs", ["neighbors", "all"])
def test_the_default_pair_count_fits_every_grid_in_planning_pair_draws_and_the_study(pairs):
    for grid in GRIDS:
        size = set_size(grid, pairs)
        count = default_pair_count(grid, pairs, DEFAULTS["pair_count"])
        assert count == min(DEFAULTS["pair_count"], size), grid
        assert A.planned_forward_passes("profile", grid=grid, image_shape=(32, 32), images=2, pairs=pairs,
                                        pair_count=count, samples=DEFAULTS["samples"], contexts=DEFAULTS["contexts"],
                                        coverage=DEFAULTS["coverage"]) > 0
        d_count = default_pair_count(grid, pairs, D_PAIR_COUNT)
        drawn = A.resolve_pairs(A.check_grid(grid, 32, 32), pairs, d_count, seed=1)
        assert len(drawn) == d_count == min(D_PAIR_COUNT, size) and len({tuple(p) for p in drawn}) == d_count
        params = StudyParams(grid=grid, pairs=pairs)
        assert (params.pair_count, params.d_pair_count) == (count, d_count), grid
        assert params.check(NOMINAL_SHAPE) > 0
        assert params.as_dict()["pair_count"] == count          # the manifest and job keys hold the count used


def test_a_set_of_fewer_than_two_pairs_is_used_whole():
    assert default_pair_count("1x2", "neighbors", DEFAULTS["pair_count"]) is None
    assert default_pair_count("3x3", "neighbors", None) is None      # a default of every pair stays every pair


def test_a_named_pair_count_the_set_cannot_give_is_refused_never_cut():
    with pytest.raises(ValueError, match=r"pair_count=48 is outside 2\.\.42"):
        A.planned_forward_passes("profile", grid="4x4", image_shape=(28, 28), images=2, pair_count=48, samples=2)
    with pytest.raises(ValueError, match="pair_count=43 is more than the 42 pairs the pair set holds"):
        A.resolve_pairs(A.check_grid("4x4", 28, 28), "neighbors", 43, seed=0)
    with pytest.raises(ValueError, match="pair_count=8 is more than the 6 pairs"):
        A.planned_forward_passes("disentanglement", grid="2x2", image_shape=(28, 28), images=2, pair_count=8,
                                 samples=2)
    named = StudyParams(grid="4x4", pair_count=48)
    assert named.pair_count == 48                          # kept as given, then refused by the check
    with pytest.raises(ValueError, match=r"pair_count=48 is outside 2\.\.42"):
        named.check(NOMINAL_SHAPE)
    with pytest.raises(ValueError, match="pair_count=8 is more than the 6 pairs"):
        StudyParams(grid="2x2", d_pair_count=8).check(NOMINAL_SHAPE)
    assert StudyParams(grid="4x4", pair_count=None).pair_count is None     # None: every pair, as named


def test_the_default_view_fits_its_pair_count_to_the_grid_and_records_it(monkeypatch):
    for key, value in dict(grid="4x4", ratios=(0.5,), steps=2, heatmap_ratios=(0.5,)).items():
        monkeypatch.setitem(DEFAULTS, key, value)
    torch.manual_seed(0)
    model = SmallCNN().eval()
    view = A.default_view(model, torch.rand(1, 28, 28, generator=torch.Generator().manual_seed(0)), 3)
    assert view.profile.params["pair_count"] == 42 and len(view.profile.pairs) == view.profile.pair_set_size == 42
    assert view.profile.se_covers.startswith("contexts (every pair of the set evaluated)")


# --------------------------------------------------------------------------- CLI
@pytest.fixture(scope="module")
def zoo_dir(tmp_path_factory):
    return make_zoo(tmp_path_factory.mktemp("zoo"))


@pytest.mark.parametrize("grid,size", [("3x3", 20), ("4x4", 42)])
def test_cli_analyze_runs_on_the_default_pair_count_of_a_small_grid(zoo_dir, tmp_path, grid, size):
    out = tmp_path / "report.json"
    assert main(["analyze", "--model", "fmnist-standard", "--zoo-dir", str(zoo_dir), "--image", "gallery:3",
                 "--grid", grid, "--ratios", "0.2,0.8", "--shapley-samples", "0", "--quiet", "--json", str(out)]) == 0
    profile = load_result(out).profile
    assert profile.params["pair_count"] == len(profile.pairs) == profile.pair_set_size == size


def test_cli_analyze_refuses_a_named_pair_count_above_the_set(zoo_dir, capsys):
    assert main(["analyze", "--model", "fmnist-standard", "--zoo-dir", str(zoo_dir), "--image", "gallery:3",
                 "--grid", "4x4", "--pair-count", "48", "--quiet"]) == 2
    assert "pair_count=48 is outside 2..42" in capsys.readouterr().err


def test_cli_study_run_plans_a_4x4_grid_on_the_default_pair_counts(zoo_dir, tmp_path, capsys):
    base = ["study", "run", "--models", "fmnist-standard", "--images", "gallery:0,10", "--zoo-dir", str(zoo_dir),
            "--limit", "1", "--grid", "4x4", "--ratios", "0.1,0.5,1", "--steps", "2", "--shapley-samples", "2",
            "--d-samples", "2", "--quiet"]
    assert main([*base, "--out", str(tmp_path / "s")]) == 0
    manifest = json.loads((tmp_path / "s" / "study.json").read_text())
    assert (manifest["params"]["pair_count"], manifest["params"]["d_pair_count"]) == (42, D_PAIR_COUNT)
    assert "2 jobs: 1 done, 0 failed, 1 left" in capsys.readouterr().out
    for named, message in ((["--pair-count", "48"], "pair_count=48 is outside 2..42"),
                           (["--d-pair-count", "50"], "pair_count=50 is more than the 42 pairs")):
        assert main([*base, "--out", str(tmp_path / "t"), *named]) == 2
        assert message in capsys.readouterr().err and not (tmp_path / "t" / "study.json").exists()


# --------------------------------------------------------------------------- dashboard
def dashboard(page: str, **query: str):
    """An AppTest of ``page`` with FAST's settings but the pair counts left to their defaults."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=120)
    for key, value in {**FAST, **query}.items():
        if key not in ("pcount", "dpcount"):
            at.query_params[key] = value
    at.run()
    at.switch_page(page)
    at.run()
    return at


def captions(at) -> str:
    return " ".join(c.value for c in at.caption)


@pytest.mark.usefixtures("app_env")
def test_the_dashboard_fits_the_default_pair_counts_to_the_grid_visibly():
    at = dashboard("views/disentanglement.py", grid="2x2")
    assert not at.exception and not at.error, [e.value for e in [*at.exception, *at.error]]
    params = at.session_state["mimi_params"]
    assert (params["pcount"], params["dpcount"]) == (6, 6)
    assert at.number_input(key="form_pcount").value == 6 and at.number_input(key="form_dpcount").value == 6
    assert ("6 pairs drawn per image from the neighbors set (every pair: the default 8 is more than the 2x2 grid's "
            "neighbors set holds)") in captions(at)
    # the grid changes in the form: the counts follow it, widgets included, and say so
    at.selectbox(key="form_grid").select("3x3")
    next(b for b in at.button if b.key.startswith("FormSubmitter:interaction_form-")).click()
    at.run()
    assert not at.exception and not at.error, [e.value for e in [*at.exception, *at.error]]
    params = at.session_state["mimi_params"]
    assert (params["pcount"], params["dpcount"]) == (20, 8)
    assert at.number_input(key="form_pcount").value == 20 and at.number_input(key="form_dpcount").value == 8
    assert "every pair: the default 8" not in captions(at)
    # a count the user names is kept, and refused with its value where the set cannot give it
    at.number_input(key="form_dpcount").set_value(12)
    next(b for b in at.button if b.key.startswith("FormSubmitter:disentanglement_form-")).click()
    at.run()
    at.selectbox(key="form_grid").select("2x2")
    next(b for b in at.button if b.key.startswith("FormSubmitter:interaction_form-")).click()
    at.run()
    params = at.session_state["mimi_params"]
    assert (params["grid"], params["pcount"], params["dpcount"]) == ("2x2", 6, 12)
    assert any("pair_count=12 is more than the 6 pairs" in e.value for e in at.error)
    at.switch_page("views/interactions.py")
    at.run()
    assert not at.exception and not at.error, [e.value for e in [*at.exception, *at.error]]
    assert ("6 pairs drawn from the neighbors set (every pair: the default 48 is more than the 2x2 grid's neighbors "
            "set holds)") in captions(at)


def test_the_dashboard_and_studies_read_their_d_and_decomposition_defaults_from_defaults():
    """DEFAULTS is the one place of the D^(m) and decomposition defaults the dashboard, studies and gallery strength use."""
    from mimi.analysis import DEFAULTS
    from mimi.batch.study.plan import D_PAIR_COUNT, StudyParams
    from mimi.defenses.strength import GALLERY_SETTINGS
    from mimi.ui.params import build_params

    params = build_params()
    assert (params["dsamples"].default, params["dpcount"].default, params["dgrid"].default) == (4, 8, "3x3")
    assert (DEFAULTS["disentanglement_samples"], DEFAULTS["disentanglement_pair_count"],
            DEFAULTS["decomposition_grid"]) == (4, 8, "3x3")
    assert (StudyParams().d_samples, D_PAIR_COUNT) == (4, 8)
    assert GALLERY_SETTINGS == {"pair_count": 8, "samples": 4}
