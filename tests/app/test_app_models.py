"""The dashboard with a registered 224-px model (a random torchvision ResNet-18): the /models page, the
pickers grouped by input space, the natural gallery in colour, the pages on a tiny grid, mismatched
models and a broken registry; and the same in a real browser (slow)."""

from __future__ import annotations

import os
import time

import pytest
import torch

from mimi.data.input_spaces import imagenet_classes
from mimi.models import registry
from tests.app.test_browser import CHROMIUM, browser, new_page, problems, streamlit_server  # noqa: F401
from tests.conftest_app import app_env, app_test, errors, make_zoo, test_zoo  # noqa: F401  (fixtures)
from tests.models.test_checkpoints import random_network

RESNET = "r18-random"
#: Tiny work for a 224-px ResNet-18 on a shared CPU: 2x2 grid, 2 pairs, 2 samples, 2 attack steps.
#: Small settings for a 224-px model; its order profile gets 8 s (the smallest round, 44 forward passes, takes about
#: 1 s on 2 quiet CPU cores and 3 s on a loaded one).
TINY = {"grid": "2x2", "pcount": "2", "samples": "2", "steps": "2", "ssamples": "2", "hsamples": "2", "dgrid": "2x2",
        "budget": "8"}


@pytest.fixture(scope="module")
def registered_home(tmp_path_factory):
    """A MIMI_HOME whose registry holds a random-weight ResNet-18 for ImageNet (224 px)."""
    from mimi.data.input_spaces import input_space

    home = tmp_path_factory.mktemp("home")
    weights = home / "resnet18-random.pt"
    torch.save(random_network("resnet18", input_space("imagenet")).state_dict(), weights)
    previous = os.environ.get("MIMI_HOME")
    os.environ["MIMI_HOME"] = str(home)
    try:
        registry.add(RESNET, weights, "resnet18", "imagenet", note="random weights, for the tests")
    finally:
        if previous is None:
            del os.environ["MIMI_HOME"]
        else:
            os.environ["MIMI_HOME"] = previous
    return home


@pytest.fixture
def models_env(app_env, registered_home, monkeypatch):
    monkeypatch.setenv("MIMI_HOME", str(registered_home))
    return registered_home


def selection(at):
    return at.session_state["mimi_selection"]


def test_the_models_page_lists_every_model_with_its_card(models_env):
    at = app_test("views/models.py")
    assert not errors(at)
    table = at.dataframe[0].value
    rows = {row["model"]: row for row in table.to_dict("records")}
    assert set(rows) == {"fmnist-standard", "fmnist-pgd-at", RESNET}
    assert rows[RESNET]["from"] == "registry" and rows[RESNET]["input"] == "3×224×224"
    assert rows[RESNET]["format"] == "state-dict" and rows[RESNET]["parameters"] == 11_689_512
    text = " ".join(m.value for m in at.markdown)
    assert registry.card(RESNET)["sha256"] in text and "resnet18-random.pt" in text
    assert "mimi models add" in " ".join(c.value for c in at.code)


def test_a_registered_224_px_model_gets_the_colour_gallery_and_its_classes(models_env):
    at = app_test(a=RESNET)
    assert not errors(at)
    assert at.sidebar.selectbox(key="sb_input_space").value == "imagenet"
    sel = selection(at)
    assert sel.models == [RESNET] and sel.input_space.name == "imagenet"
    assert sel.image.shape == (3, 224, 224) and sel.label == 281 and sel.classes[sel.label] == "tabby"
    captions = [i.caption for c in at.sidebar.children.values() if getattr(c, "type", "") == "image"
                for i in c.proto.imgs]
    assert "What the model sees: 224×224 colour, true class tabby" in captions


def test_switching_the_dataset_switches_the_models(models_env):
    at = app_test()
    assert selection(at).models == ["fmnist-standard", "fmnist-pgd-at"]
    at.sidebar.selectbox(key="sb_input_space").select("imagenet")
    at.run()
    assert not errors(at)
    assert selection(at).models == [RESNET] and selection(at).image.shape == (3, 224, 224)


