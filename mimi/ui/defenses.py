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

from mimi.analysis import disentanglement_orders
from mimi.analysis.gallery import balanced_indices
from mimi.batch.gallery import DEFENSES_DIR, GalleryRequest, load_study, study_file
from mimi.core.players import parse_grid_spec
from mimi.defenses.detection import reselect
from mimi.defenses.requests import LeaveOneOutRequest, RecoveryRequest
from mimi.defenses.strength import band_mask, order_strength
from mimi.ui import compute, disentanglement, interactions, page, state
from mimi.ui.params import (attack_request, check_work, estimate_passes, leave_one_out_request, order_ratios,
                            profile_request, recovery_request)
from mimi.ui.sidebar import Selection

DEFENSES_ENV = "MIMI_DEFENSES_DIR"
#: The settings a precomputed study must share with the session to be shown in its place: the attack's are those a
#: gallery study records (:func:`mimi.analysis.gallery.attack_settings`; not :data:`mimi.analysis.gallery.PROFILE_ATTACK_KEYS`,
#: the ones it takes from DEFAULTS).
ATTACK_KEYS = ("eps", "steps", "step_size", "norm", "restarts", "stop_utility")
MATCH_KEYS = {"detection": ("grid", "pairs", "baseline", "value") + ATTACK_KEYS,
              "recovery": ("grid", "baseline", "value") + ATTACK_KEYS,
              "strength": ("grid", "pairs", "baseline", "value")}


def defenses_dir() -> Path:
    """``MIMI_DEFENSES_DIR`` if set (tests), else the shipped ``assets/defenses``."""
    return Path(os.environ.get(DEFENSES_ENV) or DEFENSES_DIR)


@st.cache_resource(show_spinner=False, max_entries=64)
def _stored(kind: str, name: str, folder: str, stamp: float):
    """(study or None, problem or None) of one file version (``stamp``: its modification time)."""
    try:
        return load_study(kind, name, folder), None
    except ValueError as exc:
        return None, str(exc)


def precomputed(kind: str, name: str, wanted: dict[str, Any]) -> Optional[Any]:
    """The shipped ``kind`` study of model ``name`` when its settings agree with ``wanted`` (else None; a
    corrupt file shows one warning)."""
    folder = defenses_dir()
    try:
        stamp = study_file(kind, name, folder).stat().st_mtime
    except OSError:
        return None
    study, problem = _stored(kind, name, str(folder), stamp)
    if problem:
        st.warning(f"No precomputed {kind} study for {name}: {problem}", icon=":material/warning:")
        return None
    if study is None or any(_comparable(study.params.get(k)) != _comparable(wanted.get(k)) for k in MATCH_KEYS[kind]):
        return None
    if kind == "strength" and not np.array_equal(np.round(study.ratios, 9), np.round(wanted["ratios"], 9)):
        return None
    return study


def _comparable(value: Any) -> Any:
    """Numbers as floats and sequences as lists, so settings read from JSON compare equal to the session's (not
    :func:`mimi.analysis.gallery.plain`, which makes settings JSON-ready and keeps ints ints)."""
    if isinstance(value, (list, tuple)):
        return [_comparable(v) for v in value]
    if isinstance(value, (int, float, np.number)) and not isinstance(value, bool):
        return float(value)
    return value


def gallery_attack(p: dict) -> dict[str, Any]:
    """The session's equal-ε PGD settings (/detection and /recovery attack at equal ε) as keyword arguments of
    :func:`mimi.analysis.run_attack`: gallery studies are untargeted and run all steps."""
    request = attack_request(p, "eps")
    return {key: getattr(request, key) for key in ATTACK_KEYS}


def settings(p: dict) -> dict[str, Any]:
    """The session's settings that a precomputed study must match (:data:`MATCH_KEYS`)."""
    return dict(grid=p["grid"], pairs=p["pairs"], baseline=p["baseline"], value=p["value"], **gallery_attack(p))


