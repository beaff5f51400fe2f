"""What the page scripts share: the current selection, the parameter forms, cached library calls, charts.

Pages stay thin: they read their inputs with the forms here, call one library function per
model through :func:`mimi.ui.compute.compute` (cached by content), and render with
:func:`chart`, which adds the CSV and full-result JSON downloads under every figure.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Sequence

import numpy as np
import plotly.graph_objects as go
import streamlit as st
import torch

from mimi import figures
from mimi.attacks import AttackResult, pgd
from mimi.attacks.pgd import default_step_size
from mimi.data import FMNIST_CLASSES
from mimi.profiles import card_profile, eps_text
from mimi.results import Result
from mimi.ui import compute, refine as refine_, state
from mimi.players import parse_grid_spec
from mimi.ui.params import PROTOCOLS, check_work, estimate_passes, order_ratios
from mimi.ui.sidebar import Selection

SELECTION_KEY = "mimi_selection"
PLOTLY_CONFIG = {"displaylogo": False, "toImageButtonOptions": {"format": "png", "scale": 2},
                 "modeBarButtonsToRemove": ["lasso2d", "select2d", "autoScale2d"]}


def selection() -> Selection:
    """The sidebar's selection; stops the page with a hint when there is none."""
    sel: Optional[Selection] = st.session_state.get(SELECTION_KEY)
    if sel is None:
        st.info("Choose an image in the sidebar (and make sure the model zoo has models) to start.")
        st.stop()
    return sel


def model(sel: Selection, name: str) -> torch.nn.Module:
    return compute.model(name, sel.device, str(compute.zoo_dir()))[0]


def comparable_models(sel: Selection) -> list[str]:
    """The models that take the selection's input space (its dataset profile)."""
    return [name for name in compute.zoo_names() if card_profile(card(name)).name == sel.profile.name]


def _classes() -> tuple[str, ...]:
    """The class names of the selection's model A (Fashion-MNIST's before there is a selection)."""
    sel: Optional[Selection] = st.session_state.get(SELECTION_KEY)
    return sel.classes if sel is not None else FMNIST_CLASSES


def planned(sel: Selection, name: str, computation: str, cheaper: str, **plan: Any) -> compute.Work:
    """The :class:`~mimi.ui.compute.Work` of ``computation`` (:func:`mimi.analysis.planned_forward_passes`
    with ``plan``) for model ``name`` on the selected image's size and device."""
    from mimi.analysis import planned_forward_passes

    plan = dict(plan, image_shape=tuple(sel.image.shape[-2:]))
    passes = planned_forward_passes(computation, **plan)
    return compute.work(name, sel.device, passes, cheaper, computation, plan, float(state.params()["budget"]))


def card(name: str) -> dict[str, Any]:
    """The model card (read without loading the weights)."""
    return compute.zoo_card(name)


def field(spec_key: str, widget, **kwargs):
    """The form widget of parameter ``spec_key``, showing the session's value (:func:`mimi.ui.state.show`); its
    form's :func:`submit` commits it."""
    spec = state.param_specs()[spec_key]
    key = state.show(state.widget_key(spec_key), state.params()[spec_key])
    help_text = " ".join(filter(None, [spec.help, f"Bound: {spec.bounds_text()}.", state.default_note(spec_key)]))
    return widget(spec.label, key=key, help=help_text, **kwargs)


def number_field(key: str):
    """The whole-number form widget of parameter ``key`` within its bounds."""
    spec = state.param_specs()[key]
    return field(key, st.number_input, min_value=int(spec.low), max_value=int(spec.high), step=1)


def choice_field(key: str, widget=st.selectbox, **kwargs):
    """The form widget (a select box by default) of parameter ``key`` over its choices."""
    return field(key, widget, options=list(state.param_specs()[key].choices), **kwargs)


def float_field(key: str, step: float, number_format: str = "%.3f"):
    """The number form widget of parameter ``key`` within its bounds."""
    spec = state.param_specs()[key]
    return field(key, st.number_input, min_value=float(spec.low), max_value=float(spec.high), step=step,
                 format=number_format)


