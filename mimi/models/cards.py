"""The shipped zoo's folder: one JSON model card and one weights file per model.

``MIMI_ZOO_DIR`` points the dashboard (and the commands that drive it) at another folder of the same layout: tests'
stand-in zoos, a private zoo. The zoo (:mod:`mimi.models.zoo`) and the registry (:mod:`mimi.models.registry`) both
read the shipped names from here, so neither imports the other's module to learn them."""

from __future__ import annotations

import os
from pathlib import Path

from mimi.data.datasets import ASSETS_DIR

ZOO_DIR = ASSETS_DIR / "zoo"
ZOO_DIR_ENV = "MIMI_ZOO_DIR"


def zoo_dir() -> Path:
    """``MIMI_ZOO_DIR`` if set, else the shipped ``assets/zoo``."""
    return Path(os.environ.get(ZOO_DIR_ENV) or ZOO_DIR)


def shipped_names(folder: str | Path = ZOO_DIR) -> list[str]:
    """The models of a zoo folder, sorted: the stems of its model cards."""
    return sorted(p.stem for p in Path(folder).glob("*.json"))