def strength_ratios(p: dict) -> np.ndarray:
    """The orders (as ratios) of the session's D^(m) curves: its order set without the trivial orders."""
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
        return f"computed now over {disentanglement.gallery_batch_text(count)}"
    command = study.params.get("command", "mimi defenses")
    return f"precomputed over {len(study.images) if hasattr(study, 'images') else len(study.per_image)} gallery " \
           f"images by `{command}`"


# --------------------------------------------------------------------------- single image
def leave_one_out(sel: Selection, name: str, adv: Optional[torch.Tensor]):
    """ML-LOO's attributions of every cell for the selected image and its adversarial version (model ``name``)."""
    request = leave_one_out_request(state.params())
    return _single_image(f"Leave-one-out attributions of {name}", sel, name, request, adv, "A coarser grid")


def recovery(sel: Selection, name: str, adv: torch.Tensor):
    """The recovery curves of the selected image's adversarial version (model ``name``)."""
    request = recovery_request(state.params())
    return _single_image(f"Recovery curve of {name}", sel, name, request, adv,
                         "Fewer permutation pairs or a coarser grid")


def _single_image(label: str, sel: Selection, name: str, request: LeaveOneOutRequest | RecoveryRequest,
                  adv: Optional[torch.Tensor], cheaper: str):
    """``request`` on the selected image and ``adv`` through the gate, keyed by the model, the image, its label,
    ``adv`` and the request, planned by its exact count."""
    net = page.model(sel, name)

    def run(progress):
        return request.run(net, sel.image, sel.label, adv, device=sel.device, progress=progress)

    work = page.planned(sel, name, request, 1 if adv is None else 2, cheaper)
    return compute.compute(label, run, compute.model_identity(name), sel.image_key, sel.label, adv, request,
                           planned=work)


# --------------------------------------------------------------------------- gallery studies
def _live(sel: Selection, name: str, request: GalleryRequest, rough: int):
    """A gallery study computed now through the gate, keyed by the model and the request: refused at once when
    ``rough`` (a cheap upper estimate of its passes) is absurd, else planned by the request's exact count."""
    what = f"{request.kind.capitalize()} over {len(request.images)} gallery images for {name}"
    check_work(rough, what)
    net = page.model(sel, name)

    def run(progress):
        return request.run(net, model_name=name, device=sel.device, progress=progress)

    work = compute.work(name, sel.device, request.planned_passes(sel.image.shape),
                        "Fewer gallery images (the setting above), samples or pairs")
    return compute.compute(what, run, compute.model_identity(name), request, planned=work)


def gallery_study(kind: str, sel: Selection, name: str, **extra: Any) -> tuple[Any, bool]:
    """(study, live): the precomputed ``kind`` study of model ``name`` when it matches the session's settings,
    else one computed now over the session's ``images`` gallery images (Fashion-MNIST models only), with
    ``extra`` options of its function."""
    disentanglement.require_labelled_gallery(sel, name, f"The {kind} study", "mimi.batch.gallery.run_in_process")
    p = state.params()
    stored = precomputed(kind, name, {**settings(p), "ratios": strength_ratios(p)})
    if stored is not None:
        return stored, False
    count = int(p["images"])
    if kind == "detection":
        profile = profile_request(p)
        options = dict(attack=gallery_attack(p), grid=profile.grid, pairs=profile.pairs,
                       pair_count=profile.pair_count, samples=profile.samples, contexts=profile.contexts,
                       coverage=profile.coverage, baseline=profile.baseline, value=profile.value, **extra)
        rough = estimate_passes("profile", grid=profile.grid, orders=8, pairs=interactions.pairs_evaluated(profile),
                                samples=profile.samples, contexts=profile.contexts or 0, images=2 * count)
    elif kind == "recovery":
        curve = recovery_request(p)
        options = dict(attack=gallery_attack(p), grid=curve.grid, baseline=curve.baseline, value=curve.value,
                       samples=curve.samples, random_orders=curve.random_orders, **extra)
        rough = estimate_passes("shapley", grid=curve.grid, orders=0, samples=curve.samples, images=2 * count)
    else:
        return disentanglement.disentanglement(sel, name, count), True
    request = GalleryRequest(kind, tuple(balanced_indices(count)), int(p["seed"]), options)
    return _live(sel, name, request, rough), True