def submit(label: str, keys: Sequence[str], extra: Optional[Callable[[], dict[str, Any]]] = None, **kwargs) -> bool:
    """The form's submit button: a click makes the form values of parameters ``keys`` (and ``extra()``) the
    session's choices before the page runs again, so that the whole run, widgets included, shows them."""
    def values() -> dict[str, Any]:
        return {**state.widget_values(keys), **(extra() if extra else {})}

    return st.form_submit_button(label, on_click=state.commit(values), **kwargs)


# --------------------------------------------------------------------------- attack
def instant_choice(param: str, words: dict[str, str]) -> str:
    """A segmented control of parameter ``param`` (choices named by ``words``) that applies at once, without a
    form; the session's value."""
    spec = state.param_specs()[param]
    key = state.show(f"seg_{param}", state.params()[param])
    st.segmented_control(spec.label, list(words), key=key, required=True, format_func=words.get, help=spec.help,
                         on_change=state.commit(lambda: {param: st.session_state[key]}))
    return state.params()[param]


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


def attack_kwargs(p: dict, protocol: Optional[str] = None) -> dict[str, Any]:
    """Keyword arguments of :func:`mimi.attacks.pgd` for the session's protocol (or ``protocol``). Equal strength:
    untargeted, landed at U within its own ε cap, steps and step size; equal ε: its budget, target and stop rule."""
    common = dict(norm=p["norm"], restarts=int(p["restarts"]), value=p["value"], seed=int(p["seed"]))
    if (protocol or p["protocol"]) == "strength":
        return dict(eps=float(p["ueps"]), steps=int(p["usteps"]), step_size=float(p["ustep"]) or None, targeted=None,
                    stop_utility=float(p["utility"]), tolerance=float(p["tol"]), stop_rule="utility",
                    random_start=p["rstart"] == "on", early_stop=False, **common)
    return dict(eps=float(p["eps"]), steps=int(p["steps"]), step_size=float(p["step"]) or None,
                targeted=None if p["target"] == "none" else int(p["target"]), stop_utility=None,
                early_stop=p["stop"] == "success", **common)


def attack_summary(p: dict, protocol: Optional[str] = None) -> str:
    """The protocol and every setting of the attack :func:`attack_kwargs` makes, in words."""
    kw = attack_kwargs(p, protocol)
    norm = "L∞" if kw["norm"] == "linf" else "L2"
    steps = f"{kw['steps']} steps of {kw['step_size'] or default_step_size(kw['eps'], kw['steps']):.4g}"
    restarts = f", best of {kw['restarts']} restarts" if kw["restarts"] > 1 else ""
    if kw["stop_utility"] is not None:
        start = "random start" if kw["random_start"] else "starting at x"
        untargeted = "" if p["target"] == "none" else " (untargeted: the target class applies at equal ε only)"
        return (f"{PROTOCOLS['strength']}: PGD {norm} until v falls by U = {kw['stop_utility']:g}, landed in "
                f"[U, U + {kw['tolerance']:g}], within ε ≤ {eps_text(kw['eps'])} and {steps}, "
                f"{start}{restarts}{untargeted}")
    goal = "untargeted" if kw["targeted"] is None else f"targeted at {_classes()[kw['targeted']]}"
    stop = ", stop when misclassified" if kw["early_stop"] else ""
    origin = state.profile_default("eps")
    eps = eps_text(kw["eps"]) + (f" ({origin})" if origin else "")
    return f"{PROTOCOLS['eps']}: PGD {norm}, ε = {eps}, {steps}, {goal}{stop}{restarts}"


def attack(sel: Selection, name: str, protocol: Optional[str] = None) -> AttackResult:
    """PGD on the selected image against model ``name`` under the session's protocol (or ``protocol``), cached by
    image, label, model and every keyword of the attack (protocol, U, band, start and budget included)."""
    kwargs = attack_kwargs(state.params(), protocol)
    net = model(sel, name)

    def run(progress):
        return pgd(net, sel.image[None].to(sel.device), [sel.label], top_k=len(sel.classes), **kwargs)

    return compute.compute("PGD attack", run, compute.model_identity(name), sel.image_key, sel.label,
                           kwargs)


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


