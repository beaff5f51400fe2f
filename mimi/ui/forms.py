"""Form widgets bound to the session's parameters (:mod:`mimi.ui.state`): each shows the session's value with the
parameter's label, help and bounds, and a form's :func:`submit` commits them all at once; :func:`instant_choice`
applies at once, without a form."""

from __future__ import annotations

from typing import Any, Callable, Optional, Sequence

import streamlit as st

from mimi.ui import state


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


def instant_choice(param: str, words: dict[str, str]) -> str:
    """A segmented control of parameter ``param`` (choices named by ``words``) that applies at once, without a
    form; the session's value."""
    spec = state.param_specs()[param]
    key = state.show(f"seg_{param}", state.params()[param])
    st.segmented_control(spec.label, list(words), key=key, required=True, format_func=words.get, help=spec.help,
                         on_change=state.commit(lambda: {param: st.session_state[key]}))
    return state.params()[param]
