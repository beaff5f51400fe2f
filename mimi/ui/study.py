"""The /study page's side: a cached study report, and links that open a study's image in the single-image pages.

The dashboard only reads study folders (:func:`mimi.study.build_report`): it never runs a job and never
starts Ray. A report is cached by the folder and the state of its files (names, sizes, times), so a study
that is still running shows its new results on the next visit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional
from urllib.parse import urlencode

import streamlit as st

from mimi.attacks.landing import DEFAULT_TOLERANCE
from mimi.study.plan import JOBS_DIR, MANIFEST_NAME
from mimi.study.report import StudyReport, build_report
from mimi.interactions.pairs import PAPER_RATIOS
from mimi.ui.params import COARSE_RATIOS, PROFILE_PARAMS
from mimi.ui.state import param_specs


def folder_state(folder: str | Path) -> tuple:
    """What identifies the content of a study folder: each file's name, size and modification time."""
    folder = Path(folder)
    files = [folder / MANIFEST_NAME, *sorted((folder / JOBS_DIR).glob("*.json"))] if folder.is_dir() else []
    return tuple((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files if p.exists())


@st.cache_data(show_spinner="Reading the study…", max_entries=8)
def _report(folder: str, state: tuple) -> StudyReport:
    return build_report(folder)


def report(folder: str | Path) -> StudyReport:
    """The report of the study in ``folder`` (ValueError with the reason when it holds none)."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise ValueError(f"{folder} is not a folder")
    return _report(str(folder), folder_state(folder))


def findings(report: StudyReport) -> str:
    """What a study says about the three claims, in words from its numbers: the verdicts under its value
    function and its twin's, the images behind them and the protocol that made them equal in strength."""
    p = report.params
    counts = [m.count for m in report.models.values()] or [0]
    verdicts = "; ".join(f"({c.key}) **{c.verdict}**" for c in report.claims)
    text = (f"What the shipped Fashion-MNIST models say, on the Study page ({p['images']['description']}; "
            f"{min(counts)} to {max(counts)} of them per model landed at equal strength"
            + (f", a drop of {p['stop_utility']:g} in the true class's logit once misclassified"
               if p.get("stop_rule") == "paper" else "") + f"): with v = {p['value']}, {verdicts}.")
    if report.twin_claims:
        text += (f" With v = {report.twin_value}, from the same forward passes: "
                 + "; ".join(f"({c.key}) **{c.verdict}**" for c in report.twin_claims) + ".")
    return text + (" One image, or the 10 images of the Disentanglement page, often leaves the error bands too wide "
                   "to tell the models apart.")


def _ratios_choice(ratios) -> Optional[str]:
    values = tuple(round(float(r), 6) for r in ratios)
    for name, choice in (("paper", PAPER_RATIOS), ("coarse", COARSE_RATIOS)):
        if values == tuple(round(r, 6) for r in choice):
            return name
    return None


def dashboard_query(params: dict[str, Any], model: str, other: Optional[str], gallery_index: int,
                    seed: int) -> tuple[dict[str, str], list[str]]:
    """The URL query that opens a study's gallery image in the single-image pages with the study's settings
    and the job's seed (so the page recomputes that job), and the settings that the dashboard cannot take."""
    strength = params.get("stop_utility") is not None
    budget = dict(eps=float(params["eps"]), steps=int(params["steps"]), step=float(params["step_size"] or 0.0))
    wanted = {"img": gallery_index, "protocol": "strength" if strength else "eps", "norm": params["norm"],
              "restarts": int(params["restarts"]), "grid": params["grid"], "pairs": params["pairs"],
              "pcount": int(params["pair_count"] or 0), "samples": int(params["samples"]),
              "ctx": int(params["contexts"] or 0), "baseline": params["baseline"], "value": params["value"],
              "orders": _ratios_choice(params["ratios"]), "seed": int(seed),
              "ssamples": int(params["shapley_samples"]) or None, "dsamples": int(params["d_samples"]),
              "dpcount": int(params["d_pair_count"] or 0)}
    if strength:   # equal strength has a budget of its own
        wanted.update({"u" + key: value for key, value in budget.items()}, utility=float(params["stop_utility"]),
                      tol=float(params.get("tolerance", DEFAULT_TOLERANCE)),
                      rstart="on" if params.get("random_start", True) else "off")
    else:
        wanted.update(budget, stop="none")
    specs, query, dropped = param_specs(), {"a": model}, []
    if strength and params.get("stop_rule", "utility") != "utility":
        dropped.append("stop_rule")   # the dashboard lands the drop of v only
    if other:
        query["b"] = other
    for key, value in wanted.items():
        try:
            if value is None:
                raise ValueError(key)
            specs[key].check(value)
        except ValueError:
            dropped.append(key)
            continue
        if value != specs[key].default or key in PROFILE_PARAMS:  # grid, ε: their default is per dataset
            query[key] = str(value)
    return query, dropped


def image_link(params: dict[str, Any], page: str, model: str, other: Optional[str], gallery_index: int,
               seed: int) -> Optional[str]:
    """A relative link to ``page`` (e.g. "interactions") showing a gallery image; None for other images."""
    if gallery_index < 0:
        return None
    query, _ = dashboard_query(params, model, other, gallery_index, seed)
    return f"./{page}?{urlencode(query)}"
