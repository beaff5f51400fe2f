"""The /study page's side: a cached study report, and links that open a study's image in the single-image pages.

The dashboard only reads study folders (:func:`mimi.batch.study.build_report`): it never runs a job and never
starts Ray. A report is cached by the folder and the state of its files (names, sizes, times), so a study
that is still running shows its new results on the next visit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional
from urllib.parse import urlencode

import numpy as np
import streamlit as st

from mimi.attacks.landing import DEFAULT_TOLERANCE
from mimi.batch.engine import JOBS_DIR, MANIFEST_NAME
from mimi.batch.study.report import StudyReport, build_report
from mimi.core.pairs import PAPER_RATIOS
from mimi.data.input_spaces import card_input_space
from mimi.figures.report_page import CLAIM_HEADER, claim_rows
from mimi.ui import compute
from mimi.ui.params import COARSE_RATIOS, INPUT_SPACE_PARAMS
from mimi.ui.state import param_specs

# The tables' columns shown at first: they fit a 1000-px page (no sideways scrolling, verdicts and links in view);
# the others stay in the data, behind the table's toolbar (Show/hide columns) and in its CSV.
MORE_COLUMNS = "More columns: the table's toolbar (Show/hide columns) or its CSV download."
CLAIM_TABLE = dict(column_order=("claim", "comparison", "verdict", "effect", "interval"))
MODEL_TABLE = dict(column_order=("model", "images landed", "clean accuracy", "attack success (prediction changed)"),
                   column_config={"attack success (prediction changed)": st.column_config.TextColumn(
                       "prediction changed", help="attack success: the fraction of the attacked images whose "
                       "prediction changed")})
IMAGE_TABLE = dict(
    column_order=("image", "model", "prediction → after PGD", "utility", "interactions", "pairs"),
    column_config={"interactions": st.column_config.LinkColumn("interactions", display_text="open"),
                   "pairs": st.column_config.LinkColumn("pairs", display_text="open"),
                   "utility": st.column_config.NumberColumn(format="%.2f"),
                   "S_high − S_low": st.column_config.NumberColumn(format="%.4f")})


def claim_table(claims) -> list[dict]:
    """The rows of :func:`mimi.figures.report_page.claim_rows` by column name, a row reported beside (it decides nothing)
    saying so in its comparison, since the test column is not shown at first; effect and interval to 3 digits."""
    def short(text: str) -> str:   # 3 significant digits, so that the table fits a 1000-px page
        try:
            return format(float(text), "+.3g")
        except ValueError:
            return text

    rows = [dict(zip(CLAIM_HEADER, row)) for row in claim_rows(claims)]
    return [{**row, "comparison": row["comparison"] + (" (beside)" if row["test"] == "beside" else ""),
             "effect": short(row["effect"]),
             "interval": "[" + ", ".join(short(v) for v in row["interval"].strip("[]").split(", ")) + "]"}
            for row in rows]


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


def class_namer(report: StudyReport, model: str):
    """A function from a class index to its name for ``model``: the study's class names, else its card's dataset
    input space's (a model of the zoo or registry), else "class k"."""
    classes = list(report.models[model].classes or [])
    if not classes:
        try:
            classes = list(card_input_space(compute.zoo_card(model)).classes)
        except (KeyError, ValueError, OSError):
            classes = []
    return lambda k: classes[k] if 0 <= k < len(classes) else f"class {k}"


def weak_utility_note(report: StudyReport, below: float = 1.0) -> Optional[str]:
    """How many landed images of each model have an attacking utility v(N|x) − v(N|x') below ``below``, where the
    Recovery page's gallery leaves an image out; None when none has."""
    counts = {name: int(np.sum(np.asarray(m.utility.per_image, dtype=float) < below))
              for name, m in report.models.items()}
    if not any(counts.values()):
        return None
    listed = ", ".join(f"{name} {count} of {report.models[name].count}" for name, count in counts.items() if count)
    return (f"Images whose attack lowered v = {report.params['value']} by less than {below:g}: {listed}. Their ΔJ⁽ᵐ⁾ "
            f"share out a drop this small; the Recovery page's gallery leaves such images out, while the registered "
            f"tests here keep every landed image.")


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
        if value != specs[key].default or key in INPUT_SPACE_PARAMS:  # grid, ε: their default is per dataset
            query[key] = str(value)
    return query, dropped


def image_link(params: dict[str, Any], page: str, model: str, other: Optional[str], gallery_index: int,
               seed: int) -> Optional[str]:
    """A relative link to ``page`` (e.g. "interactions") showing a gallery image; None for other images."""
    if gallery_index < 0:
        return None
    query, _ = dashboard_query(params, model, other, gallery_index, seed)
    return f"./{page}?{urlencode(query)}"
