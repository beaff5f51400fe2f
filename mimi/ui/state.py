"""Session state that survives page switches, restored from and written back to the URL.

All choices live in one dict in ``st.session_state`` (not in widget keys, which Streamlit drops
when a page is left). On the first run of a session the URL's query parameters are parsed
against the bounds in :mod:`mimi.ui.params`; values that break a bound are ignored with a
message. After every run, :func:`sync_url` writes the choices that differ from their defaults
into the URL, so that copying the address shares the view.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from mimi.profiles import same_input_space
from mimi.ui import compute
from mimi.ui.params import Param, build_params

STATE_KEY = "mimi_params"
NOTES_KEY = "mimi_url_notes"
MODEL_KEYS = ("a", "b")
PREFERRED_MODELS = ("fmnist-standard", "fmnist-pgd-at", "fmnist-trades")  # A, then B in order of preference


@st.cache_resource(show_spinner=False)
def param_specs() -> dict[str, Param]:
    return build_params()


def default_models(available: list[str]) -> tuple[str | None, str | None]:
    """Model A and B: fmnist-standard and fmnist-pgd-at when present (B falls back to fmnist-trades),
    else the zoo's first models."""
    chosen = [name for name in PREFERRED_MODELS if name in available]
    chosen += [name for name in available if name not in chosen]
    chosen += [None, None]
    return chosen[0], chosen[1]


def _initial() -> dict[str, Any]:
    specs = param_specs()
    values = {key: spec.default for key, spec in specs.items()}
    available = compute.zoo_names()
    values["a"], values["b"] = default_models(available)
    values["src"] = "gallery"
    notes = []
    for key, text in st.query_params.to_dict().items():
        if key in specs:
            try:
                values[key] = specs[key].parse(text)
            except ValueError as exc:
                notes.append(f"Ignored a URL parameter: {exc}.")
        elif key in MODEL_KEYS:
            if text in available:
                values[key] = text
            else:
                notes.append(f"Ignored a URL parameter: model {key}={text!r} is not in the zoo "
                             f"({', '.join(available) or 'empty'}).")
    mismatch = same_input_space([compute.zoo_card(values[k]) for k in MODEL_KEYS]) \
        if all(st.query_params.get(k) == values[k] for k in MODEL_KEYS) else None
    if mismatch:
        notes.append(f"{mismatch} Model B is a model of A's dataset instead.")
    st.session_state[NOTES_KEY] = notes
    return values


def params() -> dict[str, Any]:
    """The session's choices (created from defaults and the URL on first use)."""
    if STATE_KEY not in st.session_state:
        st.session_state[STATE_KEY] = _initial()
    return st.session_state[STATE_KEY]


def update(**values: Any) -> None:
    """Set choices, checking each against its bound (ValueError names the bound)."""
    specs = param_specs()
    current = params()
    for key, value in values.items():
        if key in specs:
            specs[key].check(value)
        current[key] = value


def url_notes() -> list[str]:
    return st.session_state.pop(NOTES_KEY, [])


def sync_url() -> None:
    """Write every choice that differs from its default into the URL (an upload cannot be shared)."""
    specs = param_specs()
    current = params()
    default_a, default_b = default_models(compute.zoo_names())
    wanted = {key: str(value) for key, value in current.items()
              if key in specs and value != specs[key].default and not (key == "img" and current["src"] != "gallery")}
    for key, default in (("a", default_a), ("b", default_b)):
        if current.get(key) and current[key] != default:
            wanted[key] = current[key]
    if st.query_params.to_dict() != wanted:
        st.query_params.from_dict(wanted)
