"""The attack protocol on the dashboard (issue 20, item 4): equal strength (the paper's) by default, equal ε on
request, one control on /attack, /interactions, /pairs and /defenses; captions and chart subtitles name the
protocol and every model's achieved utility; an image that does not land says so in place of its charts."""

from __future__ import annotations

import json
import re

import pytest

from tests.conftest_app import app_env, app_test, errors, test_zoo  # noqa: F401  (fixtures)

pytestmark = pytest.mark.usefixtures("app_env")


def names_both_utilities(text: str) -> bool:
    """Whether ``text`` gives both models' achieved utilities ("fmnist-standard 0.01, fmnist-pgd-at 0.02")."""
    return all(re.search(rf"{name} \d+\.\d\d", text) for name in ("fmnist-standard", "fmnist-pgd-at"))


def params(at) -> dict:
    return at.session_state["mimi_params"]


def captions(at) -> str:
    return " ".join(c.value for c in at.caption)


def titles(at) -> list[str]:
    return [json.loads(chart.proto.spec)["layout"]["title"]["text"] for chart in at.get("plotly_chart")]


def submit(at, form: str):
    next(b for b in at.button if b.key.startswith(f"FormSubmitter:{form}-")).click()
    at.run()
    return at


def choose_protocol(at, protocol: str):
    at.segmented_control(key="seg_protocol").set_value(protocol)
    at.run()
    return at


def test_two_models_are_attacked_at_equal_strength_by_default_and_the_captions_say_so():
    at = app_test("views/attack.py")
    assert not errors(at)
    assert params(at)["protocol"] == "strength" and at.segmented_control(key="seg_protocol").value == "strength"
    assert "protocol" not in at.query_params                                   # the default stays out of the URL
    assert [m.value for m in at.metric if m.label == "Outcome"] == ["landed", "landed"]
    text = captions(at)
    assert "equal strength (the paper's): PGD L∞ until v falls by U = 0.01, landed in [U, U + 0.05]" in text
    assert "within ε ≤ 0.3 and 5 steps of 0.01, starting at x" in text and names_both_utilities(text)
    images = [t for t in titles(at) if t.startswith("clean x")]
    assert len(images) == 2 and all("attack: equal strength (the paper's), U = 0.01" in t for t in images)
    assert at.number_input(key="form_utility").value == 0.01 and at.selectbox(key="form_rstart").value == "off"


def test_switching_to_equal_eps_runs_the_fixed_budget_and_moves_no_other_setting():
    at = choose_protocol(app_test("views/attack.py"), "eps")
    assert not errors(at)
    assert params(at)["protocol"] == "eps" and at.query_params["protocol"] == "eps"
    changed = [m.value for m in at.metric if m.label == "Prediction changed"]
    assert len(changed) == 2 and set(changed) <= {"yes", "no"}
    text = captions(at)
    assert "equal ε: PGD L∞, ε = 0.1, 5 steps of 0.05, untargeted" in text and names_both_utilities(text)
    assert "At equal ε the attack lowers v by different amounts on different models" in text
    assert all("attack: equal ε = 0.1" in t for t in titles(at) if t.startswith("clean x"))
    assert at.number_input(key="form_eps").value == 0.1                        # the form shows equal ε's budget
    choose_protocol(at, "strength")
    assert params(at)["utility"] == 0.01 and params(at)["eps"] == 0.1          # each protocol kept its values
    assert at.number_input(key="form_utility").value == 0.01


def test_an_image_that_does_not_land_says_so_in_place_of_its_charts():
    at = app_test("views/attack.py")
    at.number_input(key="form_utility").set_value(50.0)
    submit(at, "attack_form")
    assert not errors(at)
    assert params(at)["utility"] == 50.0 and at.query_params["utility"] == "50.0"
    warnings = [w.value for w in at.warning]
    assert len(warnings) == 2 and all("did not reach utility U = 50" in w for w in warnings)
    assert "**fmnist-standard** within ε = 0.3, 5 steps (it reached" in warnings[0]
    assert "no equal-strength comparison for this image" in warnings[0]
    assert [m.value for m in at.metric if m.label == "Outcome"] == ["not landed", "not landed"]
    assert not at.get("plotly_chart")                                          # no chart of an attack that failed


def test_the_interactions_page_names_the_protocol_and_both_utilities_under_its_charts():
    at = app_test("views/interactions.py")
    assert not errors(at)
    assert at.segmented_control(key="seg_protocol").value == "strength"
    profile, delta_j = titles(at)[:2]
    for title in (profile, delta_j):
        assert "attack: equal strength (the paper's), U = 0.01" in title
        assert re.search(r"achieved Δv\(N\): fmnist-standard \d+\.\d\d · fmnist-pgd-at \d+\.\d\d", title)
    under_charts = [c.value for c in at.caption if c.value.startswith("Attack: equal strength")]
    assert len(under_charts) == 2 and all(names_both_utilities(c) for c in under_charts)
    choose_protocol(at, "eps")
    assert not errors(at)
    assert all("attack: equal ε = 0.1" in t for t in titles(at)[:2])
    under_charts = [c.value for c in at.caption if c.value.startswith("Attack: equal ε")]
    assert len(under_charts) == 2 and all("went further on one" in c for c in under_charts)


