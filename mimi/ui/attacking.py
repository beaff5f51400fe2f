"""The session's attack on the selected image: the protocol control and the PGD form, their summary in words (the
request itself: :func:`mimi.ui.params.attack_request`), the cached attack of each model, and its outcome (landed or
not, achieved utility) in the words of a chart's subtitle and caption."""

from __future__ import annotations

from typing import Optional

import streamlit as st
import torch

from mimi.attacks import AttackResult
from mimi.attacks.pgd import default_step_size
from mimi.data.datasets import FMNIST_CLASSES
from mimi.data.input_spaces import eps_text
from mimi.ui import compute, state
from mimi.ui.forms import choice_field, float_field, instant_choice, number_field, submit
from mimi.ui.page import SELECTION_KEY, model
from mimi.ui.params import PROTOCOLS, attack_request
from mimi.ui.sidebar import Selection


def _classes() -> tuple[str, ...]:
    """The class names of the selection's model A (Fashion-MNIST's before there is a selection)."""
    sel: Optional[Selection] = st.session_state.get(SELECTION_KEY)
    return sel.classes if sel is not None else FMNIST_CLASSES


def protocol_control() -> None:
    """The session's attack protocol, one control that every attacking page shows: it applies at once and moves
    no other setting (each protocol keeps its own budget)."""
    instant_choice("protocol", PROTOCOLS)


STRENGTH_FIELDS = ("utility", "tol", "ueps", "usteps", "ustep", "rstart")
EPS_FIELDS = ("eps", "steps", "step", "target", "stop")


def attack_form() -> None:
    """The PGD parameters of the session's protocol in a form (nothing recomputes until *Run attack*): equal
    strength's U, landing band, ε cap, steps, step size and start; equal ε's budget, target and stop rule."""
    strength = state.params()["protocol"] == "strength"
    with st.form("attack_form"):
        c1, c2, c3, c4 = st.columns(4, gap="xsmall")   # select boxes wide enough at 1000 px
        with c1:
            choice_field("norm", format_func={"linf": "L∞", "l2": "L2"}.get)
            number_field("restarts")
        if strength:
            with c2:
                float_field("utility", step=0.5, number_format="%.2f")
                float_field("tol", step=0.01)
            with c3:
                float_field("ueps", step=0.01)
                number_field("usteps")
            with c4:
                float_field("ustep", step=0.005, number_format="%.4f")
                choice_field("rstart", format_func={"on": "uniform", "off": "at x"}.get)
        else:
            with c2:
                float_field("eps", step=0.01)
                number_field("steps")
            with c3:
                float_field("step", step=0.005, number_format="%.4f")
                choice_field("target", format_func=lambda t: "untargeted" if t == "none" else _classes()[int(t)])
            with c4:
                choice_field("stop", format_func={"none": "all steps", "success": "until fooled"}.get)
        submit("Run attack", ("norm", "restarts") + (STRENGTH_FIELDS if strength else EPS_FIELDS), type="primary")


def attack_summary(p: dict, protocol: Optional[str] = None) -> str:
    """The protocol and every setting of the attack :func:`mimi.ui.params.attack_request` makes, in words."""
    request = attack_request(p, protocol)
    norm = "L∞" if request.norm == "linf" else "L2"
    steps = f"{request.steps} steps of {request.step_size or default_step_size(request.eps, request.steps):.4g}"
    restarts = f", best of {request.restarts} restarts" if request.restarts > 1 else ""
    if request.stop_utility is not None:
        start = "random start" if request.random_start else "starting at x"
        untargeted = ("" if attack_request(p, "eps").targeted is None
                      else " (untargeted: the target class applies at equal ε only)")
        return (f"{PROTOCOLS['strength']}: PGD {norm} until v falls by U = {request.stop_utility:g}, landed in "
                f"[U, U + {request.tolerance:g}], within ε ≤ {eps_text(request.eps)} and {steps}, "
                f"{start}{restarts}{untargeted}")
    goal = "untargeted" if request.targeted is None else f"targeted at {_classes()[request.targeted]}"
    stop = ", stop when misclassified" if request.early_stop else ""
    origin = state.input_space_default("eps")
    eps = eps_text(request.eps) + (f" ({origin})" if origin else "")
    return f"{PROTOCOLS['eps']}: PGD {norm}, ε = {eps}, {steps}, {goal}{stop}{restarts}"