# --------------------------------------------------------------------------- interactions
def interaction_form(submit_label: str = "Compute", expanded: bool = True) -> None:
    """Grid, orders, time budget, pair set and count, target SE, samples, baseline, value function and seed, in a
    form (inside an expander, open or closed)."""
    with st.expander("Interaction settings (shared by all pages)", expanded=expanded, icon=":material/tune:"), \
            st.form("interaction_form"):
        c1, c2, c3, c4 = st.columns(4, gap="xsmall")   # select boxes wide enough at 1000 px
        with c1:
            choice_field("grid")
            choice_field("orders")
            float_field("budget", step=10.0, number_format="%.0f")
        with c2:
            choice_field("pairs")
            number_field("pcount")
            float_field("tse", step=0.01, number_format="%.3f")
        with c3:
            number_field("samples")
            number_field("ctx")
        with c4:
            choice_field("baseline")
            choice_field("value")
            number_field("seed")
        submit(submit_label, ("grid", "orders", "budget", "pairs", "pcount", "tse", "samples", "ctx", "baseline",
                              "value", "seed"), type="primary")


def interaction_kwargs(p: dict) -> dict[str, Any]:
    """Keyword arguments of :func:`mimi.analysis.interaction_profile` from the session's choices."""
    from mimi.analysis import DEFAULTS

    return dict(grid=p["grid"], ratios=order_ratios(p["orders"]), pairs=p["pairs"],
                pair_count=int(p["pcount"]) or None, samples=int(p["samples"]), contexts=int(p["ctx"]) or None,
                coverage=DEFAULTS["coverage"], baseline=p["baseline"], value=p["value"], seed=int(p["seed"]))