def test_interactions_show_the_landing_message_instead_of_the_order_profiles():
    at = app_test("views/interactions.py", utility="50")
    assert not errors(at)
    warnings = [w.value for w in at.warning]
    assert len(warnings) == 2 and all("did not reach utility U = 50" in w for w in warnings)
    assert len(titles(at)) == 2 and all(t.startswith("clean: v(N) − v(∅)") for t in titles(at))  # decompositions
    assert not any("Attacking utility Δv(N)" in m.value for m in at.markdown)


def test_every_attack_setting_keys_the_cached_attack(app_env):
    """Protocol, U, band and start each give a new attack, never a stale one from the cache."""
    from mimi.ui import compute

    at = app_test("views/attack.py", seed="21")         # a seed of its own: nothing cached yet
    for key, value in (("utility", 0.02), ("tol", 0.1)):
        at.number_input(key=f"form_{key}").set_value(value)
        submit(at, "attack_form")
    at.selectbox(key="form_rstart").select("on")
    submit(at, "attack_form")
    choose_protocol(at, "eps")
    assert not errors(at)
    runs = {(r.params.get("stop_utility"), r.params.get("tolerance"), r.params["random_start"])
            for r in compute.gate()._cache.values()
            if type(r).__name__ == "AttackResult" and r.params["seed"] == 21}
    assert {(0.01, 0.05, False), (0.02, 0.05, False), (0.02, 0.1, False), (0.02, 0.1, True),
            (None, None, True)} <= runs


def test_the_defenses_page_attacks_the_zoo_under_the_protocol_it_names():
    at = app_test("views/defenses.py")
    at.toggle(key="defenses_image").set_value(True)
    at.run()
    assert not errors(at)
    assert at.segmented_control(key="seg_protocol").value == "strength"
    assert any(c.value.startswith("Attack: equal strength") and names_both_utilities(c.value) for c in at.caption)
    assert sum("attack: equal strength (the paper's), U = 0.01" in t for t in titles(at)) == 2   # profiles and ΔJ


@pytest.mark.parametrize("view", ["detection", "recovery"])
def test_detection_and_recovery_attack_at_equal_eps_and_say_so(view):
    at = app_test(f"views/{view}.py")      # their gallery studies need attacks that fool: none of the stand-ins'
    assert not at.exception
    text = captions(at)
    assert "attack: equal ε: PGD L∞, ε = 0.1, 5 steps" in text and "always attacks at equal ε" in text


def test_a_study_link_opens_its_equal_strength_attack():
    from mimi.interactions import PAPER_RATIOS
    from mimi.ui.study import dashboard_query

    study = dict(eps=0.3, steps=50, norm="linf", step_size=0.01, restarts=1, stop_utility=4.0, tolerance=0.1,
                 stop_rule="utility", random_start=True, grid="7x7", pairs="neighbors", pair_count=48, samples=2,
                 contexts=1, baseline="mean", value="log-odds", ratios=PAPER_RATIOS, shapley_samples=16, d_samples=4,
                 d_pair_count=8)
    query, dropped = dashboard_query(study, "fmnist-standard", None, 3, seed=5)
    assert not dropped and "protocol" not in query                     # equal strength: the dashboard's default
    assert {k: query[k] for k in ("utility", "tol", "rstart", "usteps")} == {"utility": "4.0", "tol": "0.1",
                                                                            "rstart": "on", "usteps": "50"}
    assert "eps" not in query and "steps" not in query                 # equal ε's budget is not this attack's
    _, dropped = dashboard_query({**study, "stop_rule": "paper"}, "fmnist-standard", None, 3, seed=5)
    assert dropped == ["stop_rule"]                                    # the dashboard lands the drop of v only
    query, _ = dashboard_query({**study, "stop_utility": None}, "fmnist-standard", None, 3, seed=5)
    assert (query["protocol"], query["eps"], query["steps"]) == ("eps", "0.3", "50")


@pytest.mark.slow
def test_the_shipped_models_land_at_the_default_utility_and_the_robust_one_needs_a_larger_change(monkeypatch):
    from mimi.analysis import DEFAULTS

    monkeypatch.delenv("MIMI_ZOO_DIR")                   # the shipped zoo, at the default equal-strength attack
    strength = DEFAULTS["equal_strength"]
    at = app_test("views/attack.py", utility=str(strength["stop_utility"]), usteps=str(strength["steps"]))
    assert not errors(at)
    assert [m.value for m in at.metric if m.label == "Outcome"] == ["landed", "landed"]
    utilities = [float(m.value) for m in at.metric if m.label == "Attacking utility"]
    assert all(strength["stop_utility"] <= u <= strength["stop_utility"] + strength["tolerance"] for u in utilities)
    changes = [float(c.value.split(" · ")[0].split(" = ")[1]) for c in at.caption if c.value.startswith("‖δ‖∞")]
    assert changes[0] < changes[1] / 5                  # fmnist-standard's δ is far smaller than fmnist-pgd-at's