def detection(sel: Selection, name: str, successful_only: bool) -> tuple[Any, bool]:
    """(DetectionStudy, live) of model ``name`` (:func:`gallery_study`) under the image rule ``successful_only``
    (:func:`mimi.defenses.detection.image_rule`): a precomputed study is re-scored from its stored scores, a live one
    computed with it."""
    study, live = gallery_study("detection", sel, name, successful_only=successful_only)
    if bool(study.params.get("successful_only")) != successful_only:
        study = reselect(study, successful_only)
    return study, live


def strength(sel: Selection, name: str) -> tuple[Any, Any, bool]:
    """(OrderStrength, its Disentanglement, live) for model ``name`` (:func:`gallery_study` "strength")."""
    result, live = gallery_study("strength", sel, name)
    return order_strength(result, name, source_text(result, live, len(result.per_image))), result, live


def contrast(a: float, se_a: float, b: float, se_b: float) -> str:
    """b - a ± its SE (independent estimates) and whether it is more than 2 SE from zero."""
    difference, se = b - a, float(np.hypot(se_a, se_b))
    verdict = "resolved (> 2 SE)" if abs(difference) > 2 * se else "not resolved (within 2 SE)"
    return f"{difference:+.3f} ± {se:.3f}, {verdict}"


def strength_reading(reference, other) -> str:
    """One line: ``other`` minus ``reference`` (two :class:`mimi.defenses.strength.OrderStrength`) in the low- and
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


# --------------------------------------------------------------------------- the paper against these models
#: Below this attacking utility v(x) − v(x′), results that rest on the attack are unreliable: the Recovery page's
#: gallery leaves such images out (R(k) divides by it), and an order profile's ΔJ is small by construction.
WEAK_UTILITY = 1.0
AT_RECIPES = ("pgd-at", "trades")


def recipe(name: str) -> str:
    """The training recipe of model ``name`` from its card ("" when the card does not say)."""
    try:
        return str(compute.zoo_card(name).get("training", {}).get("recipe") or "")
    except (KeyError, ValueError, OSError):
        return ""


def reference_model(names: list[str]) -> str:
    """The model the others are compared with: the first one trained with the standard recipe, else the first."""
    return next((name for name in names if recipe(name) == "standard"), names[0])


EQUAL_STRENGTH_HINT = "equal strength (Attack page) makes every model lose the same"
EQUAL_EPS_HINT = ("this page attacks at equal ε: a larger ε or more steps (Attack page, equal ε) make the attack "
                  "lower v further")


def weak_attack_caveat(utilities: dict[str, float], consequence: str, *, gallery: str = "The Recovery page's gallery",
                       hint: str = EQUAL_STRENGTH_HINT) -> Optional[str]:
    """A caveat when an attack's utility is below :data:`WEAK_UTILITY` for some models (None otherwise): its
    ``consequence`` for the result beside, the rule that the Recovery page's ``gallery`` applies, and a ``hint``."""
    weak = {name: u for name, u in utilities.items() if u < WEAK_UTILITY}
    if not weak:
        return None
    listed = ", ".join(f"{name} ({u:.2f})" for name, u in weak.items())
    return (f"The attack lowered v by less than {WEAK_UTILITY:g} for {listed}: {consequence}. {gallery} leaves out "
            f"such images (attacking utility below {WEAK_UTILITY:g}); {hint}.")


#: What a weak attack means for ΔJ⁽ᵐ⁾ bars (/interactions, /defenses).
DELTA_J_TOO_WEAK = "its ΔJ⁽ᵐ⁾ bars share out a drop this small, so they say little about the model"


def attack_utilities(attacks: dict[str, Any]) -> dict[str, float]:
    """Each model's attacking utility v(x) − v(x') of a one-image attack (:class:`mimi.attacks.AttackResult`)."""
    return {name: float(result.utility[0]) for name, result in attacks.items()}


