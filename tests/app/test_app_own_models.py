"""Registered models on the dashboard: a model of another dataset starts at its input space's grid and ε (a URL
value or a submitted choice still wins, and the pages say where a default came from), and a name registered
again serves its new weights and new results on the next rerun, without a restart."""

from __future__ import annotations

import pytest
import torch
from streamlit.testing.v1 import AppTest

from mimi.data.input_spaces import input_space
from mimi.models import registry
from mimi.ui import compute
from tests.conftest_app import APP, FAST, app_env, app_test, errors, test_zoo  # noqa: F401  (fixtures)
from tests.models.test_checkpoints import random_network

IMAGENET = "squeeze-random"
CIFAR = "wrn-random"
IMAGENET_EPS = 4 / 255
#: The fast settings without a grid, so that the grid starts at its default.
NO_GRID = {key: value for key, value in FAST.items() if key != "grid"}


@pytest.fixture
def own_env(app_env, tmp_path, monkeypatch):
    """The test zoo plus a MIMI_HOME whose registry holds a random SqueezeNet 1.1 for ImageNet (224 px,
    1.2 M parameters: quick on a CPU); every computation waits for the go-ahead, so no page computes much."""
    monkeypatch.setenv("MIMI_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MIMI_CONFIRM_SECONDS", "0")
    weights = tmp_path / "squeezenet.pt"
    torch.save(random_network("squeezenet1_1", input_space("imagenet")).state_dict(), weights)
    registry.add(IMAGENET, weights, "squeezenet1_1", "imagenet")
    return tmp_path


def open_app(page: str, **query: str) -> AppTest:
    """An AppTest of ``page`` with the fast settings but no grid (unless ``query`` has one), run once."""
    at = AppTest.from_file(APP, default_timeout=120)
    for key, value in {**NO_GRID, **query}.items():
        at.query_params[key] = value
    at.run()
    at.switch_page(page)
    at.run()
    return at


def params(at) -> dict:
    return at.session_state["mimi_params"]


def captions(at) -> str:
    return " ".join(c.value for c in at.caption)


def submit(at, form: str) -> None:
    next(b for b in at.button if b.key.startswith(f"FormSubmitter:{form}-")).click()
    at.run()


def switch_dataset(at, name: str) -> None:
    at.sidebar.selectbox(key="sb_input_space").select(name)
    at.run()


def test_an_imagenet_model_starts_at_its_profiles_grid_and_eps_and_says_so(own_env):
    at = open_app("views/interactions.py", a=IMAGENET, protocol="eps")   # the input space's ε is equal ε's budget
    assert not at.exception
    assert (params(at)["grid"], params(at)["eps"]) == ("16x16", IMAGENET_EPS)
    grid = at.selectbox(key="form_grid")
    assert grid.value == "16x16" and "Default 16x16: the ImageNet default" in grid.help
    assert "grid 16x16 (n = 256 players, ImageNet default)" in captions(at)
    assert "ε = 4/255 (ImageNet default)" in captions(at)   # as people write it
    assert "grid" not in at.query_params and "eps" not in at.query_params   # defaults stay out of the URL
    at.switch_page("views/attack.py")
    at.run()
    assert not errors(at)
    eps = at.number_input(key="form_eps")
    assert eps.value == pytest.approx(IMAGENET_EPS) and "the ImageNet default" in eps.help


def test_a_url_value_and_a_submitted_choice_win_over_the_profile_default(own_env):
    at = open_app("views/attack.py", a=IMAGENET, grid="4x4", eps="0.2", protocol="eps")
    assert not errors(at)
    assert (params(at)["grid"], params(at)["eps"]) == ("4x4", 0.2)
    assert at.number_input(key="form_eps").value == 0.2 and "ImageNet default" not in captions(at)
    at.number_input(key="form_eps").set_value(0.05)
    submit(at, "attack_form")
    assert params(at)["eps"] == 0.05 and at.query_params["eps"] == "0.05"
    switch_dataset(at, "fashion-mnist")
    switch_dataset(at, "imagenet")
    assert (params(at)["grid"], params(at)["eps"]) == ("4x4", 0.05)
    assert at.number_input(key="form_eps").value == 0.05


