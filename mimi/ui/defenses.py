"""What the /detection, /recovery and /defenses pages share: cached single-image computations, and gallery
studies read from ``assets/defenses`` (``mimi defenses``) or, when no file matches, computed live.

A precomputed study is used for a model when its settings are the session's (grid, pair set, baseline,
value function and the attack); otherwise the study runs now over the session's ``images`` gallery
images, through the compute gate with a progress bar. Each page says which source it shows.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional

import numpy as np
import streamlit as st
import torch

from mimi.recovery import DEFAULT_RANDOM_ORDERS
from mimi.ui import compute, page, state
from mimi.ui.params import check_work, estimate_passes
from mimi.ui.sidebar import Selection

DEFENSES_ENV = "MIMI_DEFENSES_DIR"
#: The settings a precomputed study must share with the session to be shown in its place.
ATTACK_KEYS = ("eps", "steps", "step_size", "norm", "restarts", "stop_utility")
MATCH_KEYS = {"detection": ("grid", "pairs", "baseline", "value") + ATTACK_KEYS,
              "recovery": ("grid", "baseline", "value") + ATTACK_KEYS,
              "strength": ("grid", "pairs", "baseline", "value")}


def defenses_dir() -> Path:
    """``MIMI_DEFENSES_DIR`` if set (tests), else the shipped ``assets/defenses``."""
    from mimi.defenses import DEFENSES_DIR

    return Path(os.environ.get(DEFENSES_ENV) or DEFENSES_DIR)


@st.cache_resource(show_spinner=False, max_entries=64)
def _stored(kind: str, name: str, folder: str, stamp: float):
    """(study or None, problem or None) of one file version (``stamp``: its modification time)."""
    from mimi.defenses import load_study

    try:
        return load_study(kind, name, folder), None
    except ValueError as exc:
        return None, str(exc)


def precomputed(kind: str, name: str, wanted: dict[str, Any]) -> Optional[Any]:
    """The shipped ``kind`` study of model ``name`` when its settings agree with ``wanted`` (else None; a
    corrupt file shows one warning)."""
    from mimi.defenses import study_path

    folder = defenses_dir()
    try:
        stamp = study_path(kind, name, folder).stat().st_mtime
    except OSError:
        return None
    study, problem = _stored(kind, name, str(folder), stamp)
    if problem:
        st.warning(f"No precomputed {kind} study for {name}: {problem}", icon=":material/warning:")
        return None
    if study is None or any(_plain(study.params.get(k)) != _plain(wanted.get(k)) for k in MATCH_KEYS[kind]):
        return None
    if kind == "strength" and not np.array_equal(np.round(study.ratios, 9), np.round(wanted["ratios"], 9)):
        return None
    return study


def _plain(value: Any) -> Any:
    """Numbers as floats and sequences as lists, so settings read from JSON compare equal to the session's."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (int, float, np.number)) and not isinstance(value, bool):
        return float(value)
    return value


def gallery_attack(p: dict) -> dict[str, Any]:
    """The session's equal-ε PGD settings (/detection and /recovery attack at equal ε) as keyword arguments of
    :func:`mimi.analysis.run_attack`: gallery studies are untargeted and run all steps."""
    kwargs = page.attack_kwargs(p, "eps")
    return {key: kwargs[key] for key in ATTACK_KEYS}


def settings(p: dict) -> dict[str, Any]:
    """The session's settings that a precomputed study must match (:data:`MATCH_KEYS`)."""
    return dict(grid=p["grid"], pairs=p["pairs"], baseline=p["baseline"], value=p["value"], **gallery_attack(p))


def strength_ratios(p: dict) -> np.ndarray:
    """The orders (as ratios) of the session's D^(m) curves: its order set without the trivial orders."""
    from mimi.analysis import disentanglement_orders
    from mimi.players import parse_grid_spec
    from mimi.ui.params import order_ratios

    rows, cols = parse_grid_spec(p["grid"])
    return disentanglement_orders(rows * cols, ratios=order_ratios(p["orders"]))[1]