def pairs_evaluated(kwargs: dict) -> int:
    """Pairs a computation evaluates: ``pair_count``, or every pair of the set (an upper bound for
    neighbours: 4 per cell)."""
    rows, cols = parse_grid_spec(kwargs["grid"])
    n = rows * cols
    return kwargs["pair_count"] or (n * (n - 1) // 2 if kwargs["pairs"] == "all" else 4 * n)


def grid_summary(p: dict) -> str:
    """grid 16x16 (n = 256 players, ImageNet profile default)."""
    rows, cols = parse_grid_spec(p["grid"])
    origin = state.profile_default("grid")
    return f"grid {p['grid']} (n = {rows * cols} players" + (f", {origin})" if origin else ")")


def interaction_summary(p: dict) -> str:
    drawn = (f"{p['pcount']} pairs drawn from the {p['pairs']} set{state.fitted_note('pcount')}" if p["pcount"]
             else f"every {p['pairs']} pair")
    effort = f"{p['samples']} × {p['ctx']} contexts per pair and order" if p["ctx"] else \
        f"{p['samples']} whole designs per pair and order"
    target = f" or SE ±{p['tse']:g}" if p["tse"] else ""
    return (f"{grid_summary(p)}, {p['orders']} orders, {drawn}, {effort} per round, refined for up to "
            f"{p['budget']:g} s{target}, baseline {p['baseline']}, v = {p['value']}, seed {p['seed']}")


def profiles(sel: Selection, attacks: dict[str, AttackResult], draw: Callable[[dict, dict], None],
             refine: bool = True) -> tuple[dict, dict]:
    """The order profiles (clean and adversarial) of the models of ``attacks`` on the selected image, refined
    round by round within the session's time budget (:mod:`mimi.ui.refine`; ``refine`` False: first rounds
    only), ``draw(profiles, statuses)`` after each round, with a Stop button while it runs; the pooled profiles
    and each chart's :class:`~mimi.ui.refine.Refinement`."""
    p = state.params()
    kwargs = interaction_kwargs(p)
    key = refine_.request_key(sel, list(attacks), kwargs, {n: a.params for n, a in attacks.items()})
    button = st.empty()
    if refine:
        button.button("Stop refining", icon=":material/stop_circle:", on_click=refine_.stop, args=(key,),
                      help="ends the refinement: the charts keep the rounds computed so far")
    try:
        return refine_.refined_profiles(sel, attacks, kwargs, float(p["budget"]), float(p["tse"]) or None, planned,
                                        adversarial_image, draw, key, refine)
    finally:
        button.empty()


def refinement_lines(statuses: dict) -> str:
    """One line per chart on its refinement (rounds, time, largest SE, why it stopped), and what a fitted
    design asks less than the settings."""
    lines = [f"**{name}**: {status.line()}" + (f" {status.shrunk}" if status.shrunk else "")
             for name, status in statuses.items()]
    return "  \n".join(lines)


def delta_j_reading(name: str, profile) -> str:
    """One sentence on what a profile's ΔJ bars support: the drop of v(N), the orders where ΔJ is more
    than 2 SE from zero, and where the largest resolved share sits (or that none is resolved)."""
    delta_j = profile.utility_by_order
    if delta_j is None:
        return f"**{name}**: no attack, so no attacking utility."
    labels = [f"{r:g}" for r in profile.ratios]
    resolved = np.abs(delta_j.mean) > 2 * delta_j.se   # an exact (SE 0) nonzero bar counts
    text = f"**{name}**: the attack lowered v(N) by {profile.attack_utility:.2f}. "
    if not resolved.any():
        return text + "No order's bar is more than 2 SE from zero: more precision would be needed to say where it sits."
    top = int(np.argmax(np.where(resolved, delta_j.mean, -np.inf)))
    return (text + f"Bars more than 2 SE from zero at r = {', '.join(l for l, ok in zip(labels, resolved) if ok)}; "
            f"the largest of them at r = {labels[top]} ({delta_j.mean[top]:.3f} ± {delta_j.se[top]:.3f}).")


def heatmap(sel: Selection, name: str, cell: int, ratios, adv: Optional[torch.Tensor]):
    """I^(m)(cell, j) for every cell j, pooled over the orders of ``ratios``: clean, adversarial, difference."""
    from mimi.analysis import DEFAULTS, GAME_OPTIONS, image_game, pair_heatmap

    p = state.params()
    kwargs = dict(grid=p["grid"], ratios=tuple(ratios), samples=int(p["hsamples"]), coverage=DEFAULTS["coverage"],
                  baseline=p["baseline"], value=p["value"], seed=int(p["seed"]))
    check_work(estimate_passes("heatmap", grid=p["grid"], orders=len(ratios), samples=kwargs["samples"],
                               images=1 if adv is None else 2), f"The pair heatmap of {name}")
    net = model(sel, name)

    def run(progress):
        game = image_game(net, sel.image, sel.label, adv, device=sel.device, progress=progress,
                          **{k: v for k, v in kwargs.items() if k in GAME_OPTIONS})
        return pair_heatmap(game, cell, **{k: v for k, v in kwargs.items() if k not in GAME_OPTIONS})

    work = planned(sel, name, "heatmap", "Fewer heatmap samples or orders, or a coarser grid",
                   images=1 if adv is None else 2, cell=cell,
                   **{k: kwargs[k] for k in ("grid", "ratios", "samples", "seed", "coverage")})
    return compute.compute(f"Pair heatmap of {name}", run, compute.model_identity(name), sel.image_key, sel.label,
                           cell, adv, kwargs, planned=work)


def shapley(sel: Selection, name: str):
    """Sampled Shapley values of every cell of the selected image for model ``name``."""
    from mimi.analysis import GAME_OPTIONS, image_game, shapley_map

    p = state.params()
    kwargs = dict(grid=p["grid"], samples=int(p["ssamples"]), baseline=p["baseline"], value=p["value"],
                  seed=int(p["seed"]))
    check_work(estimate_passes("shapley", grid=p["grid"], orders=0, samples=kwargs["samples"]),
               f"The Shapley map of {name}")
    net = model(sel, name)

    def run(progress):
        game = image_game(net, sel.image, sel.label, device=sel.device, progress=progress,
                          **{k: v for k, v in kwargs.items() if k in GAME_OPTIONS})
        return shapley_map(game, **{k: v for k, v in kwargs.items() if k not in GAME_OPTIONS})

    work = planned(sel, name, "shapley", "Fewer permutation pairs or a coarser grid", grid=kwargs["grid"],
                   samples=kwargs["samples"])
    return compute.compute(f"Shapley map of {name}", run, compute.model_identity(name), sel.image_key, sel.label,
                           kwargs, planned=work)


def gallery_batch(count: int) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
    """``count`` gallery images, class by class: the first image of each class in class order (gallery
    indices 0, 10, 20, …), then the second (1, 11, …), and so on; with their labels and indices."""
    images = compute.gallery()
    per_class = len(images) // 10
    order = [c * per_class + k for k in range(per_class) for c in range(10)][:count]
    return images.images[order], images.labels[order], order


def gallery_batch_text(count: int) -> str:
    """Which images :func:`gallery_batch` takes, in words (the gallery: the first 10 test images of each class)."""
    rounds, extra = divmod(count, 10)

    def listed(classes: range) -> str:
        names = [FMNIST_CLASSES[c] for c in classes]
        return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]

    if not rounds:
        return (f"{count} gallery image{'s' if count > 1 else ''}: the first Fashion-MNIST test image of "
                f"{listed(range(count))}")
    more = f", plus test image {rounds + 1} of {listed(range(extra))}" if extra else ""
    first = "the first" if rounds == 1 else f"the first {rounds}"
    return f"{count} gallery images: {first} Fashion-MNIST test image{'s' if rounds > 1 else ''} of every class{more}"


