"""Population context: the gallery-averaged default profile, its file, its CLI and its faint reference in charts."""

from __future__ import annotations

import dataclasses
import json
from types import SimpleNamespace

import numpy as np
import pytest

from mimi import analysis as A
from mimi import figures
from mimi.batch import population as P
from mimi.cli import main
from mimi.core.results import load_result
from mimi.data.datasets import load_gallery
from mimi.figures import profiles as figures_profiles
from tests.nets import TinyFashionNet, frozen

#: DEFAULTS shrunk for speed: the library reads DEFAULTS at call time, so these reach gallery_profile.
TINY = dict(grid="3x3", ratios=(0.2, 0.5, 1.0), pair_count=4, samples=2, contexts=1, steps=2)


@pytest.fixture(scope="module")
def model():
    return frozen(TinyFashionNet)


@pytest.fixture(scope="module")
def gallery():
    return load_gallery()


@pytest.fixture
def tiny_defaults(monkeypatch):
    for key, value in TINY.items():
        monkeypatch.setitem(A.DEFAULTS, key, value)


def test_mean_and_se_across_images_match_a_direct_computation(model, gallery, tiny_defaults):
    indices = [0, 10, 25]
    ref = P.gallery_profile(model, images=indices, model_name="tiny", seed=5, gallery=gallery)
    d = A.DEFAULTS
    per_image = []
    for index in indices:
        x, y = gallery.images[index], int(gallery.labels[index])
        s = P.gallery_image_seed(5, index)
        attack = A.run_attack(model, x, y, eps=d["eps"], steps=d["steps"], norm=d["norm"], value=d["value"], seed=s)
        per_image.append(A.interaction_profile(
            A.image_game(model, x, y, attack.x_adv[0], grid=d["grid"], baseline=d["baseline"], value=d["value"]),
            ratios=d["ratios"], pairs=d["pairs"], pair_count=d["pair_count"], samples=d["samples"],
            contexts=d["contexts"], pilot=d["pilot"], coverage=d["coverage"], seed=s))
    assert list(ref.estimates()) == ["interaction.clean", "interaction.adversarial", "interaction.difference",
                                     "utility_by_order"]
    for path, estimate in ref.estimates().items():
        values = np.stack([p.estimates()[path].mean for p in per_image])  # (B, M)
        np.testing.assert_allclose(estimate.mean, values.mean(axis=0), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(estimate.se, values.std(axis=0, ddof=1) / np.sqrt(3), rtol=1e-10, atol=1e-12)
    # DEFAULTS were read at call time; the file says what it is and what it cost
    assert ref.grid == "3x3" and ref.params["grid"] == "3x3" and ref.params["steps"] == 2 and ref.n == 9
    assert ref.count == 3 and ref.images.tolist() == indices and ref.labels.tolist() == [0, 1, 2]
    assert ref.estimand.startswith("mean over 3 gallery images of: mean of I^(m)(i, j)")
    assert ref.forward_passes == sum(p.forward_passes for p in per_image)
    assert "0, 10, 25" in ref.selection
    # per-image seeds come from (seed, index): the order of the images does not matter
    again = P.gallery_profile(model, images=[25, 0, 10], model_name="tiny", seed=5, gallery=gallery)
    np.testing.assert_allclose(again.interaction.clean.mean, ref.interaction.clean.mean, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(again.utility_by_order.se, ref.utility_by_order.se, rtol=1e-10, atol=1e-12)


def test_gallery_profile_refuses_too_few_repeated_or_missing_images(model, gallery):
    for images, message in (([3], "at least 2"), ([1, 1], "once"), ([0, 100], "does not exist")):
        with pytest.raises(ValueError, match=message):
            P.gallery_profile(model, images=images, model_name="tiny", gallery=gallery)


def reference(**changes) -> P.GalleryProfile:
    m = 3
    fields = dict(
        model="m", orders=np.array([4, 23, 47]), ratios=np.array([0.1, 0.5, 1.0]), n=49, grid="7x7",
        pair_set="neighbors", pair_set_size=156, estimand="mean over 4 gallery images of: …",
        delta_j_estimand="…", se_covers="the images", selection="4 of the 100 gallery images",
        images=np.arange(4), count=4, labels=np.zeros(4, int), predictions=np.zeros(4, int),
        adv_predictions=np.ones(4, int), clean_accuracy=1.0, attack_success=1.0, attack_utility=3.5,
        interaction=A.Contrast(A.Estimated(np.array([0.2, 0.3, 0.4]), np.full(m, 0.01)),
                               A.Estimated(np.array([0.1, 0.0, -0.3]), np.full(m, 0.02)),
                               A.Estimated(np.array([0.1, 0.3, 0.7]), np.full(m, 0.03))),
        utility_by_order=A.Estimated(np.array([0.5, 0.6, 0.05]), np.full(m, 0.04)), forward_passes=1234,
        wall_time_s=1.5,
        params=dict(grid="7x7", pairs="neighbors", value="log-odds", baseline="mean", ratios=[0.1, 0.5, 1.0],
                    stop_utility=None, seed=0))
    fields.update(changes)
    return P.GalleryProfile(**fields)


def test_gallery_profile_json_round_trip_and_loader(tmp_path):
    ref = reference()
    ref.to_json(tmp_path / "x.json")
    back = load_result(tmp_path / "x.json")
    assert isinstance(back, P.GalleryProfile)
    assert back.to_json() == ref.to_json()   # every field, the nested records included
    assert isinstance(back.interaction.difference, A.Estimated) and back.params == ref.params
    ref.to_json(tmp_path / "m.json")
    assert P.load_gallery_profile("m", tmp_path).interaction.clean.mean.tolist() == [0.2, 0.3, 0.4]
    assert P.load_gallery_profile("absent", tmp_path) is None


@pytest.mark.parametrize("text, message", [
    ("{not json", "unreadable or corrupt"),
    ('{"__result__": "ShapleyMap"}', "unreadable or corrupt"),
    ('{"__result__": "GalleryProfile", "model": "m"}', "unreadable or corrupt"),
    ("[1, 2]", "unreadable or corrupt"),
])
def test_a_corrupt_reference_file_is_one_clear_value_error(tmp_path, text, message):
    (tmp_path / "m.json").write_text(text)
    with pytest.raises(ValueError, match=message) as info:
        P.load_gallery_profile("m", tmp_path)
    assert "mimi population --models m" in str(info.value) and "\n" not in str(info.value)


def test_an_inconsistent_reference_file_is_refused(tmp_path):
    short = reference().interaction
    short = dataclasses.replace(short, clean=A.Estimated(short.clean.mean, np.zeros(2)))
    reference(interaction=short).to_json(tmp_path / "m.json")
    with pytest.raises(ValueError, match="inconsistent .*interaction.clean does not have one mean and one SE"):
        P.load_gallery_profile("m", tmp_path)
    reference(model="other").to_json(tmp_path / "m.json")
    with pytest.raises(ValueError, match="for model 'other'"):
        P.load_gallery_profile("m", tmp_path)


def profile(**changes) -> SimpleNamespace:
    fields = dict(orders=np.array([4, 23, 47]), ratios=np.array([0.1, 0.5, 1.0]), grid="7x7", pair_set="neighbors",
                  pair_set_size=156, pairs=np.zeros((64, 2), int), replicates=1,
                  params=dict(value="log-odds", baseline="mean", grid="7x7"),
                  interaction=A.Contrast(A.Estimated(np.array([0.1, 0.2, 0.3]), np.full(3, 0.01)),
                                         A.Estimated(np.array([0.05, 0.1, -0.2]), np.full(3, 0.01)),
                                         A.Estimated(np.array([0.05, 0.1, 0.5]), np.full(3, 0.01))),
                  utility_by_order=A.Estimated(np.array([0.1, 0.2, 0.5]), np.full(3, 0.01)))
    fields.update(changes)
    return SimpleNamespace(**fields)


def ticks(fig):
    """The drawn reference ticks (not the placeholders or the legend entry)."""
    return [t for t in fig.data if t.type == "scatter" and t.hoverinfo != "skip"]


def test_the_figures_draw_the_reference_on_the_matching_bars_with_its_se_in_the_csv():
    refs = {"a": reference(), "b": reference()}
    fig = figures_profiles.order_profile_figure({"a": profile(), "b": profile()}, references=refs)
    drawn = ticks(fig)
    clean, adversarial = "clean: gallery mean (4 images)", "adversarial: gallery mean (4 images)"
    assert [(t.name, t.xaxis, t.offsetgroup) for t in drawn] == [
        (clean, "x", "clean"), (adversarial, "x", "adversarial"), (clean, "x2", "clean"),
        (adversarial, "x2", "adversarial")]
    np.testing.assert_allclose(drawn[0].y, [0.2, 0.3, 0.4])
    np.testing.assert_allclose(drawn[1].y, [0.1, 0.0, -0.3])
    bars = [t for t in fig.data if t.type == "bar"]
    assert [b.offsetgroup for b in bars] == ["clean", "adversarial"] * 2 and list(drawn[0].x) == list(bars[0].x)
    assert [t.name for t in fig.data if t.showlegend and t.type == "scatter"] == ["gallery mean (4 images)"]
    rows = [r for r in figures.figure_rows(fig) if r["trace"] == "adversarial: gallery mean (4 images)"]
    assert [(r["panel"], r["y"], r["error"]) for r in rows][:3] == [("x", 0.1, 0.02), ("x", 0.0, 0.02),
                                                                     ("x", -0.3, 0.02)]
    assert "clean: gallery mean (4 images)" in figures.figure_csv(fig)
    dj = figures_profiles.delta_j_figure({"a": profile(), "b": profile()}, references={"b": reference()})
    assert [(t.name, t.offsetgroup) for t in ticks(dj)] == [("b: gallery mean (4 images)", "b")]
    np.testing.assert_allclose(ticks(dj)[0].y, [0.5, 0.6, 0.05])
    # a's placeholder keeps b's ticks over b's bars
    assert [t.offsetgroup for t in dj.data if t.type == "scatter" and t.name == "a (none)"] == ["a"]
    assert [(r["trace"], r["y"], r["error"]) for r in figures.figure_rows(dj) if "gallery" in r["trace"]][0] == \
        ("b: gallery mean (4 images)", 0.5, 0.04)


@pytest.mark.parametrize("change", [
    dict(grid="5x5"), dict(pair_set="all", pair_set_size=1176), dict(orders=np.array([4, 23, 46])),
    dict(ratios=np.array([0.1, 0.5, 0.98])), dict(params=dict(value="logit", baseline="mean")),
    dict(params=dict(value="log-odds", baseline="zero")), dict(params=dict(value="log-odds", baseline="custom")),
    dict(params={}), dict(pair_set="custom"),
])
def test_no_reference_is_drawn_when_the_settings_differ(change):
    p = profile(**change)
    assert not P.reference_matches(p, reference())
    refs = {"m": reference()}
    assert ticks(figures_profiles.order_profile_figure({"m": p}, references=refs)) == []
    dj = figures_profiles.delta_j_figure({"m": p}, references=refs)
    assert [t.type for t in dj.data] == ["bar"]


def test_no_reference_without_one_for_that_model_or_for_a_profile_without_settings():
    assert ticks(figures_profiles.order_profile_figure({"m": profile()}, references={"other": reference()})) == []
    assert ticks(figures_profiles.order_profile_figure({"m": profile()})) == []
    bare = SimpleNamespace(**{k: v for k, v in vars(profile()).items() if k != "params"})
    assert ticks(figures_profiles.order_profile_figure({"m": bare}, references={"m": reference()})) == []


def test_a_clean_only_reference_draws_clean_ticks_and_keeps_the_adversarial_slot():
    refs = {"m": P.without_attack(reference())}
    fig = figures_profiles.order_profile_figure({"m": profile()}, references=refs)
    assert [t.name for t in ticks(fig)] == ["clean: gallery mean (4 images)"]
    assert any(t.offsetgroup == "adversarial" and t.hoverinfo == "skip" for t in fig.data if t.type == "scatter")
    assert ticks(figures_profiles.delta_j_figure({"m": profile()}, references=refs)) == []
    # a profile without an attack gets only the clean tick
    clean_only = profile(interaction=A.Contrast(profile().interaction.clean), utility_by_order=None)
    fig = figures_profiles.order_profile_figure({"m": clean_only}, references={"m": reference()})
    assert [t.name for t in ticks(fig)] == ["clean: gallery mean (4 images)"]


def test_only_the_default_attack_keeps_the_adversarial_reference():
    d = A.DEFAULTS
    base = dict(eps=d["eps"], steps=d["steps"], norm=d["norm"], step_size=None, restarts=1, targeted=None,
                stop_utility=None, early_stop=False, value="log-odds", seed=3)
    assert P.attack_is_default(**base)
    for change in (dict(eps=0.05), dict(steps=10), dict(norm="l2"), dict(step_size=0.01), dict(restarts=2),
                   dict(targeted=3), dict(stop_utility=8.0), dict(early_stop=True)):
        assert not P.attack_is_default(**{**base, **change}), change


def test_the_dashboard_loader_warns_once_about_a_corrupt_file_and_keeps_the_others(tmp_path, monkeypatch):
    from mimi.ui import compute

    reference(model="good").to_json(tmp_path / "good.json")
    (tmp_path / "bad.json").write_text("{oops")
    warnings = []
    monkeypatch.setenv(compute.POPULATION_ENV, str(tmp_path))
    monkeypatch.setattr(compute.st, "warning", lambda text, **kw: warnings.append(text))
    d = A.DEFAULTS
    attack = dict(eps=d["eps"], steps=d["steps"], norm=d["norm"], step_size=None, restarts=1, targeted=None,
                  stop_utility=None, early_stop=False, value="log-odds", seed=0)
    refs = compute.gallery_references(["good", "bad", "none"], attack)
    assert list(refs) == ["good"] and refs["good"].interaction.adversarial is not None
    assert len(warnings) == 1 and "bad.json" in warnings[0] and "mimi population --models bad" in warnings[0]
    refs = compute.gallery_references(["good"], {**attack, "eps": 0.2})
    clean_only = refs["good"]
    assert clean_only.interaction.adversarial is None and clean_only.interaction.difference is None
    assert clean_only.utility_by_order is None and clean_only.interaction.clean is not None
    assert "averaged over 4 gallery images" in compute.reference_caption(refs)


# --------------------------------------------------------------------------- the command
def test_parse_images_counts_ranges_and_errors():
    from mimi.cli import CommandError
    from mimi.cli.population import parse_images

    assert parse_images(None) is None
    assert parse_images("30") == [c * 10 + k for k in range(3) for c in range(10)]
    assert parse_images("0-2,10") == [0, 1, 2, 10]
    assert parse_images("0-99") == list(range(100))
    assert "first 3 gallery images of each" in P.describe_selection(parse_images("30"))
    assert P.describe_selection(range(100)) == "all 100 gallery images"
    for bad in ("1", "101", "0-100", "a-b", "5-2", "3,3", "0", "x"):
        with pytest.raises(CommandError):
            parse_images(bad)


def test_cli_writes_a_reference_the_loader_reads(tmp_path, tiny_defaults, capsys):
    out = tmp_path / "population"
    argv = ["population", "--models", "fmnist-standard", "--images", "0,10", "--out", str(out), "--device", "cpu"]
    assert main(argv) == 0
    ref = P.load_gallery_profile("fmnist-standard", out)
    assert ref.count == 2 and ref.images.tolist() == [0, 10] and ref.grid == "3x3"
    assert ref.params["command"] == "mimi " + " ".join(argv)
    assert (out / "fmnist-standard.json").stat().st_size < 8000
    assert "wrote" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["--models", "nope"], "unknown model 'nope'"),
    (["--models", "fmnist-standard", "--images", "0-200"], "does not exist"),
])
def test_cli_fails_in_one_line_with_status_2(tmp_path, capsys, argv, message):
    assert main(["population", *argv, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_cli_refuses_an_unwritable_folder_before_computing(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert main(["population", "--models", "fmnist-standard", "--out", str(blocker / "sub")]) == 2
    err = capsys.readouterr().err
    assert "cannot write" in err and err.count("\n") == 1


def test_the_shipped_references_load_and_match_the_default_view():
    from mimi.models import zoo

    for name in zoo.names():
        ref = P.load_gallery_profile(name)
        if ref is None:
            continue
        assert ref.count >= 2 and ref.grid == A.DEFAULTS["grid"] and ref.pair_set == A.DEFAULTS["pairs"]
        assert ref.params["pair_count"] == A.DEFAULTS["pair_count"] and ref.params["eps"] == A.DEFAULTS["eps"]
        assert ref.params["command"].startswith("mimi population")
        assert P.reference_path(name).stat().st_size < 10_000
        shown = profile(orders=ref.orders, ratios=ref.ratios, grid=ref.grid, pair_set=ref.pair_set,
                        pair_set_size=ref.pair_set_size, params=dict(value=A.DEFAULTS["value"],
                                                                     baseline=A.DEFAULTS["baseline"]))
        assert P.reference_matches(shown, ref)