def sources_caption(sources: dict[str, str]) -> str:
    """"Sources: a, b: <source>; c: <other source>." from model name -> :func:`source_text`, models with the
    same source named together."""
    grouped: dict[str, list[str]] = {}
    for name, text in sources.items():
        grouped.setdefault(text, []).append(name)
    return "Sources: " + "; ".join(f"{', '.join(names)}: {text}" for text, names in grouped.items()) + "."


def source_text(study: Any, live: bool, count: int) -> str:
    """Where a gallery study comes from, in words."""
    if live:
        return f"computed now over {page.gallery_batch_text(count)}"
    command = study.params.get("command", "mimi defenses")
    return f"precomputed over {len(study.images) if hasattr(study, 'images') else len(study.per_image)} gallery " \
           f"images by `{command}`"


# --------------------------------------------------------------------------- single image
def leave_one_out(sel: Selection, name: str, adv: Optional[torch.Tensor]):
    """ML-LOO's attributions of every cell for the selected image and its adversarial version (model ``name``)."""
    from mimi.detection import leave_one_out_map

    p = state.params()
    kwargs = dict(grid=p["grid"], baseline=p["baseline"], value=p["value"], target="predicted")
    net = page.model(sel, name)

    def run(progress):
        return leave_one_out_map(net, sel.image, adv, label=sel.label, device=sel.device, progress=progress, **kwargs)

    return compute.compute(f"Leave-one-out attributions of {name}", run, compute.model_identity(name), sel.image_key,
                           sel.label, adv, kwargs)


def recovery(sel: Selection, name: str, adv: torch.Tensor):
    """The recovery curves of the selected image's adversarial version (model ``name``)."""
    from mimi.recovery import recovery_curve

    p = state.params()
    kwargs = dict(grid=p["grid"], samples=int(p["ssamples"]), random_orders=DEFAULT_RANDOM_ORDERS,
                  baseline=p["baseline"], value=p["value"], seed=int(p["seed"]))
    check_work(estimate_passes("shapley", grid=p["grid"], orders=0, samples=kwargs["samples"], images=2),
               f"The recovery curve of {name}")
    net = page.model(sel, name)

    def run(progress):
        return recovery_curve(net, sel.image, sel.label, adv, device=sel.device, progress=progress, **kwargs)

    return compute.compute(f"Recovery curve of {name}", run, compute.model_identity(name), sel.image_key, sel.label,
                           adv, kwargs)


# --------------------------------------------------------------------------- gallery studies
def _live(kind: str, sel: Selection, name: str, count: int, options: dict[str, Any], passes: int):
    from mimi.defenses import run_study
    from mimi.population import balanced_indices

    check_work(passes, f"The {kind} study of {name} over {count} images")
    indices = balanced_indices(count)
    net = page.model(sel, name)
    p = state.params()

    def run(progress):
        return run_study(kind, net, model_name=name, images=indices, seed=int(p["seed"]), device=sel.device,
                         progress=progress, **options)

    work = compute.work(name, sel.device, passes, "Fewer gallery images (the setting above), samples or pairs")
    return compute.compute(f"{kind.capitalize()} over {count} gallery images for {name}", run,
                           compute.model_identity(name), indices, options, int(p["seed"]), planned=work)