def disentanglement_summary(p: dict) -> str:
    """The settings of :func:`disentanglement` in words (its samples and pairs are ``dsamples`` and
    ``dpcount``, not the profile's)."""
    drawn = (f"{p['dpcount']} pairs drawn per image from the {p['pairs']} set{state.fitted_note('dpcount')}"
             if p["dpcount"] else f"every {p['pairs']} pair")
    effort = (f"{p['dsamples']} × {p['ctx']} contexts per pair and order" if p["ctx"]
              else f"{p['dsamples']} whole designs per pair and order")
    return (f"{grid_summary(p)}, {p['orders']} orders, {drawn}, {effort}, "
            f"baseline {p['baseline']}, v = {p['value']}, seed {p['seed']}")


def disentanglement_band_text(count: int) -> str:
    """What the D^(m) chart's line and band are (:class:`mimi.analysis.Disentanglement`), for ``count`` images."""
    line = ("Line: D⁽ᵐ⁾ pooled over these images and their pairs, bias-corrected (the plug-in value of the "
            "released code, biased upward where interactions are small, is dotted: click it in the legend). ")
    if count == 1:
        band = ("Band: 95% normal interval from the delete-one-unit jackknife SE of this one image: it covers "
                "the random contexts only, not the choice of image or of pairs.")
    else:
        band = (f"Band: 95% interval, Student t with {count - 1} degrees of freedom on the delete-one-image "
                "jackknife SE: every image has its own masks and pairs, so the band covers the contexts, the "
                "pairs drawn and how D varies from image to image (it treats these images as a sample).")
    return (line + band + " Orders m = 0 and m = n−2 (r = 1) have one context per pair, so D = 1 there by "
            "construction; they are not drawn.")


def require_fashion_mnist(sel: Selection, name: str, what: str, api: str) -> None:
    """ValueError saying that ``what`` runs over the labelled Fashion-MNIST gallery, for a model of another profile."""
    if sel.profile.name != "fashion-mnist":
        raise ValueError(f"{what} runs over the 100 labelled Fashion-MNIST gallery images; {name} takes "
                         f"{sel.profile.title} images ({'×'.join(map(str, sel.profile.shape))}), whose gallery has too "
                         f"few labelled images. Choose Fashion-MNIST models in the sidebar, or run {api} on your own "
                         f"images")


