"""Cached loaders and the Streamlit side of the compute gate.

- :func:`model` loads a model once per process and identity (``st.cache_resource``); models are
  frozen, so every session shares them. The identity (:func:`model_identity`) comes from the model's
  card, which records its weights' SHA-256, so a name registered again with other weights loads them
  on the next rerun, without a restart and without hashing the weights file on every rerun.
- :func:`compute` runs ``fn(progress)`` through the process-wide :class:`ComputeGate`, keyed by
  content (image bytes, model identity, parameters, seed). A cache hit returns at once, and so does a result
  of the shipped store (:mod:`mimi.core.store`, which ``MIMI_PRECOMPUTE_RECORD=1`` fills). Otherwise its
  :class:`Work` (planned forward passes / the model's measured passes per second) decides: above
  ``MAX_SECONDS`` it is refused with a cheaper request named, above ``CONFIRM_SECONDS`` it waits
  for the user's button press, else it runs, with a progress bar following the engine's batches.
  When the user changes an input meanwhile, Streamlit asks for a rerun: the next progress update
  turns that request into :class:`mimi.core.progress.Cancelled`, the engine stops at that batch,
  nothing is cached, and the rerun starts with the new input.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

import streamlit as st
import torch

from mimi.analysis import DEFAULTS
from mimi.analysis.planning import planned_forward_passes
from mimi.batch.population import (POPULATION_DIR, attack_is_default, load_gallery_profile, reference_path,
                                   without_attack)
from mimi.core import store
from mimi.core.compute import choose_device, passes_per_second
from mimi.core.progress import Cancelled, ProgressFn
from mimi.data.datasets import load_gallery
from mimi.data.images import gallery_images
from mimi.models import zoo
from mimi.models.cards import zoo_dir
from mimi.ui.gate import ComputeGate, content_key
from mimi.ui.params import WorkTooLarge, check_work

try:  # Streamlit's rerun/stop requests surface as these exceptions at the next element update
    from streamlit.runtime.scriptrunner_utils.exceptions import ScriptControlException
except ImportError:  # pragma: no cover - older layout
    from streamlit.runtime.scriptrunner.exceptions import ScriptControlException  # type: ignore

T = TypeVar("T")
LOG = logging.getLogger("mimi.ui")
SLOTS_ENV = "MIMI_COMPUTE_SLOTS"
DEVICE_ENV = "MIMI_DEVICE"
CONFIRM_ENV, LIMIT_ENV = "MIMI_CONFIRM_SECONDS", "MIMI_MAX_SECONDS"
#: A computation estimated to take longer than this waits for the user's go-ahead.
CONFIRM_SECONDS = 15.0
#: A computation estimated to take longer than this is refused; the message names a cheaper request.
MAX_SECONDS = 600.0
CONFIRMED_KEY = "mimi_confirmed_work"


class AwaitingConfirmation(Exception):
    """A long computation waits for the user's button press; its section shows the estimate and the button."""