def test_switching_the_dataset_moves_the_defaults_left_alone_and_the_forms_show_them(own_env):
    at = open_app("views/interactions.py")
    assert (params(at)["grid"], params(at)["eps"]) == ("7x7", 0.1)
    assert at.selectbox(key="form_grid").value == "7x7" and "ImageNet default" not in captions(at)
    switch_dataset(at, "imagenet")
    assert not at.exception
    assert (params(at)["grid"], params(at)["eps"]) == ("16x16", IMAGENET_EPS)
    assert at.selectbox(key="form_grid").value == "16x16"         # the form shows it, not its last value
    moved = " ".join(w.value for w in at.warning)                   # and a notice says what moved
    assert "Model A's dataset is ImageNet now: grid (players) 7x7 → 16x16, ε (perturbation budget) 0.1 → " in moved
    submit(at, "interaction_form")                                  # submitted unchanged: still the default
    switch_dataset(at, "fashion-mnist")
    assert (params(at)["grid"], params(at)["eps"]) == ("7x7", 0.1)
    assert at.selectbox(key="form_grid").value == "7x7"
    assert "grid" not in at.query_params


def register_cifar(path, seed: int, replace: bool = False) -> torch.nn.Module:
    """A random wrn-10-1 for CIFAR-10 (``seed``), saved at ``path`` and registered as CIFAR."""
    net = random_network("wrn-10-1", input_space("cifar10"), seed=seed)
    torch.save(net.state_dict(), path)
    registry.add(CIFAR, path, "wrn-10-1", "cifar10", replace=replace)
    return net


def first_weight(net: torch.nn.Module) -> torch.Tensor:
    return next(net.parameters()).detach().cpu()


def test_a_name_registered_again_serves_its_new_weights_and_results_without_a_restart(app_env, tmp_path,
                                                                                      monkeypatch):
    monkeypatch.setenv("MIMI_HOME", str(tmp_path / "home"))
    folder = str(compute.zoo_dir())
    original = register_cifar(tmp_path / "a.pt", seed=0)
    loaded = compute.model(CIFAR, "cpu", folder)[0]
    assert torch.equal(first_weight(loaded), first_weight(original))
    assert compute.model(CIFAR, "cpu", folder)[0] is loaded                     # cached while unchanged
    at = app_test("views/attack.py", a=CIFAR, protocol="eps")   # equal strength would land both at U
    assert not errors(at)
    utility = [m.value for m in at.metric if m.label == "Attacking utility"]

    replacement = register_cifar(tmp_path / "b.pt", seed=1, replace=True)      # `mimi models add --replace`
    assert torch.equal(first_weight(compute.model(CIFAR, "cpu", folder)[0]), first_weight(replacement))
    at.run()
    assert not errors(at)
    assert [m.value for m in at.metric if m.label == "Attacking utility"] != utility   # recomputed, not cached

    registry.remove(CIFAR)                                                        # remove, then add the same
    in_place = register_cifar(tmp_path / "b.pt", seed=2)                          # path with other weights
    assert torch.equal(first_weight(compute.model(CIFAR, "cpu", folder)[0]), first_weight(in_place))


def test_the_zoos_models_stay_cached_by_their_cards(app_env):
    folder = str(compute.zoo_dir())
    first = compute.model("fmnist-standard", "cpu", folder)
    assert compute.model("fmnist-standard", "cpu", folder) is first
    assert compute.model_identity("fmnist-standard") != compute.model_identity("fmnist-pgd-at")


def test_a_study_link_names_grid_and_eps_even_at_fashion_mnists_defaults():
    from mimi.interactions import PAPER_RATIOS
    from mimi.ui.study import dashboard_query

    study = dict(eps=0.1, steps=20, norm="linf", step_size=None, restarts=1, stop_utility=None, grid="7x7",
                 pairs="neighbors", pair_count=48, samples=2, contexts=1, baseline="mean", value="log-odds",
                 ratios=PAPER_RATIOS, shapley_samples=16, d_samples=4, d_pair_count=8)
    query, dropped = dashboard_query(study, IMAGENET, None, 3, seed=5)
    assert not dropped
    assert (query["grid"], query["eps"]) == ("7x7", "0.1")   # an ImageNet model A would start at 16x16, 4/255
    assert "steps" not in query and "baseline" not in query    # the other defaults stay out of the link
