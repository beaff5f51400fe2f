"""No silent resets: a value set in a form survives every sidebar change (image source, image, models, page),
and the caption states the values that produced the chart under it."""

from __future__ import annotations

import pytest

from tests.conftest_app import app_env, app_test, errors, test_zoo  # noqa: F401  (fixtures)

pytestmark = pytest.mark.usefixtures("app_env")


def submit(at, form: str) -> None:
    next(b for b in at.button if b.key.startswith(f"FormSubmitter:{form}-")).click()
    at.run()


def button_group(at, key: str):
    return next(b for b in at.get("button_group") if b.key == key)


def source(at, choice: str) -> None:
    button_group(at, "sb_source").set_value(choice)
    at.run()


def captions(at) -> str:
    return " ".join(c.value for c in at.caption)


def params(at) -> dict:
    return at.session_state["mimi_params"]


ATTACK_VALUES = {"eps": 0.3, "steps": 3, "step": 0.05}


def test_attack_values_survive_upload_then_gallery():
    at = app_test("views/attack.py", protocol="eps")
    for key, value in ATTACK_VALUES.items():
        at.number_input(key=f"form_{key}").set_value(value)
    submit(at, "attack_form")
    assert "ε = 0.3, 3 steps of 0.05" in captions(at)
    source(at, "upload")
    assert params(at)["src"] == "upload" and not at.number_input    # the page waits for an upload
    source(at, "gallery")
    assert not errors(at)
    for key, value in ATTACK_VALUES.items():
        assert at.number_input(key=f"form_{key}").value == value
        assert params(at)[key] == value
    assert "ε = 0.3, 3 steps of 0.05" in captions(at)


def test_interaction_values_survive_upload_gallery_image_and_model_changes():
    at = app_test("views/interactions.py")
    at.selectbox(key="form_grid").select("7x7")
    at.number_input(key="form_pcount").set_value(3)
    at.number_input(key="form_samples").set_value(3)
    submit(at, "interaction_form")
    assert "grid 7x7" in captions(at) and "3 pairs drawn" in captions(at)
    source(at, "upload")
    source(at, "gallery")
    at.sidebar.selectbox(key="sb_class").select(4)
    at.run()
    at.sidebar.selectbox(key="sb_model_b").select("fmnist-standard")
    at.run()
    assert not errors(at)
    assert params(at)["img"] == 40
    assert at.selectbox(key="form_grid").value == "7x7"
    assert at.number_input(key="form_pcount").value == 3 and at.number_input(key="form_samples").value == 3
    assert "grid 7x7" in captions(at) and "3 pairs drawn" in captions(at)


def test_the_gallery_image_and_the_protocol_survive_an_upload_detour():
    at = app_test("views/attack.py")
    at.sidebar.selectbox(key="sb_class").select(6)
    at.run()
    button_group(at, "sb_pick").set_value(7)        # the 7th shirt
    at.run()
    button_group(at, "seg_protocol").set_value("eps")
    at.run()
    assert params(at)["img"] == 66 and params(at)["protocol"] == "eps"
    source(at, "upload")
    source(at, "gallery")
    assert params(at)["img"] == 66 and params(at)["protocol"] == "eps"
    assert at.sidebar.selectbox(key="sb_class").value == 6
    assert at.number_input(key="form_eps")           # equal ε's form is shown


def test_pairs_and_disentanglement_values_survive_upload_then_gallery():
    at = app_test("views/pairs.py")
    at.radio(key="form_band").set_value("high")
    at.number_input(key="form_hsamples").set_value(3)
    at.number_input(key="form_row").set_value(0)
    at.number_input(key="form_col").set_value(1)
    submit(at, "pairs_form")
    at.switch_page("views/disentanglement.py")
    at.run()
    at.multiselect(key="form_dis_models").set_value(["fmnist-pgd-at"])
    at.number_input(key="form_dsamples").set_value(3)
    submit(at, "disentanglement_form")
    source(at, "upload")
    source(at, "gallery")
    assert not errors(at)
    assert at.multiselect(key="form_dis_models").value == ["fmnist-pgd-at"]
    assert at.number_input(key="form_dsamples").value == 3 and params(at)["dsamples"] == 3
    at.switch_page("views/pairs.py")
    at.run()
    assert not errors(at)
    assert (at.radio(key="form_band").value, at.number_input(key="form_hsamples").value) == ("high", 3)
    assert (at.number_input(key="form_row").value, at.number_input(key="form_col").value) == (0, 1)
    assert "cell (0, 1) of 4x4" in captions(at)


def test_toggles_and_the_study_folder_survive_upload_then_gallery(tmp_path):
    at = app_test("views/detection.py")
    at.toggle(key="detection_every_image").set_value(True)
    at.run()
    at.switch_page("views/study.py")
    at.run()
    at.text_input(key="study_folder").set_value(str(tmp_path))
    at.run()
    source(at, "upload")
    source(at, "gallery")
    assert at.text_input(key="study_folder").value == str(tmp_path)
    at.switch_page("views/detection.py")
    at.run()
    assert at.toggle(key="detection_every_image").value is True