def attack(sel: Selection, name: str, protocol: Optional[str] = None) -> AttackResult:
    """PGD on the selected image against model ``name`` under the session's protocol (or ``protocol``), cached by
    image, label, model and the attack's request (protocol, U, band, start and budget included)."""
    request = attack_request(state.params(), protocol)
    net = model(sel, name)

    def run(progress):
        return request.run(net, sel.image.to(sel.device), sel.label, top_k=len(sel.classes))

    return compute.compute("PGD attack", run, compute.model_identity(name), sel.image_key, sel.label, request)


def outcome(result: AttackResult) -> tuple[str, str]:
    """A one-image attack's outcome as (label, value): landed or not (equal strength); at equal ε, whether it
    reached the target class (targeted), else whether the prediction changed (success means a changed prediction)."""
    if result.stop_drop is not None:
        return "Outcome", "landed" if bool(result.success[0]) else "not landed"
    if result.targets is not None:
        return "On target", "yes" if bool(result.success[0]) else "no"
    return "Prediction changed", "yes" if int(result.adv_pred[0]) != int(result.clean_pred[0]) else "no"


def landing_problem(name: str, result: AttackResult) -> Optional[str]:
    """Why a one-image equal-strength attack on model ``name`` gives no comparison (it did not land at U), else
    None (it landed, or the attack is not an equal-strength one)."""
    if result.stop_drop is None or bool(result.success[0]):
        return None
    params, drop = result.params, float(result.stop_drop[0])
    utility, band = float(params["stop_utility"]), float(params["tolerance"])
    budget = f"within ε = {eps_text(params['eps'])}, {params['steps']} steps"
    if drop < utility:
        return (f"PGD did not reach utility U = {utility:g} on **{name}** {budget} (it reached {drop:.2f}): no "
                f"equal-strength comparison for this image; try another image, a smaller U, a larger ε or more steps.")
    return (f"PGD could not land the utility of **{name}** in [U, U + {band:g}] = [{utility:g}, {utility + band:g}] "
            f"{budget} (it stopped at {drop:.2f}): no equal-strength comparison for this image; try another image, "
            f"a smaller step size or a wider landing band.")


def landed_attacks(sel: Selection, names: list[str]) -> dict[str, AttackResult]:
    """The attacks on models ``names`` that charts may compare: all at equal ε; at equal strength those that
    landed. A warning shows in place of each other one (:func:`landing_problem`), an error for an attack that
    failed."""
    attacks = {}
    for name in names:
        with compute.friendly_errors(f"The attack on {name}"):
            result = attack(sel, name)
            problem = landing_problem(name, result)
            if problem:
                st.warning(problem, icon=":material/block:")
            else:
                attacks[name] = result
    return attacks


def attack_note(attacks: dict[str, AttackResult]) -> str:
    """A chart's subtitle clauses on its attacks (one protocol, one page run): the protocol, and each model's
    achieved utility Δv(N)."""
    params = next(iter(attacks.values())).params
    protocol = (f"{PROTOCOLS['strength']}, U = {params['stop_utility']:g}" if params["stop_utility"] is not None
                else f"{PROTOCOLS['eps']} = {eps_text(params['eps'])}")
    utilities = " · ".join(f"{name} {float(r.utility[0]):.2f}" for name, r in attacks.items())
    return f"attack: {protocol}; achieved Δv(N): {utilities}"


def attack_caption(p: dict, attacks: dict[str, AttackResult]) -> str:
    """The line under a chart of ``attacks``: the attack's settings, each model's achieved utility Δv(N), and at
    equal ε with several models why their ΔJ do not compare at one strength."""
    utilities = ", ".join(f"{name} {float(r.utility[0]):.2f}" for name, r in attacks.items())
    text = f"Attack: {attack_summary(p)}. Achieved utility Δv(N) = v(x) − v(x′): {utilities}."
    if p["protocol"] == "eps" and len(attacks) > 1:
        text += (" At equal ε the attack lowers v by different amounts on different models, so their ΔJ differ "
                 "partly because it went further on one; equal strength compares them at one utility.")
    return text


def perturbation_scale(result: AttackResult) -> float:
    """The colour range ± of a one-image attack's δ: ε for L∞ at equal ε (the budget every model had), else its own
    largest change (an equal-strength ε is only a cap, which would wash out a small δ)."""
    if result.params["norm"] == "linf" and result.params["stop_utility"] is None:
        return float(result.params["eps"])
    return float(result.linf_norm[0])


def adversarial_image(result: AttackResult) -> torch.Tensor:
    return result.x_adv[0].cpu().float()
