"""Session state that survives page switches, restored from and written back to the URL.

All choices live in one dict in ``st.session_state`` (not in widget keys, which Streamlit drops
when a page is left). On the first run of a session the URL's query parameters are parsed
against the bounds in :mod:`mimi.ui.params`; values that break a bound are ignored with a
message. After every run, :func:`sync_url` writes the choices that differ from their defaults
into the URL, so that copying the address shares the view.

Widgets never hold a choice of their own: every widget bound to a choice is set to the session's value before
it is drawn (:func:`show`), and its change reaches the session through a callback that runs before the page does
(a form's submit button, or the widget's ``on_change``). A widget that a run did not draw (the page stopped for
an upload, another page was open) therefore comes back showing the session's value, never one that Streamlit
restored or reset.

The defaults of grid and ε are model A's input space's (:func:`mimi.ui.params.input_space_defaults`):
:func:`follow_input_space` moves them when model A's dataset changes, except where the user chose a
value (in the URL, or one other than the default in a form), says so in a notice (:func:`notices`), and
:func:`default_note` says where a default came from. The defaults of the pair counts are fitted to the grid's
pair set (:func:`mimi.analysis.default_pair_count`): a count the user did not choose follows the grid and the
pair set, and :func:`fitted_note` says so when it is below the dashboard's default; a chosen count that the set
cannot give is refused by the computation.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Sequence

import streamlit as st

from mimi.analysis import default_pair_count
from mimi.data.input_spaces import DEFAULT_INPUT_SPACE, InputSpace, eps_text, input_space, same_input_space
from mimi.models.zoo import default_models
from mimi.ui import compute
from mimi.ui.params import INPUT_SPACE_PARAMS, Param, build_params, input_space_defaults

STATE_KEY = "mimi_params"
NOTES_KEY = "mimi_notices"   # what the next run tells the user: ignored URL parameters, moved values
CHOSEN_KEY = "mimi_chosen"      # the parameters the user chose: an input space's defaults never replace them
KEPT_KEY = "mimi_kept"          # the values of widgets that are no URL parameter (see keep)
INPUT_SPACE_KEY = "mimi_input_space"    # model A's input space, whose grid and ε are the defaults
PAIR_COUNTS = ("pcount", "dpcount")   # their defaults fit the grid's pair set
MODEL_KEYS = ("a", "b")


@st.cache_resource(show_spinner=False)
def param_specs() -> dict[str, Param]:
    return build_params()


def widget_key(param: str) -> str:
    """The key of the form widget that edits ``param``."""
    return f"form_{param}"


def current_input_space() -> InputSpace:
    """Model A's input space (set by :func:`follow_input_space` on every run; Fashion-MNIST before the first)."""
    return input_space(st.session_state.get(INPUT_SPACE_KEY, DEFAULT_INPUT_SPACE))


def defaults() -> dict[str, Any]:
    """Every parameter's default for model A's dataset: the dashboard's, with the input space's grid and ε, and the
    pair counts fitted to the current grid and pair set."""
    values = {**{key: spec.default for key, spec in param_specs().items()}, **input_space_defaults(current_input_space())}
    return {**values, **{key: _fitted_count(key, params()) for key in PAIR_COUNTS}}


def _fitted_count(key: str, values: dict[str, Any]) -> int:
    """Pair count ``key``'s default for the grid and pair set of ``values`` (0: every pair)."""
    return default_pair_count(values["grid"], values["pairs"], param_specs()[key].default) or 0


def _chosen() -> set[str]:
    """The parameters the user chose: given in the URL, or set in a form to a value other than the default."""
    return st.session_state.setdefault(CHOSEN_KEY, set())


def _initial() -> dict[str, Any]:
    specs = param_specs()
    values = {key: spec.default for key, spec in specs.items()}
    available = compute.zoo_names()
    values["a"], values["b"] = default_models(available)
    values["src"] = "gallery"
    notes, chosen = [], set()
    for key, text in st.query_params.to_dict().items():
        if key in specs:
            try:
                values[key] = specs[key].parse(text)
                chosen.add(key)
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
    for key in PAIR_COUNTS:
        if key not in chosen:
            values[key] = _fitted_count(key, values)
    st.session_state[NOTES_KEY] = notes
    st.session_state[CHOSEN_KEY] = chosen
    return values


def params() -> dict[str, Any]:
    """The session's choices (created from defaults and the URL on first use)."""
    if STATE_KEY not in st.session_state:
        st.session_state[STATE_KEY] = _initial()
    return st.session_state[STATE_KEY]


def update(**values: Any) -> None:
    """Set choices, checking each against its bound (ValueError names the bound); a parameter set to a value
    other than its default counts as chosen, one set to its default follows model A's dataset again. Pair counts
    the user did not choose then fit the grid and pair set."""
    specs = param_specs()
    current, default, chosen = params(), defaults(), _chosen()
    for key, value in values.items():
        if key in specs:
            specs[key].check(value)
            (chosen.add if value != default[key] else chosen.discard)(key)
        current[key] = value
    _fit_pair_counts()


