"""Bench section ``dashboard``: what a user waits for, measured through Streamlit's AppTest.

Each page runs in a fresh AppTest session on a cold cache (results and models cleared), with
the defaults of :data:`mimi.analysis.DEFAULTS` and models A/B = fmnist-standard/fmnist-pgd-at
(seeded untrained stand-ins when the zoo lacks them; said in the notes):

- first chart: model A loaded, PGD on the default image and its attack figure (library calls,
  what /attack draws first), and the whole /attack page (both models) through AppTest;
- default view: /attack, then /interactions (order profiles of both models, plus the exact
  decomposition panel) and the pair heatmap page /pairs, on one warm server process but with
  every result computed for the first time (an empty store of precomputed results: the section
  ``sessions`` measures the shipped one). Goals: < 2 s to the first chart, < 10 s in all,
  on 2 CPU cores.
- revisit: /interactions again (every result cached by content), goal < 1 s.
- first visits of the other pages after that (their own results computed for the first time; models
  and attacks already loaded): /disentanglement, /defenses, /detection, /recovery, /study, /models,
  goal < 10 s each.

``quick`` uses small sample counts (through the URL, like a shared link).
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from mimi.attacks import pgd
from mimi.core import store
from mimi.data.datasets import load_gallery
from mimi.figures import attack as figures_attack
from mimi.models import cards, zoo
from mimi.models.networks import SmallCNN
from mimi.models.zoo import default_models

ROOT = Path(__file__).resolve().parents[2]
QUICK = {"samples": "2", "pcount": "8", "hsamples": "2", "ssamples": "4", "dgrid": "2x2", "images": "2"}
OTHER_PAGES = ("disentanglement", "defenses", "detection", "recovery", "study", "models")


def _stand_in_zoo(folder: Path) -> Path:
    for seed, name in enumerate(("fmnist-standard", "fmnist-pgd-at")):
        torch.manual_seed(seed)
        zoo.save(SmallCNN(), {"name": name, "architecture": "small-cnn", "arch_kwargs": {},
                              "training": {"recipe": "untrained"}, "description": "bench stand-in"}, folder)
    return folder


def _page_seconds(page: str | None, query: dict[str, str], keep: Any = None) -> tuple[float, Any]:
    """Wall time of one AppTest run of ``page`` (after the home page), or of a rerun of ``keep``."""
    from streamlit.testing.v1 import AppTest  # deferred: Streamlit loads only when this command runs

    at = keep
    if at is None:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
        for key, value in query.items():
            at.query_params[key] = value
        at.run()
    start = time.perf_counter()
    if page is not None:
        at.switch_page(page)
    at.run()
    seconds = time.perf_counter() - start
    failures = [str(e.value) for e in at.exception] + [str(e.value) for e in at.error]
    if failures:
        raise RuntimeError(f"{page}: {failures[0][:300]}")
    return seconds, at


def _first_chart_seconds(device: str) -> float:
    """Model A loaded from disk, PGD on gallery image 0, and the attack figure: what /attack draws first."""
    zoo_dir = cards.zoo_dir()
    name = default_models(zoo.names(zoo_dir))[0]
    images = load_gallery()
    start = time.perf_counter()
    model, _ = zoo.load(name, device, zoo_dir)
    x = images.images[:1].to(device)
    result = pgd(model, x, images.labels[:1].to(device), eps=0.1, steps=20)
    figures_attack.attack_figure(x[0].cpu().numpy(), result.x_adv[0].cpu().numpy(), 0.1).to_json()
    return time.perf_counter() - start


def run(quick: bool = False, device: str = "cpu") -> dict:
    import streamlit as st  # deferred: Streamlit loads only when this command runs


    notes = []
    previous = {key: os.environ.get(key) for key in ("MIMI_DEVICE", cards.ZOO_DIR_ENV, store.DIR_ENV)}
    os.environ["MIMI_DEVICE"] = device
    empty_store = tempfile.TemporaryDirectory()   # every result computed, none read from assets/precomputed
    os.environ["MIMI_PRECOMPUTED_DIR"] = empty_store.name
    tmp = None
    if not {"fmnist-standard", "fmnist-pgd-at"} <= set(zoo.names()):
        tmp = tempfile.TemporaryDirectory()
        os.environ[cards.ZOO_DIR_ENV] = str(_stand_in_zoo(Path(tmp.name)))
        notes.append("fmnist-standard/fmnist-pgd-at missing from the zoo: timed on untrained stand-ins")
    cwd = os.getcwd()
    os.chdir(ROOT)
    query = QUICK if quick else {}
    try:
        first_chart = _first_chart_seconds(device)
        st.cache_resource.clear()
        attack, at = _page_seconds("views/attack.py", query)
        interactions, at = _page_seconds("views/interactions.py", query, at)
        pairs, at = _page_seconds("views/pairs.py", query, at)
        revisit, at = _page_seconds("views/interactions.py", query, at)
        visits = {}
        for page in OTHER_PAGES:
            visits[page], at = _page_seconds(f"views/{page}.py", query, at)
    finally:
        os.chdir(cwd)
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        if tmp is not None:
            tmp.cleanup()
        empty_store.cleanup()
    total = round(attack, 2) + round(interactions, 2) + round(pairs, 2)
    rows = [
        ["dashboard: first chart (model A: load, PGD, attack figure) [s]", round(first_chart, 3), "< 2"],
        ["dashboard: /attack page, 2 models, cold [s]", round(attack, 2), "< 2"],
        ["dashboard: /interactions (profiles + exact decomposition, 2 models) [s]", round(interactions, 2), ""],
        ["dashboard: /pairs (pair heatmaps + Shapley maps, 2 models) [s]", round(pairs, 2), ""],
        ["dashboard: default view (/attack + /interactions + /pairs) [s]", round(total, 2), "< 10"],
        ["dashboard: revisit /interactions (cached) [s]", round(revisit, 2), "< 1"],
    ] + [[f"dashboard: first visit of /{page} after the default view [s]", round(seconds, 2), "< 10"]
         for page, seconds in visits.items()]
    return {"rows": rows, "notes": notes, "quick": quick, "device": device}
