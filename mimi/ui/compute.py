"""Cached loaders and the Streamlit side of the compute gate.

- :func:`model` loads a zoo model once per process (``st.cache_resource``); models are frozen,
  so every session shares them.
- :func:`compute` runs ``fn(progress)`` through the process-wide :class:`ComputeGate`, keyed by
  content (image bytes, model name, parameters, seed). A cache hit returns at once; otherwise a
  progress bar follows the engine's batches. When the user changes an input meanwhile,
  Streamlit asks for a rerun: the next progress update turns that request into
  :class:`mimi.progress.Cancelled`, the engine stops at that batch, nothing is cached, and the
  rerun starts with the new input.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

import streamlit as st
import torch

from mimi import zoo
from mimi.compute import choose_device
from mimi.data import load_gallery
from mimi.progress import Cancelled, ProgressFn
from mimi.ui.gate import ComputeGate, content_key
from mimi.ui.params import check_work

try:  # Streamlit's rerun/stop requests surface as these exceptions at the next element update
    from streamlit.runtime.scriptrunner_utils.exceptions import ScriptControlException
except ImportError:  # pragma: no cover - older layout
    from streamlit.runtime.scriptrunner.exceptions import ScriptControlException  # type: ignore

T = TypeVar("T")
LOG = logging.getLogger("mimi.ui")
SLOTS_ENV = "MIMI_COMPUTE_SLOTS"
DEVICE_ENV = "MIMI_DEVICE"
ZOO_ENV = "MIMI_ZOO_DIR"


def zoo_dir() -> Path:
    """``MIMI_ZOO_DIR`` if set (tests, private zoos), else the shipped ``assets/zoo``."""
    return Path(os.environ.get(ZOO_ENV) or zoo.ZOO_DIR)


def zoo_names() -> list[str]:
    return zoo.names(zoo_dir())


def zoo_card(name: str) -> dict[str, Any]:
    return zoo.card(name, zoo_dir())


@st.cache_resource(show_spinner=False)
def gate() -> ComputeGate:
    """The one gate of this server process (``MIMI_COMPUTE_SLOTS`` concurrent computations, default 1)."""
    return ComputeGate(slots=max(1, int(os.environ.get(SLOTS_ENV, "1"))))


@st.cache_resource(show_spinner=False)
def device() -> str:
    """``MIMI_DEVICE`` if set, else the best available (cuda, mps, cpu)."""
    return str(choose_device(os.environ.get(DEVICE_ENV) or None))


@st.cache_resource(show_spinner="Loading model…", max_entries=16)
def model(name: str, on: str, folder: str | None = None) -> tuple[torch.nn.Module, dict[str, Any]]:
    """A frozen zoo model on device ``on`` and its card, shared by all sessions."""
    return zoo.load(name, on, Path(folder) if folder else zoo_dir())


@st.cache_resource(show_spinner=False)
def gallery():
    """The shipped gallery as an ImageSet (100 images, 10 per class)."""
    return load_gallery()


def compute(label: str, fn: Callable[[ProgressFn], T], *key_parts: Any) -> T:
    """``fn(progress)`` through the gate, cached under ``content_key(label, *key_parts)``, with a progress bar.

    A computation that announces more than ``MAX_FORWARD_PASSES`` is refused at its first batch
    (:class:`~mimi.ui.params.WorkTooLarge`, a ValueError that :func:`friendly_errors` shows)."""
    key = content_key(label, *key_parts)
    shared = gate()
    missing = object()
    hit = shared.lookup(key, missing)
    if hit is not missing:
        return hit
    slot = st.empty()
    bar = slot.progress(0.0, text=f"{label}: starting…")

    def show(fraction: float, text: str) -> None:
        try:
            bar.progress(min(max(fraction, 0.0), 1.0), text=text)
        except ScriptControlException as exc:  # the user changed an input: stop at this batch
            raise Cancelled("superseded by a newer request") from exc

    def progress(done: int, total: int, message: str = "") -> None:
        check_work(total, label)
        show(done / total if total else 1.0, f"{label}: {message or ''} {done:,}/{total:,}".replace("  ", " "))

    def waiting(ahead: int) -> None:
        show(0.0, f"{label}: queued — {ahead + 1} computation(s) of other sessions ahead" if ahead
             else f"{label}: waiting for the computation in progress")

    try:
        result = shared.run(key, lambda: fn(progress), on_wait=waiting)
    except Cancelled as exc:
        if isinstance(exc.__cause__, ScriptControlException):
            raise exc.__cause__ from None  # let Streamlit run the newer request
        raise
    slot.empty()
    return result


@contextlib.contextmanager
def friendly_errors(what: str) -> Iterator[None]:
    """Show a failure as one clear message in place of the section, never a stack trace.

    Expected failures (bad parameters, work bound, missing files, corrupt weights) show their
    message; anything else also names its type and goes, with its traceback, to the server log.
    The rest of the page still renders."""
    try:
        yield
    except Cancelled:
        raise
    except (ValueError, OSError) as exc:
        st.error(f"**{what} failed.** {exc}", icon=":material/error:")
    except Exception as exc:  # a bug: keep the page alive, log the details for the maintainers
        LOG.exception("%s failed", what)
        st.error(f"**{what} failed** with an unexpected {type(exc).__name__}: {str(exc)[:300]}. "
                 "The details are in the server log.", icon=":material/error:")


# --------------------------------------------------------------------------- gallery references
POPULATION_ENV = "MIMI_POPULATION_DIR"


def population_dir() -> Path:
    """``MIMI_POPULATION_DIR`` if set (tests), else the shipped ``assets/population``."""
    from mimi.population import POPULATION_DIR

    return Path(os.environ.get(POPULATION_ENV) or POPULATION_DIR)


@st.cache_resource(show_spinner=False, max_entries=64)
def _gallery_reference(name: str, folder: str, stamp: float):
    """(reference or None, problem or None) of one file version (``stamp``: its modification time)."""
    from mimi.population import load_gallery_profile

    try:
        return load_gallery_profile(name, folder), None
    except ValueError as exc:
        return None, str(exc)


def gallery_references(names, attack: dict[str, Any]) -> dict[str, Any]:
    """The shipped gallery references (:mod:`mimi.population`) of these models, for the faint grey ticks of
    the single-image charts: only their clean part when ``attack`` (keyword arguments of
    :func:`mimi.attacks.pgd`) is not the default attack they were computed with. A model without a file
    has none; a corrupt file shows one warning and gives none."""
    from mimi.population import attack_is_default, reference_path, without_attack

    folder, default_attack = population_dir(), attack_is_default(**attack)
    references = {}
    for name in names:
        path = reference_path(name, folder)
        try:
            stamp = path.stat().st_mtime
        except OSError:
            continue
        reference, problem = _gallery_reference(name, str(folder), stamp)
        if problem:
            st.warning(f"No gallery reference for {name}: {problem}", icon=":material/warning:")
        elif reference is not None:
            references[name] = reference if default_attack else without_attack(reference)
    return references


def reference_caption(references: dict[str, Any]) -> str:
    """The one line under the charts that says what the grey ticks are."""
    counts = " / ".join(sorted({str(int(r.count)) for r in references.values()}, key=int)) or "the"
    return (f"Grey ticks: the same quantity averaged over {counts} gallery images for this model, computed with "
            f"the default settings; shown only when the settings match (the adversarial and ΔJ ones only "
            f"under the default attack).")