def warn_if_weak(utilities: dict[str, float], consequence: str, **kwargs: Any) -> None:
    """Show :func:`weak_attack_caveat` as a warning where it applies."""
    caveat = weak_attack_caveat(utilities, consequence, **kwargs)
    if caveat:
        st.warning(caveat, icon=":material/warning:")


def _direction(difference: float, se: float, larger: str, smaller: str) -> str:
    if abs(difference) <= 2 * se:
        return "no resolved difference"
    return larger if difference > 0 else smaller


def _signed(difference: float, se: float) -> str:
    """"+0.128 ± 0.023 (larger)", the direction only where it is resolved (beyond 2 SE)."""
    word = _direction(difference, se, "larger", "smaller")
    return f"{difference:+.3f} ± {se:.3f}" + ("" if word == "no resolved difference" else f" ({word})")


PAPER_DEFENSES = {
    "low-high": "*The paper says* adversarial training (PGD-AT, TRADES) and Cutout keep discriminative low-order "
                "interactions and suppress fragile high-order ones, which are exactly what attacks exploit.",
    "detection": "*The paper says* detection methods (ML-LOO, rank-based) catch inputs whose most sensitive, "
                 "highest-order components changed; the Detection page sets this against mimi's numbers.",
    "dropout": "*The paper says* dropout lowers interaction strength overall.",
    "disentanglement": "*The paper says* adversarially trained models learn more disentangled low-order interactions.",
}


def strength_against_paper(strengths: dict, reference: str) -> dict[str, str]:
    """The paper's claims on interaction strength (:data:`PAPER_DEFENSES` "low-high": AT and Cutout have more
    low-order and less high-order strength; "dropout": less strength overall), each followed by the measured
    differences from model ``reference`` (±1 SE) and what they say; only claims whose models are here."""
    ref = strengths[reference]
    lines = {}
    group = [name for name in strengths if name != reference and recipe(name) in AT_RECIPES + ("cutout",)]
    if group:
        readings = []
        for name in group:
            s = strengths[name]
            low = s.bands["low"]["share"] - ref.bands["low"]["share"]
            low_se = float(np.hypot(s.bands["low"]["se"], ref.bands["low"]["se"]))
            high = s.bands["high"]["share"] - ref.bands["high"]["share"]
            high_se = float(np.hypot(s.bands["high"]["se"], ref.bands["high"]["se"]))
            more_low, less_low = low > 2 * low_se, low < -2 * low_se
            more_high, less_high = high > 2 * high_se, high < -2 * high_se
            verdict = ("as the paper says" if more_low and less_high else
                       "the opposite of the paper's claim" if less_low and more_high else
                       "against the paper's claim" if less_low or more_high else
                       "in part as the paper says" if more_low or less_high else "no resolved difference")
            readings.append(f"{name}: low-order share {_signed(low, low_se)}, high-order share "
                            f"{_signed(high, high_se)}: {verdict}")
        lines["low-high"] = (f"{PAPER_DEFENSES['low-high']} *On these models mimi measures*, against {reference}: "
                             + "; ".join(readings) + ".")
    dropout = [n for n in strengths if n != reference and recipe(n) == "dropout"]
    if dropout:
        readings = []
        for name in dropout:
            s = strengths[name]
            total, se = s.total - ref.total, float(np.hypot(s.total_se, ref.total_se))
            verdict = ("lower, as the paper says" if total < -2 * se else "higher, against the paper's claim"
                       if total > 2 * se else "no resolved difference")
            readings.append(f"{name} {total:+.3f} ± {se:.3f}, {verdict}")
        lines["dropout"] = (f"{PAPER_DEFENSES['dropout']} *On these models mimi measures* the total strength minus "
                            f"{reference}'s: " + "; ".join(readings) + ".")
    return lines