def disentanglement(sel: Selection, name: str, count: int):
    """D^(m) of model ``name`` over ``count`` gallery images (``dsamples`` samples per order); Fashion-MNIST
    models only (the labelled gallery it runs over)."""
    from mimi.analysis import disentanglement as run_disentanglement

    require_fashion_mnist(sel, name, "D⁽ᵐ⁾", "mimi.analysis.disentanglement")
    p = state.params()
    kwargs = interaction_kwargs(p)
    kwargs["samples"] = int(p["dsamples"])
    kwargs["pair_count"] = int(p["dpcount"]) or None
    check_work(estimate_passes("profile", grid=kwargs["grid"], orders=len(kwargs["ratios"]),
                               pairs=pairs_evaluated(kwargs), samples=kwargs["samples"],
                               contexts=kwargs["contexts"] or 0, images=count),
               f"The disentanglement of {name}")
    images, labels, order = gallery_batch(count)
    net = model(sel, name)

    def run(progress):
        return run_disentanglement(net, images, labels, device=sel.device, progress=progress, **kwargs)

    work = planned(sel, name, "disentanglement", "Fewer images, pairs per image, samples or contexts, or a coarser grid",
                   images=count, **{k: kwargs[k] for k in ("grid", "ratios", "pairs", "pair_count", "samples",
                                                          "contexts", "seed", "coverage")})
    return compute.compute(f"Disentanglement of {name} over {count} images", run, compute.model_identity(name),
                           order, kwargs, planned=work)


def decomposition(sel: Selection, name: str, grid: str, adv: Optional[torch.Tensor]):
    """The exact decomposition of v(N) − v(∅) (and of the attacking utility) on a small grid."""
    from mimi.analysis import decomposition as run_decomposition, image_game

    p = state.params()
    kwargs = dict(grid=grid, baseline=p["baseline"], value=p["value"])
    net = model(sel, name)

    def run(progress):
        return run_decomposition(image_game(net, sel.image, sel.label, adv, device=sel.device, progress=progress,
                                            **kwargs))

    work = planned(sel, name, "decomposition", "A smaller decomposition grid", grid=grid,
                   images=1 if adv is None else 2)
    return compute.compute(f"Exact decomposition for {name}", run, compute.model_identity(name), sel.image_key,
                           sel.label, adv, kwargs, planned=work)


# --------------------------------------------------------------------------- rendering
def chart(fig: go.Figure, name: str, results: Optional[dict[str, Result]] = None, *, key: str,
          on_select: str = "ignore") -> Any:
    """Show ``fig`` (PNG from its toolbar), then download buttons: the chart's data as CSV and each
    model's full result as JSON (readable with ``mimi.results.load_result``)."""
    event = st.plotly_chart(fig, key=key, on_select=on_select, selection_mode="points",
                            config=PLOTLY_CONFIG, width="stretch")
    results = results or {}
    many = len(results) > 2    # more JSON buttons than fit beside the CSV one on a 1000-px page: a popover
    cols = st.columns(2 if many else 1 + len(results), gap="small")
    with cols[0]:
        st.download_button("⬇ CSV", figures.figure_csv(fig), file_name=f"{name}.csv", mime="text/csv",
                           key=f"{key}_csv", on_click="ignore", help="The numbers this chart plots")
    places = [cols[1].popover("⬇ JSON results")] * len(results) if many else cols[1:]
    for place, (label, result) in zip(places, results.items()):
        with place:
            st.download_button("⬇ JSON" if len(results) == 1 else f"⬇ JSON {label}", result.to_json(),
                               file_name=f"{name}-{label}.json", mime="application/json",
                               key=f"{key}_json_{label}", on_click="ignore",
                               help=f"The full {type(result).__name__}; read it back with mimi.results.load_result")
    return event


def model_columns(sel: Selection):
    """One column per model, headed by its name over a line with its training recipe (one line each, so the
    columns stay aligned on narrow pages)."""
    cols = st.columns(len(sel.models))
    for col, name in zip(cols, sel.models):
        with col:
            recipe = card(name).get("training", {}).get("recipe")
            st.markdown(f"#### {name}")
            st.caption(f"trained with the {recipe} recipe" if recipe else "a registered model")
    return cols
