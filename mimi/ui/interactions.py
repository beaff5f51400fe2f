"""The interactions of the selected image: the interaction settings' form and their summary in words, and the cached
computations per model: order profiles refined within the time budget (:mod:`mimi.ui.refine`) and what their ΔJ
bars support, pair heatmaps, Shapley maps and the exact decomposition. The requests come from the settings through
:mod:`mimi.ui.params`."""

from __future__ import annotations

from typing import Callable, Optional

import numpy as np
import streamlit as st
import torch

from mimi.analysis.requests import DecompositionRequest, DisentanglementRequest, HeatmapRequest, ProfileRequest
from mimi.attacks import AttackResult
from mimi.core.players import parse_grid_spec
from mimi.ui import refine as refine_
from mimi.ui import state
from mimi.ui.attacking import adversarial_image
from mimi.ui.forms import choice_field, float_field, number_field, submit
from mimi.ui.page import image_result, planned
from mimi.ui.params import check_work, estimate_passes, profile_request, refinement_limits, shapley_request
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


def pairs_evaluated(request: ProfileRequest | DisentanglementRequest) -> int:
    """Pairs a computation evaluates: ``pair_count``, or every pair of the set (an upper bound for
    neighbours: 4 per cell)."""
    rows, cols = parse_grid_spec(request.grid)
    n = rows * cols
    return request.pair_count or (n * (n - 1) // 2 if request.pairs == "all" else 4 * n)


def grid_summary(grid: str) -> str:
    """grid 16x16 (n = 256 players, ImageNet default)."""
    rows, cols = parse_grid_spec(grid)
    origin = state.input_space_default("grid")
    return f"grid {grid} (n = {rows * cols} players" + (f", {origin})" if origin else ")")


def effort_text(request: ProfileRequest | DisentanglementRequest) -> str:
    """The contexts per pair and order: samples × contexts, or samples whole designs."""
    if request.contexts:
        return f"{request.samples} × {request.contexts} contexts per pair and order"
    return f"{request.samples} whole designs per pair and order"


def interaction_summary(p: dict) -> str:
    """The settings of :func:`profiles` in words."""
    request = profile_request(p)
    budget, target_se = refinement_limits(p)
    drawn = (f"{request.pair_count} pairs drawn from the {request.pairs} set{state.fitted_note('pcount')}"
             if request.pair_count else f"every {request.pairs} pair")
    target = f" or SE ±{target_se:g}" if target_se else ""
    return (f"{grid_summary(request.grid)}, {p['orders']} orders, {drawn}, {effort_text(request)} per round, refined "
            f"for up to {budget:g} s{target}, baseline {request.baseline}, v = {request.value}, seed {request.seed}")


def profiles(sel: Selection, attacks: dict[str, AttackResult], draw: Callable[[dict, dict], None],
             refine: bool = True) -> tuple[dict, dict]:
    """The order profiles (clean and adversarial) of the models of ``attacks`` on the selected image, refined
    round by round within the session's time budget (:mod:`mimi.ui.refine`; ``refine`` False: first rounds
    only), ``draw(profiles, statuses)`` after each round, with a Stop button while it runs; the pooled profiles
    and each chart's :class:`~mimi.ui.refine.Refinement`."""
    p = state.params()
    request = profile_request(p)
    budget, target_se = refinement_limits(p)
    key = refine_.request_key(sel, list(attacks), request, {n: a.params for n, a in attacks.items()})
    button = st.empty()
    if refine:
        button.button("Stop refining", icon=":material/stop_circle:", on_click=refine_.stop, args=(key,),
                      help="ends the refinement: the charts keep the rounds computed so far")
    try:
        return refine_.refined_profiles(sel, attacks, request, budget, target_se, planned, adversarial_image, draw,
                                        key, refine)
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


def heatmap(sel: Selection, name: str, request: HeatmapRequest, adv: Optional[torch.Tensor]):
    """I^(m)(cell, j) for every cell j, pooled over the request's orders: clean, adversarial, difference."""
    check_work(estimate_passes("heatmap", grid=request.grid, orders=len(request.ratios), samples=request.samples,
                               images=1 if adv is None else 2), f"The pair heatmap of {name}")
    return image_result(f"Pair heatmap of {name}", sel, name, request, adv,
                        "Fewer heatmap samples or orders, or a coarser grid")


def shapley(sel: Selection, name: str):
    """Sampled Shapley values of every cell of the selected image for model ``name``."""
    request = shapley_request(state.params())
    check_work(estimate_passes("shapley", grid=request.grid, orders=0, samples=request.samples),
               f"The Shapley map of {name}")
    return image_result(f"Shapley map of {name}", sel, name, request, None, "Fewer permutation pairs or a coarser grid")


def decomposition(sel: Selection, name: str, grid: str, adv: Optional[torch.Tensor]):
    """The exact decomposition of v(N) − v(∅) (and of the attacking utility) on a small grid."""
    p = state.params()
    request = DecompositionRequest(grid=grid, baseline=p["baseline"], value=p["value"])
    return image_result(f"Exact decomposition for {name}", sel, name, request, adv, "A smaller decomposition grid")