def show(key: str, value: Any) -> str:
    """Make widget ``key`` show ``value`` when it is drawn in this run (set in Session State before it exists,
    never through ``value=``); ``key``. Its changes must reach the session through a callback (:func:`commit`)."""
    st.session_state[key] = value
    return key


def keep(key: str, default: Any) -> dict[str, Any]:
    """``key`` and ``on_change`` for a widget whose value is no URL parameter (a toggle, a folder): it shows the
    value the session kept for it (``default`` at first), also after runs that did not draw it."""
    kept = st.session_state.setdefault(KEPT_KEY, {})
    show(key, kept.get(key, default))
    return {"key": key, "on_change": lambda: kept.__setitem__(key, st.session_state[key])}


def widget_values(keys: Sequence[str]) -> dict[str, Any]:
    """The values of the form widgets of parameters ``keys`` (read in a submit button's callback)."""
    return {key: st.session_state[widget_key(key)] for key in keys}


def commit(values: Callable[[], dict[str, Any]]) -> Callable[[], None]:
    """A widget callback that makes ``values()`` the session's choices (:func:`update`) before the page runs."""
    return lambda: update(**values())


def _fit_pair_counts() -> None:
    """Set every pair count the user did not choose to its default for the current grid and pair set."""
    current, default, chosen = params(), defaults(), _chosen()
    for key in PAIR_COUNTS:
        if key not in chosen:
            current[key] = default[key]


def follow_input_space(space: InputSpace) -> None:
    """Make ``space`` (model A's dataset) the input space whose defaults apply: grid and ε that the user did not
    choose take its values, with a notice, and so do the pair counts the user did not choose."""
    before = st.session_state.get(INPUT_SPACE_KEY)
    st.session_state[INPUT_SPACE_KEY] = space.name
    current, default, chosen = params(), defaults(), _chosen()
    moved = []
    for key in INPUT_SPACE_PARAMS:
        if key not in chosen and current[key] != default[key]:
            moved.append(f"{param_specs()[key].label} {_shown(current[key])} → {_shown(default[key])}")
            current[key] = default[key]
    if moved and before is not None:
        notice(f"Model A's dataset is {space.title} now: " + ", ".join(moved) + f" (the {space.title} defaults; "
               "a value you set yourself stays).")
    _fit_pair_counts()


def _shown(value: Any) -> str:
    """A grid as it is, a budget as people write it (4/255)."""
    return eps_text(value) if isinstance(value, float) else str(value)


def input_space_default(key: str) -> Optional[str]:
    """Where ``key``'s value comes from when it is the default that model A's dataset sets ("ImageNet
    default"), else None (a Fashion-MNIST default, or the user's choice)."""
    space = current_input_space()
    return f"{space.title} default" if key in input_space_defaults(space) and key not in _chosen() else None


def default_note(key: str) -> str:
    """Where the default of ``key`` comes from, for its help text ("" for a parameter no input space changes)."""
    if key not in INPUT_SPACE_PARAMS:
        return ""
    space, shown = current_input_space(), _shown(defaults()[key])
    if key in input_space_defaults(space):
        return f"Default {shown}: the {space.title} default (model A's dataset)."
    return f"Default {shown}: the dashboard's, for Fashion-MNIST; a model A of another dataset starts at its input space's."


def fitted_note(key: str) -> str:
    """" (every pair: the default 48 is more than the 4x4 grid's neighbors set holds)" when pair count ``key`` is
    its default clamped to a smaller pair set, else ""."""
    current, default = params(), param_specs()[key].default
    if key in _chosen() or current[key] == default:
        return ""
    return (f" (every pair: the default {default} is more than the {current['grid']} grid's {current['pairs']} "
            f"set holds)")


def notice(text: str) -> None:
    """Tell the user ``text`` at the top of the page (once)."""
    st.session_state.setdefault(NOTES_KEY, []).append(text)


def notices() -> list[str]:
    """What the user has not been told yet (ignored URL parameters, values that moved), once."""
    return st.session_state.pop(NOTES_KEY, [])


def sync_url() -> None:
    """Write every choice that differs from its default (for model A's dataset) into the URL (an upload cannot
    be shared)."""
    specs, current, default_of = param_specs(), params(), defaults()
    default_a, default_b = default_models(compute.zoo_names())
    wanted = {key: str(value) for key, value in current.items()
              if key in specs and value != default_of[key] and not (key == "img" and current["src"] != "gallery")}
    for key, default in (("a", default_a), ("b", default_b)):
        if current.get(key) and current[key] != default:
            wanted[key] = current[key]
    if st.query_params.to_dict() != wanted:
        st.query_params.from_dict(wanted)
