"""AppTest runs of every page: defaults, parameter changes, URLs, uploads, page switches; no exception."""

from __future__ import annotations

import io

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


def widget(at, key: str):
    return at.get_by_key(key) if hasattr(at, "get_by_key") else at.session_state[key]


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
    assert headers == ["#### fmnist-standard · *standard*", "#### fmnist-pgd-at · *pgd-at*"]
    assert len([m for m in at.metric if m.label == "Attacking utility"]) == 2
    downloads = [b.proto.label for b in at.get("download_button")]
    assert downloads.count("⬇ CSV") == 4 and "⬇ JSON fmnist-standard" in downloads


def submit(at, form: str):
    next(b for b in at.button if b.key.startswith(f"FormSubmitter:{form}-")).click()
    at.run()
    return at


def test_attack_form_changes_parameters_and_the_url_on_submit():
    at = app_test("views/attack.py")
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
    assert "steps='abc'" in warnings and "norm='l3'" in warnings
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
    assert "0 … 1" in text and "1 … 256" in text


def test_choices_survive_page_switches():
    at = app_test("views/attack.py")
    at.number_input(key="form_steps").set_value(7)
    submit(at, "attack_form")
    at.sidebar.selectbox(key="sb_class").select(8)
    at.run()
    at.switch_page("views/home.py")
    at.run()
    at.switch_page("views/attack.py")
    at.run()
    assert not errors(at)
    assert at.number_input(key="form_steps").value == 7
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