def disentanglement_against_paper(curves: dict, reference: str, count: int) -> Optional[str]:
    """The paper's claim (c) (AT models: more disentangled low-order interactions) against the measured D^(m) of
    the AT models here minus model ``reference`` at each low order (r < 1/3), ±1 SE; None without an AT model."""
    at = [name for name in curves if name != reference and recipe(name) in AT_RECIPES]
    if not at or reference not in curves:
        return None
    ref = curves[reference]
    readings = []
    for name in at:
        c = curves[name]
        low = band_mask(c.ratios, "low") & ~np.asarray(c.trivial, dtype=bool)
        ratios = np.asarray(c.ratios)[low]
        diff = np.asarray(c.d)[low] - np.asarray(ref.d)[low]
        se = np.hypot(np.asarray(c.d_se)[low], np.asarray(ref.d_se)[low])
        higher, lower = int(np.sum(diff > 2 * se)), int(np.sum(diff < -2 * se))
        verdict = (f"higher by more than 2 SE at {higher} of {len(ratios)}, as the paper says" if higher and not lower
                   else f"lower by more than 2 SE at {lower} of {len(ratios)}, against the paper's claim"
                   if lower and not higher else "no resolved difference at any of them" if not higher
                   else "higher at some, lower at others")
        readings.append(f"{name} − {reference} at r = {', '.join(f'{r:g}' for r in ratios)}: "
                        + ", ".join(f"{d:+.2f} ± {e:.2f}" for d, e in zip(diff, se)) + f"; {verdict}")
    return (f"{PAPER_DEFENSES['disentanglement']} *On these {count} images mimi measures* D⁽ᵐ⁾ at the low orders "
            "(±1 SE): " + "; ".join(readings) + ".")


def detection_against_paper(studies: dict) -> str:
    """The paper's claim on detection (ML-LOO catches the highest-order components, which the attack changes most)
    against the measured AUCs of ML-LOO and the high − low contrast per model (95% intervals)."""
    loo, contrast = [], []
    for name, study in studies.items():
        r = study.detector("ml-loo")
        where = ("above chance" if r.auc_low > 0.5 else "below chance: adversarial inputs score lower"
                 if r.auc_high < 0.5 else "not resolved from chance")
        loo.append(f"{name} {r.auc:.2f} [{r.auc_low:.2f}, {r.auc_high:.2f}], {where}")
        c = study.high_minus_low
        contrast.append(f"{name} {c['estimate']:+.2f} [{c['low']:+.2f}, {c['high']:+.2f}]"
                        + (" (high orders separate better)" if c["low"] > 0 else " (low orders separate better)"
                           if c["high"] < 0 else ""))
    return ("*The paper says* attribution-based detectors such as ML-LOO work because they catch the "
            "highest-order, most sensitive components, which the attack changes most. *On these models mimi "
            "measures* (equal ε, over the gallery, 95% intervals):\n"
            "- ML-LOO's AUC: " + "; ".join(loo) + ".\n"
            "- AUC of the high-order detector minus the low-order one: " + "; ".join(contrast) + ".")


def recovery_against_paper(studies: dict, reference: str) -> Optional[str]:
    """The paper's claim (adversarial examples of AT models are highly recoverable) against the measured ρ of each
    AT model minus model ``reference`` (±1 SE), with the images each rests on; None without an AT model."""
    at = [name for name in studies if name != reference and recipe(name) in AT_RECIPES]
    if not at:
        return None
    a = studies[reference].areas["ranked"]
    readings = []
    for name in at:
        s = studies[name]
        b = s.areas["ranked"]
        difference, se = b["mean"] - a["mean"], float(np.hypot(a["se"], b["se"]))
        readings.append(f"{name} {b['mean']:.3f} against {a['mean']:.3f}, {difference:+.3f} ± {se:.3f} "
                        f"({_direction(difference, se, 'higher', 'lower')}), over the {int(np.sum(s.used))} of "
                        f"{len(s.images)} images whose attack lowered v by at least {s.min_utility:g}")
    return ("*The paper says* adversarial examples of adversarially trained models are highly recoverable. *On these "
            f"models mimi measures* ρ (|Δφ|-ranked, ±1 SE) against {reference}: " + "; ".join(readings) + ". An "
            "equal-ε attack often fails to move an AT model by that much, so these images are a selection.")