def test_models_of_different_input_spaces_get_a_clear_message(models_env):
    at = app_test(a="fmnist-standard", b=RESNET)
    shown = " ".join(w.value for w in at.warning)
    assert "Models A and B must share an input space" in shown
    assert "fmnist-standard takes 1×28×28" in shown and f"{RESNET} takes 3×224×224" in shown
    assert selection(at).models == ["fmnist-standard", "fmnist-pgd-at"]


@pytest.mark.slow
def test_the_attack_and_interaction_pages_run_on_the_224_px_model(models_env):
    at = app_test("views/attack.py", a=RESNET, **TINY)
    assert not errors(at)
    imagenet = set(selection(at).classes)
    shown = next(m.value for m in at.markdown if m.value.startswith("Prediction after the attack:"))
    assert shown.split("**")[1] in imagenet
    at.switch_page("views/interactions.py")
    at.run()
    assert not errors(at)
    assert len(at.get("plotly_chart")) >= 2


def test_disentanglement_says_why_it_needs_fashion_mnist(models_env):
    at = app_test("views/disentanglement.py", a=RESNET, **TINY)
    assert not at.exception
    shown = " ".join(e.value for e in at.error)
    assert "D⁽ᵐ⁾ runs over the 100 labelled Fashion-MNIST gallery images" in shown and RESNET in shown


def test_a_broken_registry_is_reported_and_the_zoo_still_works(app_env, tmp_path, monkeypatch):
    (tmp_path / "models.toml").write_text("[models.x]\narchitecture = 'resnet18'\nweights = \n")
    monkeypatch.setenv("MIMI_HOME", str(tmp_path))
    at = app_test()
    shown = " ".join(e.value for e in at.sidebar.error)
    assert "Your registered models are not listed" in shown and "line 3" in shown
    assert not at.exception and selection(at).models == ["fmnist-standard", "fmnist-pgd-at"]


# --------------------------------------------------------------------------- in a real browser
@pytest.fixture(scope="module")
def server(registered_home, tmp_path_factory):
    env = {**os.environ, "MIMI_DEVICE": "cpu", "OMP_NUM_THREADS": "2", "MIMI_HOME": str(registered_home),
           "MIMI_ZOO_DIR": str(make_zoo(tmp_path_factory.mktemp("zoo")))}
    with streamlit_server(env, tmp_path_factory.mktemp("server")) as url:
        yield url


def settle(page, text: str, timeout_s: float = 300) -> None:
    """Until ``text`` shows and the script stopped running."""
    page.wait_for_function(f"() => document.body.innerText.includes({text!r})", timeout=timeout_s * 1000)
    deadline = time.time() + timeout_s
    while page.locator('[data-testid="stStatusWidget"]').count() and time.time() < deadline:
        page.wait_for_timeout(250)
    page.wait_for_timeout(500)


@pytest.mark.slow
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (apt-get install chromium)")
def test_the_registered_model_in_a_real_browser(server, browser, tmp_path):
    page = new_page(browser, 1440, 1400)
    try:
        page.goto(f"{server}/models", wait_until="domcontentloaded")
        settle(page, "Add your own model")
        assert problems(page) == [] and RESNET in page.inner_text("body")
        query = "&".join(f"{k}={v}" for k, v in TINY.items())
        page.goto(f"{server}/attack?a={RESNET}&{query}", wait_until="domcontentloaded")
        settle(page, "Attacking utility")
        page.wait_for_selector(".js-plotly-plot .main-svg")
        assert problems(page) == []
        body = page.inner_text("body")
        assert "What the model sees: 224×224 colour, true class tabby" in body
        predicted = body.split("Prediction after the attack: ")[1].splitlines()[0].rsplit(" (", 1)[0]
        assert predicted in imagenet_classes()
        page.screenshot(path=str(tmp_path / "attack-224.png"), full_page=True)
        assert (tmp_path / "attack-224.png").stat().st_size > 10_000
    finally:
        page.close()