def duration(seconds: float) -> str:
    """12 s, 3 min 20 s, 1 h 5 min."""
    seconds = max(1, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min" + (f" {seconds % 60} s" if seconds % 60 else "")
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


#: What :meth:`Work.remedy` may shrink, per computation: (planner keyword, words), mildest change first.
SHRINKABLE = {
    "profile": (("samples", "samples per pair and order"), ("pair_count", "pairs drawn"), ("grid", "grid")),
    "heatmap": (("samples", "heatmap samples per order"), ("grid", "grid")),
    "shapley": (("samples", "Shapley permutation pairs"), ("grid", "grid")),
    "disentanglement": (("samples", "samples per order (D)"), ("pair_count", "pairs per image (D)"),
                        ("images", "gallery images"), ("grid", "grid")),
    "decomposition": (("grid", "decomposition grid"),),
}
#: Grids a remedy may propose, finest first (decomposition grids included).
REMEDY_GRIDS = ("16x16", "14x14", "8x8", "7x7", "4x4", "3x4", "3x3", "2x2")


@dataclass(frozen=True)
class Work:
    """One computation's planned forward passes, the time they should take here (:attr:`seconds`), and how to ask
    for less: :meth:`remedy` names a change that brings it under a time limit, from the planner's own count
    (``computation`` and ``plan``: :func:`mimi.analysis.planned_forward_passes`' arguments), else ``cheaper``.
    ``confirm_seconds``: above this it waits for the user's go-ahead (the page's time budget)."""

    passes: int
    device: str
    cheaper: str
    model: str = ""
    folder: str = ""
    computation: str = ""
    plan: tuple = ()
    confirm_seconds: float = CONFIRM_SECONDS

    @functools.cached_property
    def seconds(self) -> float:
        """At the speed of the model's last computation here (masking and bookkeeping included, under the server's
        load), or of a timed probe batch before the first one; worked out when first asked (never for a result
        that is cached or precomputed)."""
        key = (self.model, self.device, self.folder)
        return self.passes / (_observed_rates().get(key) or _probed_rate(*key))

    def describe(self) -> str:
        return f"{self.passes:,} forward passes, about {duration(self.seconds)} on this server's {self.device}"

    def remedy(self, limit: float) -> str:
        """The mildest single change of the plan (:data:`SHRINKABLE`) whose planned passes take at most ``limit``
        seconds at this speed, with its count and time; ``cheaper`` when none does."""
        plan, per_pass = dict(self.plan), self.seconds / max(1, self.passes)
        for key, words in SHRINKABLE.get(self.computation, ()):
            for value in _smaller(key, plan.get(key)):
                try:
                    passes = planned_forward_passes(self.computation, **{**plan, key: value})
                except ValueError:      # e.g. a grid the image cannot be cut into
                    continue
                if passes * per_pass <= limit:
                    return (f"{words.capitalize()} {value} instead of {plan[key]} would need {passes:,} forward "
                            f"passes, about {duration(passes * per_pass)}")
        return self.cheaper


def _smaller(key: str, value: Any) -> list:
    """Values a remedy may try for planner keyword ``key`` now at ``value``, mildest first."""
    if value is None:
        return []
    if key == "grid":
        return list(REMEDY_GRIDS[REMEDY_GRIDS.index(value) + 1:]) if value in REMEDY_GRIDS else []
    floor = 1 if key == "images" else 2
    values, value = [], int(value)
    while value // 2 >= floor:
        value //= 2
        values.append(value)
    return values if not values or values[-1] == floor else values + [floor]


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


def model_identity(name: str, folder: str | None = None) -> str:
    """``name@hash``: which weights model ``name`` is, from its card alone (the weights file is not read).

    The hash covers the card less its measured accuracies: a zoo card records its weights' SHA-256, a
    registered model's card the SHA-256 that ``mimi models add`` measured, with the file, architecture and
    normalization (a hand-written entry without a hash: the file's size and modification time instead).
    Registering the name again with other weights gives a new identity, so what is cached under it is fresh."""
    card = {key: value for key, value in zoo.card(name, Path(folder) if folder else zoo_dir()).items()
            if key != "evaluation"}
    if not card.get("sha256") and card.get("source"):
        with contextlib.suppress(OSError):
            stat = Path(card["source"]).stat()
            card["file"] = (stat.st_size, stat.st_mtime_ns)
    return f"{name}@{content_key(card)[:16]}"


def model(name: str, on: str, folder: str | None = None) -> tuple[torch.nn.Module, dict[str, Any]]:
    """A frozen model on device ``on`` and its card, shared by all sessions, loaded once per identity
    (:func:`model_identity`)."""
    folder = folder or str(zoo_dir())
    return _loaded(name, on, folder, model_identity(name, folder))


@st.cache_resource(show_spinner="Loading model…", max_entries=16)
def _loaded(name: str, on: str, folder: str, identity: str) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Model ``name`` from ``folder`` (``identity`` only keys the cache)."""
    return zoo.load(name, on, Path(folder))


@st.cache_resource(show_spinner="Timing the model…", max_entries=32)
def _probed_rate(name: str, on: str, folder: str) -> float:
    net, meta = model(name, on, folder)
    shape = tuple(meta.get("input", {}).get("shape", (1, 28, 28)))
    return passes_per_second(net, shape, torch.device(on))


@st.cache_resource(show_spinner=False)
def _observed_rates() -> dict[tuple[str, str, str], float]:
    """Forward passes per second of the last computation of each (model, device, folder) on this server."""
    return {}


def work(name: str, on: str, passes: int, cheaper: str, computation: str = "", plan: dict | None = None,
         confirm_seconds: float = CONFIRM_SECONDS) -> Work:
    """The :class:`Work` of ``passes`` forward passes of model ``name`` on device ``on`` (``computation`` and
    ``plan``: what the planner counted, for :meth:`Work.remedy`)."""
    return Work(int(passes), on, cheaper, name, str(zoo_dir()), computation, tuple(sorted((plan or {}).items())),
                confirm_seconds)


def _timed(fn: Callable[[ProgressFn], T], planned: Work | None) -> Callable[[ProgressFn], T]:
    """``fn`` that records its speed (planned passes per second of wall time) for the next estimates."""
    if planned is None or not planned.model:
        return fn

    def run(progress: ProgressFn) -> T:
        start = time.perf_counter()
        result = fn(progress)
        elapsed = time.perf_counter() - start
        if planned.passes >= 1000 and elapsed > 0:   # too small a run says more about overheads than speed
            _observed_rates()[(planned.model, planned.device, planned.folder)] = planned.passes / elapsed
        return result

    return run


def _approve(label: str, key: str, planned: Work) -> None:
    """Refuse work above the time bound; ask before work above the confirmation threshold (the page's time budget,
    or ``MIMI_CONFIRM_SECONDS``), once per request. Each names a change that brings it under (:meth:`Work.remedy`)."""
    limit = float(os.environ.get(LIMIT_ENV) or MAX_SECONDS)
    if planned.seconds > limit:
        raise WorkTooLarge(f"{label} would need {planned.describe()}; the dashboard's bound is {duration(limit)} "
                           f"per computation. {planned.remedy(limit)} (the `mimi analyze` CLI has no bound).")
    confirmed = st.session_state.setdefault(CONFIRMED_KEY, set())
    threshold = math.inf if store.recording() else float(os.environ.get(CONFIRM_ENV) or planned.confirm_seconds)
    if planned.seconds <= threshold or key in confirmed:
        return
    holder = st.empty()
    with holder.container():
        st.warning(f"**{label}** needs {planned.describe()}, over the time budget of {duration(threshold)}. "
                   f"{planned.remedy(threshold)}; or run it:", icon=":material/schedule:")
        pressed = st.button(f"Run it (about {duration(planned.seconds)})", key=f"confirm-{key[:16]}")
    if not pressed:
        raise AwaitingConfirmation(label)
    confirmed.add(key)
    holder.empty()


@st.cache_resource(show_spinner=False)
def gallery():
    """The shipped gallery as an ImageSet (100 images, 10 per class)."""
    return load_gallery()


@st.cache_resource(show_spinner=False)
def input_space_gallery(name: str):
    """The gallery of an input space as the model sees it (:func:`mimi.data.images.gallery_images`)."""
    return gallery_images(name)


def known(label: str, *key_parts: Any) -> Any:
    """The result :func:`compute` would return at once for these arguments (cached or precomputed), else None."""
    return _known(content_key(label, *key_parts))


def _known(key: str) -> Any:
    """The result cached or precomputed under content key ``key``, else None."""
    hit = gate().lookup(key, store.MISSING)
    if hit is store.MISSING:
        hit = store.load(key)
        if hit is store.MISSING:
            return None
        gate().put(key, hit)
    return hit


def compute(label: str, fn: Callable[[ProgressFn], T], *key_parts: Any, planned: Work | None = None,
            approve: bool = True, priority: int = 0) -> T:
    """``fn(progress)`` through the gate (queued at ``priority``, lower first), cached under
    ``content_key(label, *key_parts)``, with a progress bar; a result of the precomputed store comes at once (and
    is cached), and in record mode a computed one is stored.

    Not cached: with ``approve``, ``planned`` work above the time bound is refused, above the confirmation
    threshold it waits for the user (:class:`AwaitingConfirmation`; a time budget the user chose needs neither);
    a computation that announces more than ``MAX_FORWARD_PASSES`` is refused at its first batch
    (:class:`~mimi.ui.params.WorkTooLarge`, a ValueError that :func:`friendly_errors` shows)."""
    key = content_key(label, *key_parts)     # hashed once: the image and model parts are large
    shared = gate()
    hit = _known(key)
    if hit is not None:
        return hit
    if planned is not None and approve:
        _approve(label, key, planned)
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
        timed = _timed(fn, planned)
        result = shared.run(key, lambda: timed(progress), on_wait=waiting, priority=priority)
    except Cancelled as exc:
        if isinstance(exc.__cause__, ScriptControlException):
            raise exc.__cause__ from None  # let Streamlit run the newer request
        raise
    slot.empty()
    if store.recording():
        store.save(key, label, result)
    return result


@contextlib.contextmanager
def friendly_errors(what: str) -> Iterator[None]:
    """Show a failure as one clear message in place of the section, never a stack trace.

    Expected failures (bad parameters, work bound, missing files, corrupt weights) show their
    message; anything else also names its type and goes, with its traceback, to the server log.
    A computation awaiting the user's go-ahead has already shown its estimate and button.
    The rest of the page still renders."""
    try:
        yield
    except Cancelled:
        raise
    except AwaitingConfirmation:
        pass  # the section shows the estimate and the button instead
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
    return Path(os.environ.get(POPULATION_ENV) or POPULATION_DIR)


@st.cache_resource(show_spinner=False, max_entries=64)
def _gallery_reference(name: str, folder: str, stamp: float):
    """(reference or None, problem or None) of one file version (``stamp``: its modification time)."""
    try:
        return load_gallery_profile(name, folder), None
    except ValueError as exc:
        return None, str(exc)


def gallery_references(names, attack: dict[str, Any]) -> dict[str, Any]:
    """The shipped gallery references (:mod:`mimi.batch.population`) of these models, for the faint grey ticks of
    the single-image charts: only their clean part when ``attack`` (keyword arguments of
    :func:`mimi.attacks.pgd`) is not the attack they were computed with (DEFAULTS' equal-ε one). A model without a file
    has none; a corrupt file shows one warning and gives none."""
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
            f"the default settings; shown only when the settings match (the adversarial and ΔJ ones only under "
            f"the attack they were computed with: equal ε, PGD-{DEFAULTS['steps']} at ε = {DEFAULTS['eps']:g}).")
