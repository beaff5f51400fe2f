"""What every page script shares: the sidebar's selection, its models and their cards, the planned work of a
computation, and the rendering: :func:`chart` (with the CSV and full-result JSON downloads under every figure)
and :func:`model_columns`.

Pages stay thin: they read their inputs with the forms of :mod:`mimi.ui.attacking` (the attack) and
:mod:`mimi.ui.interactions` (the interaction settings), both built from :mod:`mimi.ui.forms`; call one library
function per model through :func:`mimi.ui.compute.compute` (cached by content: the attack in
:mod:`mimi.ui.attacking`, one image's interactions in :mod:`mimi.ui.interactions`, D^(m) over the gallery in
:mod:`mimi.ui.disentanglement`); and render with :func:`chart`.
"""

from __future__ import annotations

from typing import Any, Optional

import plotly.graph_objects as go
import streamlit as st
import torch

from mimi import figures
from mimi.analysis.requests import ImageRequest, Request
from mimi.core.results import Result
from mimi.data.input_spaces import card_input_space
from mimi.models.cards import zoo_dir
from mimi.ui import compute, state
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
    return compute.model(name, sel.device, str(zoo_dir()))[0]


def comparable_models(sel: Selection) -> list[str]:
    """The models that take the selection's input space."""
    return [name for name in compute.zoo_names() if card_input_space(card(name)).name == sel.input_space.name]


def planned(sel: Selection, name: str, request: Request, images: int, cheaper: str) -> compute.Work:
    """The :class:`~mimi.ui.compute.Work` of ``request`` on ``images`` images of the selection's size for model
    ``name`` (its planned forward passes; a remedy shrinks the request's own fields), ``cheaper`` when none does."""
    plan = request.plan(sel.image.shape, images)
    return compute.work(name, sel.device, request.planned_passes(sel.image.shape, images), cheaper,
                        request.computation, plan, float(state.params()["budget"]))


def image_result(label: str, sel: Selection, name: str, request: ImageRequest, adv: Optional[torch.Tensor],
                 cheaper: str, **options: Any):
    """``request`` run on the selected image (and on ``adv`` with the same masks) for model ``name`` through the
    gate: cached under the model's identity, the image, its label, ``adv`` and the request itself (every field is in
    the key), planned by the request's dry run. ``options``: :func:`mimi.ui.compute.compute`'s."""
    net = model(sel, name)

    def run(progress):
        return request.run(request.game(net, sel.image, sel.label, adv, device=sel.device, progress=progress))

    work = planned(sel, name, request, 1 if adv is None else 2, cheaper)
    return compute.compute(label, run, compute.model_identity(name), sel.image_key, sel.label, adv, request,
                           planned=work, **options)


def card(name: str) -> dict[str, Any]:
    """The model card (read without loading the weights)."""
    return compute.zoo_card(name)


def chart(fig: go.Figure, name: str, results: Optional[dict[str, Result]] = None, *, key: str,
          on_select: str = "ignore") -> Any:
    """Show ``fig`` (PNG from its toolbar), then download buttons: the chart's data as CSV and each
    model's full result as JSON (readable with ``mimi.core.results.load_result``)."""
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
                               help=f"The full {type(result).__name__}; read it back with mimi.core.results.load_result")
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
