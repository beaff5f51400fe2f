"""AppTest runs of every page: defaults, parameter changes, URLs, uploads, page switches; no exception."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from tests.conftest_app import app_env, app_test, errors, test_zoo  # noqa: F401  (fixtures)

pytestmark = pytest.mark.usefixtures("app_env")

PAGES = ["views/attack.py", "views/interactions.py", "views/pairs.py", "views/disentanglement.py",
         "views/defenses.py"]


def png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def params(at) -> dict:
    return at.session_state["mimi_params"]


def test_home_explains_the_terms_with_formulas():
    at = app_test()
    assert not errors(at)
    assert len(at.latex) >= 5
    assert any("adversarial attack" in m.value for m in at.markdown)
    assert at.sidebar.selectbox(key="sb_model_a").value == "fmnist-standard"
    assert at.sidebar.selectbox(key="sb_model_b").value == "fmnist-pgd-at"


def test_attack_page_default_run_shows_both_models():
    at = app_test("views/attack.py")
    assert not errors(at)
    headers = [m.value for m in at.markdown if m.value.startswith("####")]
    assert headers == ["#### fmnist-standard", "#### fmnist-pgd-at"]          # one line each: columns align
    assert {"trained with the standard recipe", "trained with the pgd-at recipe"} <= {c.value for c in at.caption}
    predictions = [m.value for m in at.markdown if m.value.startswith("Prediction after the attack: **")]
    assert len(predictions) == 2                      # a line that wraps: a long class name is never cut
    assert len([m for m in at.metric if m.label == "Attacking utility"]) == 2
    steps = [c.value for c in at.caption if c.value.startswith("after ")]
    assert len(steps) == 2 and all(" of 5 steps" in c for c in steps)   # one line per column
    assert [m.value for m in at.metric if m.label == "Outcome"] == ["landed", "landed"]   # equal strength, the default
    downloads = [b.proto.label for b in at.get("download_button")]
    assert downloads.count("⬇ CSV") == 4 and downloads.count("⬇ JSON") == 2     # in each model's column


def submit(at, form: str):
    next(b for b in at.button if b.key.startswith(f"FormSubmitter:{form}-")).click()
    at.run()
    return at


def test_attack_form_changes_parameters_and_the_url_on_submit():
    at = app_test("views/attack.py", protocol="eps")
    at.number_input(key="form_eps").set_value(0.2)
    at.selectbox(key="form_norm").select("l2")
    submit(at, "attack_form")
    assert not errors(at)
    assert params(at)["eps"] == 0.2 and params(at)["norm"] == "l2"
    assert at.query_params["eps"] == "0.2" and at.query_params["norm"] == "l2"
    assert "PGD L2, ε = 0.2" in " ".join(c.value for c in at.caption)


def test_url_restores_the_view_and_bad_values_are_refused_politely():
    at = app_test(eps="0.25", img="37", a="fmnist-pgd-at", steps="abc", norm="l3")
    warnings = " ".join(w.value for w in at.warning)          # shown on the page the URL opens
    assert "steps (steps='abc') is not a whole number" in warnings and "norm='l3'" in warnings
    at.switch_page("views/attack.py")
    at.run()
    assert not errors(at)
    p = params(at)
    assert (p["eps"], p["img"], p["a"], p["steps"], p["norm"]) == (0.25, 37, "fmnist-pgd-at", 20, "linf")
    assert at.sidebar.selectbox(key="sb_class").value == 3          # image 37 is a Dress
    assert at.query_params["eps"] == "0.25" and "steps" not in at.query_params


def test_out_of_bound_url_values_are_ignored_with_the_bound_named():
    at = app_test(eps="50", samples="100000")
    assert not errors(at)
    assert params(at)["eps"] == 0.1
    text = " ".join(w.value for w in at.warning)
    assert "0 … 1" in text and "2 … 64" in text


def test_choices_survive_page_switches():
    at = app_test("views/attack.py")
    at.number_input(key="form_usteps").set_value(7)
    submit(at, "attack_form")
    at.sidebar.selectbox(key="sb_class").select(8)
    at.run()
    at.switch_page("views/home.py")
    at.run()
    at.switch_page("views/attack.py")
    at.run()
    assert not errors(at)
    assert at.number_input(key="form_usteps").value == 7
    assert at.sidebar.selectbox(key="sb_class").value == 8 and params(at)["img"] == 80


def upload(at, name: str, data: bytes):
    at.sidebar.get("button_group")[0].set_value("upload") if hasattr(at.sidebar.get("button_group")[0], "set_value") \
        else None
    at.run()
    at.sidebar.get("file_uploader")[0].upload(name, data, "image/png")
    at.run()
    return at


def test_a_good_upload_is_converted_and_attacked():
    array = np.full((40, 40), 255, dtype=np.uint8)
    array[10:30, 12:28] = 0                                     # a dark object on white, like a photo
    at = upload(app_test("views/attack.py"), "photo.png", png(array))
    assert not errors(at)
    captions = " ".join(c.value for c in at.sidebar.caption)
    assert "Inverted" in captions
    assert "Preset to fmnist-standard's prediction" in captions          # the user is told where it came from
    image_captions = [img.caption for element in at.sidebar.get("image") for img in element.proto.imgs]
    assert any("What the model sees" in c for c in image_captions)
    assert params(at)["src"] == "upload" and "img" not in at.query_params
    assert len([m for m in at.metric if m.label == "Attacking utility"]) == 2


@pytest.mark.parametrize("name, data, message", [
    ("fake.png", b"not an image, just text" * 20, "not an image"),
    ("cut.png", png(np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8))[:300], "truncated"),
    ("dot.png", png(np.zeros((1, 1), dtype=np.uint8)), "1x1"),
])
def test_bad_uploads_give_a_message_not_a_traceback(name, data, message):
    at = upload(app_test("views/attack.py"), name, data)
    assert not at.exception
    assert any(message in e.value for e in at.sidebar.error)
    assert any("Upload an image" in i.value or "Choose an image" in i.value for i in at.info)


def chart_count(at) -> int:
    return len(at.get("plotly_chart"))


def test_interactions_page_default_run_and_a_parameter_change():
    at = app_test("views/interactions.py")
    assert not errors(at)
    assert chart_count(at) == 4           # order profiles, ΔJ, one decomposition per model
    assert any("Attacking utility Δv(N)" in m.value for m in at.markdown)
    residuals = [c.value for c in at.caption if "Residual" in c.value]
    assert len(residuals) == 2
    at.selectbox(key="form_value").select("log-softmax")
    at.number_input(key="form_samples").set_value(3)
    submit(at, "interaction_form")
    assert not errors(at)
    assert params(at)["value"] == "log-softmax" and at.query_params["samples"] == "3"
    assert "v = log-softmax" in " ".join(c.value for c in at.caption)


def test_order_profiles_take_one_scale_per_model_or_one_for_all():
    at = app_test("views/interactions.py")
    figure = lambda: json.loads(at.get("plotly_chart")[0].proto.spec)["layout"]   # noqa: E731
    assert "matches" not in figure()["yaxis2"]                  # default: each model its own scale
    at.segmented_control(key="seg_yaxes").set_value("shared")
    at.run()
    assert not errors(at) and figure()["yaxis2"]["matches"] == "y" and at.query_params["yaxes"] == "shared"


def test_pairs_page_cell_selector_and_bands():
    at = app_test("views/pairs.py")
    assert not errors(at)
    assert chart_count(at) == 2           # pair maps (both models), Shapley maps
    assert "cell (2, 2) of 4x4" in " ".join(c.value for c in at.caption)
    at.number_input(key="form_row").set_value(0)
    at.number_input(key="form_col").set_value(3)
    at.radio(key="form_band").set_value("high")
    submit(at, "pairs_form")
    assert not errors(at)
    caption = " ".join(c.value for c in at.caption)
    assert "cell (0, 3) of 4x4" in caption and "r ∈ [0.7, 0.8, 0.9, 0.95, 1.0]" in caption
    assert params(at)["cell"] == 3 and at.query_params["band"] == "high"


def test_a_clicked_cell_survives_pressing_show():
    from types import SimpleNamespace

    at = app_test("views/pairs.py")
    at.session_state["pairs_map"] = SimpleNamespace(selection=SimpleNamespace(points=[{"x": 3, "y": 0}]))
    at.run()                                   # what a click on cell (row 0, column 3) of a map sends
    assert "cell (0, 3) of 4x4" in " ".join(c.value for c in at.caption)
    assert at.number_input(key="form_row").value == 0 and at.number_input(key="form_col").value == 3
    submit(at, "pairs_form")
    assert not errors(at) and "cell (0, 3) of 4x4" in " ".join(c.value for c in at.caption)


def test_disentanglement_page_default_and_more_images():
    at = app_test("views/disentanglement.py")
    assert not errors(at)
    assert chart_count(at) == 1
    at.number_input(key="form_images").set_value(3)
    submit(at, "disentanglement_form")
    assert not errors(at) and params(at)["images"] == 3
    captions = " ".join(c.value for c in at.caption)
    assert "the first Fashion-MNIST test image of T-shirt/top, Trouser and Pullover" in captions
    assert "Student t with 2 degrees of freedom on the delete-one-image jackknife SE" in captions


def test_defenses_page_shows_the_whole_zoo():
    at = app_test("views/defenses.py")
    assert not errors(at)
    assert chart_count(at) == 4           # accuracy, strength shares, low vs high orders, D(m)
    assert len(at.dataframe) == 1


def test_full_result_json_downloads_read_back(tmp_path):
    from mimi.core.results import load_result

    at = app_test("views/interactions.py")
    buttons = [b for b in at.get("download_button") if b.proto.label.startswith("⬇ JSON")]
    assert buttons
    for button in buttons:
        url = button.proto.url
        assert url
    # The JSON a button serves is the Result's to_json(); reading it back gives the same type and arrays.
    from mimi.ui import compute

    cached = [v for v in compute.gate()._cache.values() if type(v).__name__ == "InteractionProfile"]
    assert cached
    path = tmp_path / "profile.json"
    cached[0].to_json(path)
    back = load_result(path)
    assert type(back) is type(cached[0])
    np.testing.assert_allclose(back.interaction.clean.mean, cached[0].interaction.clean.mean)


def test_requests_above_the_work_bound_are_refused_with_the_bound():
    at = app_test("views/disentanglement.py", grid="14x14", dsamples="64", dpcount="2000", pairs="all", images="100")
    assert not at.exception
    shown = " ".join(e.value for e in at.error)
    assert "2,000,000" in shown and "forward passes" in shown


def test_an_absurd_profile_request_is_fitted_to_the_budget_and_says_so():
    at = app_test("views/interactions.py", grid="14x14", samples="64", pcount="200", pairs="all", ctx="0")
    assert not errors(at)
    shown = " ".join(c.value for c in at.caption)
    assert "fitted to the 2 s budget (the settings ask 200 pairs drawn × 64 units of a whole design per order" in shown


def test_long_computations_show_their_estimate_and_wait_for_the_users_go_ahead(monkeypatch):
    from mimi.analysis import planned_forward_passes

    monkeypatch.setenv("MIMI_CONFIRM_SECONDS", "0")       # every computation counts as long
    at = app_test("views/interactions.py", seed="11", rstart="on")   # a seed of its own, moving x' too: nothing cached
    assert not errors(at)
    assert chart_count(at) == 2           # the order profiles run within their time budget, without a question
    warnings = [w.value for w in at.warning if "forward passes, about" in w.value]
    assert warnings and "Exact decomposition for fmnist-standard" in warnings[0]
    planned = planned_forward_passes("decomposition", grid="2x2", image_shape=(28, 28), images=2)
    assert f"{planned:,} forward passes" in warnings[0] and "over the time budget" in warnings[0]
    for _ in range(8):                                      # confirm one computation per rerun
        buttons = [b for b in at.button if (b.key or "").startswith("confirm-")]
        if not buttons:
            break
        buttons[0].click()
        at.run()
        assert not errors(at)
    assert chart_count(at) == 4 and not [w for w in at.warning if "forward passes, about" in w.value]
    at.run()                                                # confirmed and cached: no question again
    assert chart_count(at) == 4 and not [b for b in at.button if (b.key or "").startswith("confirm-")]


def test_computations_above_the_time_bound_are_refused_naming_a_cheaper_request(monkeypatch):
    monkeypatch.setenv("MIMI_MAX_SECONDS", "0.0001")
    at = app_test("views/pairs.py", seed="12")
    assert not at.exception
    shown = " ".join(e.value for e in at.error)
    assert "the dashboard's bound is 1 s per computation" in shown
    assert "Fewer heatmap samples or orders, or a coarser grid" in shown   # 2 samples of a 4x4 grid: nothing smaller


def test_default_models_prefer_standard_then_adversarially_trained():
    from mimi.models.zoo import default_models

    assert default_models(["fmnist-cutout", "fmnist-pgd-at", "fmnist-standard", "fmnist-trades"]) == (
        "fmnist-standard", "fmnist-pgd-at")
    assert default_models(["fmnist-cutout", "fmnist-standard", "fmnist-trades"]) == ("fmnist-standard", "fmnist-trades")
    assert default_models(["fmnist-cutout"]) == ("fmnist-cutout", None)
    assert default_models([]) == (None, None)


@pytest.mark.slow
def test_shipped_models_the_standard_one_is_fooled_the_robust_one_loses_less(monkeypatch):
    monkeypatch.delenv("MIMI_ZOO_DIR")                   # the shipped zoo
    at = app_test("views/attack.py", protocol="eps", steps="20", b="fmnist-pgd-at")
    assert not errors(at)
    outcome = [m.value for m in at.metric if m.label == "Prediction changed"]
    utility = [float(m.value) for m in at.metric if m.label == "Attacking utility"]
    assert outcome[0] == "yes"                      # PGD-20 accuracy of fmnist-standard at ε = 0.1: 0.4%
    assert utility[1] < utility[0]


def test_a_corrupt_model_file_gives_a_message_and_the_other_model_still_works(test_zoo, tmp_path, monkeypatch):
    import shutil

    broken = tmp_path / "zoo"
    shutil.copytree(test_zoo, broken)
    (broken / "fmnist-pgd-at.pt").write_bytes(b"not a state dict")
    monkeypatch.setenv("MIMI_ZOO_DIR", str(broken))
    at = app_test("views/attack.py")
    assert not at.exception
    shown = " ".join(e.value for e in at.error)
    assert "fmnist-pgd-at" in shown and "corrupted" in shown
    assert len([m for m in at.metric if m.label == "Attacking utility"]) == 1
