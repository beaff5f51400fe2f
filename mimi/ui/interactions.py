"""The interactions of the selected image: the interaction settings' form, their keyword arguments and summary in
words, and the cached computations per model: order profiles refined within the time budget
(:mod:`mimi.ui.refine`) and what their ΔJ bars support, pair heatmaps, Shapley maps and the exact
decomposition."""

from __future__ import annotations

from typing import Any, Callable, Optional

import numpy as np
import streamlit as st
import torch

from mimi.analysis import DEFAULTS
from mimi.analysis.requests import (DecompositionRequest, DisentanglementRequest, HeatmapRequest, ProfileRequest,
                                    ShapleyRequest)
from mimi.attacks import AttackResult
from mimi.core.players import parse_grid_spec
from mimi.ui import refine as refine_
from mimi.ui import state
from mimi.ui.attacking import adversarial_image
from mimi.ui.forms import choice_field, float_field, number_field, submit
from mimi.ui.page import image_result, planned
from mimi.ui.params import check_work, estimate_passes, order_ratios
from mimi.ui.sidebar import Selection


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


def _shared_fields(p: dict) -> dict[str, Any]:
    """The session's settings that the order profile and D^(m) share."""
    return dict(grid=p["grid"], baseline=p["baseline"], value=p["value"],
                ratios=tuple(float(r) for r in order_ratios(p["orders"])), pairs=p["pairs"],
                contexts=int(p["ctx"]) or None, coverage=DEFAULTS["coverage"], seed=int(p["seed"]))


def interaction_request(p: dict) -> ProfileRequest:
    """The order profile the session's choices ask for (:func:`mimi.analysis.interaction_profile`'s settings)."""
    return ProfileRequest(pair_count=int(p["pcount"]) or None, samples=int(p["samples"]), **_shared_fields(p))


def disentanglement_request(p: dict) -> DisentanglementRequest:
    """D^(m) as the session's choices ask for it: the profile's settings with D's own pairs and samples."""
    return DisentanglementRequest(pair_count=int(p["dpcount"]) or None, samples=int(p["dsamples"]),
                                  **_shared_fields(p))


def pairs_evaluated(request: ProfileRequest | DisentanglementRequest) -> int:
    """Pairs a computation evaluates: ``pair_count``, or every pair of the set (an upper bound for
    neighbours: 4 per cell)."""
    rows, cols = parse_grid_spec(request.grid)
    n = rows * cols
    return request.pair_count or (n * (n - 1) // 2 if request.pairs == "all" else 4 * n)


def grid_summary(p: dict) -> str:
    """grid 16x16 (n = 256 players, ImageNet default)."""
    rows, cols = parse_grid_spec(p["grid"])
    origin = state.input_space_default("grid")
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
    request = interaction_request(p)
    key = refine_.request_key(sel, list(attacks), request, {n: a.params for n, a in attacks.items()})
    button = st.empty()
    if refine:
        button.button("Stop refining", icon=":material/stop_circle:", on_click=refine_.stop, args=(key,),
                      help="ends the refinement: the charts keep the rounds computed so far")
    try:
        return refine_.refined_profiles(sel, attacks, request, float(p["budget"]), float(p["tse"]) or None, planned,
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
    p = state.params()
    request = HeatmapRequest(grid=p["grid"], baseline=p["baseline"], value=p["value"], cell=int(cell),
                             ratios=tuple(ratios), samples=int(p["hsamples"]), coverage=DEFAULTS["coverage"],
                             seed=int(p["seed"]))
    check_work(estimate_passes("heatmap", grid=p["grid"], orders=len(ratios), samples=request.samples,
                               images=1 if adv is None else 2), f"The pair heatmap of {name}")
    return image_result(f"Pair heatmap of {name}", sel, name, request, adv,
                        "Fewer heatmap samples or orders, or a coarser grid")


def shapley(sel: Selection, name: str):
    """Sampled Shapley values of every cell of the selected image for model ``name``."""
    p = state.params()
    request = ShapleyRequest(grid=p["grid"], baseline=p["baseline"], value=p["value"], samples=int(p["ssamples"]),
                             seed=int(p["seed"]))
    check_work(estimate_passes("shapley", grid=p["grid"], orders=0, samples=request.samples),
               f"The Shapley map of {name}")
    return image_result(f"Shapley map of {name}", sel, name, request, None, "Fewer permutation pairs or a coarser grid")


def decomposition(sel: Selection, name: str, grid: str, adv: Optional[torch.Tensor]):
    """The exact decomposition of v(N) − v(∅) (and of the attacking utility) on a small grid."""
    p = state.params()
    request = DecompositionRequest(grid=grid, baseline=p["baseline"], value=p["value"])
    return image_result(f"Exact decomposition for {name}", sel, name, request, adv, "A smaller decomposition grid")