def gallery_study(kind: str, sel: Selection, name: str, **extra: Any) -> tuple[Any, bool]:
    """(study, live): the precomputed ``kind`` study of model ``name`` when it matches the session's settings,
    else one computed now over the session's ``images`` gallery images (Fashion-MNIST models only), with
    ``extra`` options of its function."""
    page.require_fashion_mnist(sel, name, f"The {kind} study", "mimi.defenses.run_study")
    p = state.params()
    stored = precomputed(kind, name, {**settings(p), "ratios": strength_ratios(p)})
    if stored is not None:
        return stored, False
    count = int(p["images"])
    kwargs = page.interaction_kwargs(p)
    if kind == "detection":
        options = dict(attack=gallery_attack(p), grid=kwargs["grid"], pairs=kwargs["pairs"],
                       pair_count=kwargs["pair_count"], samples=kwargs["samples"], contexts=kwargs["contexts"],
                       coverage=kwargs["coverage"], baseline=kwargs["baseline"], value=kwargs["value"], **extra)
        passes = estimate_passes("profile", grid=p["grid"], orders=8, pairs=page.pairs_evaluated(kwargs),
                                 samples=kwargs["samples"], contexts=kwargs["contexts"] or 0, images=2 * count)
    elif kind == "recovery":
        options = dict(attack=gallery_attack(p), grid=kwargs["grid"], baseline=kwargs["baseline"],
                       value=kwargs["value"], samples=int(p["ssamples"]), random_orders=DEFAULT_RANDOM_ORDERS,
                       **extra)
        passes = estimate_passes("shapley", grid=p["grid"], orders=0, samples=int(p["ssamples"]), images=2 * count)
    else:
        return page.disentanglement(sel, name, count), True
    return _live(kind, sel, name, count, options, passes), True


def detection(sel: Selection, name: str, successful_only: bool) -> tuple[Any, bool]:
    """(DetectionStudy, live) of model ``name`` (:func:`gallery_study`) under the image rule ``successful_only``
    (:func:`mimi.detection.image_rule`): a precomputed study is re-scored from its stored scores, a live one
    computed with it."""
    from mimi.detection import reselect

    study, live = gallery_study("detection", sel, name, successful_only=successful_only)
    if bool(study.params.get("successful_only")) != successful_only:
        study = reselect(study, successful_only)
    return study, live


def strength(sel: Selection, name: str) -> tuple[Any, Any, bool]:
    """(OrderStrength, its Disentanglement, live) for model ``name`` (:func:`gallery_study` "strength")."""
    from mimi.strength import order_strength

    result, live = gallery_study("strength", sel, name)
    return order_strength(result, name, source_text(result, live, len(result.per_image))), result, live


def contrast(a: float, se_a: float, b: float, se_b: float) -> str:
    """b - a ± its SE (independent estimates) and whether it is more than 2 SE from zero."""
    difference, se = b - a, float(np.hypot(se_a, se_b))
    verdict = "resolved (> 2 SE)" if abs(difference) > 2 * se else "not resolved (within 2 SE)"
    return f"{difference:+.3f} ± {se:.3f}, {verdict}"


def strength_reading(reference, other) -> str:
    """One line: ``other`` minus ``reference`` (two :class:`mimi.strength.OrderStrength`) in the low- and
    high-order shares and the total strength, each with its SE and whether it is resolved."""
    low = contrast(reference.bands["low"]["share"], reference.bands["low"]["se"], other.bands["low"]["share"],
                   other.bands["low"]["se"])
    high = contrast(reference.bands["high"]["share"], reference.bands["high"]["se"], other.bands["high"]["share"],
                    other.bands["high"]["se"])
    total = contrast(reference.total, reference.total_se, other.total, other.total_se)
    return f"**{other.model}**: low-order share {low}; high-order share {high}; total strength {total}."


def gallery_count_form(key: str) -> None:
    """The number of gallery images of a study computed now (the session's ``images``, shared with the
    Disentanglement page), in a small form."""
    spec, widget = state.param_specs()["images"], f"form_{key}_images"
    with st.form(f"{key}_form"):
        st.number_input(f"{spec.label} (for a study computed now)", int(spec.low), int(spec.high),
                        key=state.show(widget, int(state.params()["images"])),
                        help=f"{spec.help}. Bound: {spec.bounds_text()}. Precomputed studies keep their own.")
        st.form_submit_button("Compute", on_click=state.commit(lambda: {"images": int(st.session_state[widget])}))
