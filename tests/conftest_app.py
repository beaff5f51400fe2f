"""Helpers for the dashboard tests: a tiny model zoo of seeded untrained models, and AppTest runs.

The UI reads ``MIMI_ZOO_DIR``, so the tests point it at two seeded SmallCNNs with the default
names: fast, and independent of the shipped weights (a few slow tests use those). Small sample counts come
in through the URL (query parameters), as a user would share them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from mimi.models import zoo
from mimi.models.networks import SmallCNN

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
#: Small, fast settings for every page (grid 4x4 = 16 players, 2 contexts, coarse orders, 2 images, 5 PGD steps,
#: order profiles refined for 2 s).
#: The untrained stand-ins barely move under PGD: equal strength lands them at U = 0.01 (every gallery image does).
FAST = {"grid": "4x4", "samples": "2", "pcount": "4", "orders": "coarse", "images": "2", "dsamples": "2", "dpcount": "4",
        "hsamples": "2", "ssamples": "2", "dgrid": "2x2", "steps": "5", "usteps": "5", "utility": "0.01",
        "budget": "2"}


def make_zoo(folder: Path) -> Path:
    """Seeded untrained SmallCNNs named like the shipped defaults, with cards."""
    folder.mkdir(parents=True, exist_ok=True)
    for seed, (name, recipe) in enumerate((("fmnist-standard", "standard"), ("fmnist-pgd-at", "pgd-at"))):
        torch.manual_seed(seed)
        meta = {"name": name, "architecture": "small-cnn", "arch_kwargs": {}, "training": {"recipe": recipe},
                "evaluation": {"clean_accuracy": 0.9 - 0.1 * seed, "pgd20_accuracy": 0.05 + 0.6 * seed},
                "description": f"untrained test stand-in for {name}"}
        zoo.save(SmallCNN(), meta, folder)
    return folder


@pytest.fixture(scope="session")
def test_zoo(tmp_path_factory) -> Path:
    return make_zoo(tmp_path_factory.mktemp("zoo"))


@pytest.fixture
def app_env(test_zoo, monkeypatch):
    """Run the app against the test zoo on the CPU."""
    monkeypatch.setenv("MIMI_ZOO_DIR", str(test_zoo))
    monkeypatch.setenv("MIMI_DEVICE", "cpu")
    monkeypatch.chdir(ROOT)
    torch.set_num_threads(1)
    return test_zoo


def app_test(page: str | None = None, timeout: float = 120, **query: str):
    """An AppTest of app.py with the given query parameters (FAST ones unless overridden), run once."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=timeout)
    for key, value in {**FAST, **query}.items():
        at.query_params[key] = value
    at.run()
    if page is not None:
        at.switch_page(page)
        at.run()
    return at


def errors(at) -> list[str]:
    """Exceptions and error alerts shown by a run."""
    return [str(e.value) for e in at.exception] + [str(e.value) for e in at.error]
