"""What every Plotly figure of mimi shares (no Streamlit here): the colours by meaning, the layout and titles, the
image traces, and the exports.

Colours are fixed by meaning: clean is blue, adversarial red, each model keeps its colour on every chart
(:func:`model_colour`); signed values that are neither (interaction and attribution maps, the parts of a
decomposition) are green above zero and purple below, on a diverging scale centred at zero. Error bars are one
standard error (the engine's ``*_se``). :func:`_finish` gives every figure its title block, template, height and
legend; :func:`figure_rows` / :func:`figure_csv` turn any figure into the table it plots.

The figures themselves: :mod:`mimi.figures.attack` (the attacked image, class probabilities, accuracy),
:mod:`mimi.figures.profiles` (per-order charts: order profiles, ΔJ, D^(m), the exact decomposition),
:mod:`mimi.figures.maps` (cell maps: pair heatmaps, Shapley maps), and :mod:`mimi.figures.defenses`,
:mod:`mimi.figures.study`, :mod:`mimi.figures.lesson`.
"""

from __future__ import annotations

import csv
import io
import math
import re
import textwrap
import zlib
from typing import Any, Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

CLEAN = "#1f6fb4"
ADVERSARIAL = "#d62728"
#: One colour per model on every page, never the clean blue or the adversarial red: the zoo's are fixed,
#: any other model's comes from MODEL_COLOURS by a hash of its name (:func:`model_colour`).
ZOO_COLOURS = {"fmnist-standard": "#f58518", "fmnist-pgd-at": "#54a24b", "fmnist-trades": "#b279a2",
               "fmnist-cutout": "#9d755d", "fmnist-dropout": "#72b7b2"}
MODEL_COLOURS = ("#eeca3b", "#ff9da6", "#bcbd22", "#636363", "#e377c2", "#7b4173", "#8c6d31", "#843c39")
#: Signed values, neither clean nor adversarial: maps on a purple (< 0) to green (> 0) scale centred at zero, and
#: the parts of a decomposition in its two ends; a sum of parts in neutral grey.
DIVERGING = "PRGn"
POSITIVE, NEGATIVE, TOTAL = "#1b7837", "#762a83", "#525252"
#: The faint "typical image" reference (:mod:`mimi.batch.population`): grey ticks on the bars.
REFERENCE = "rgba(70,70,70,0.75)"
TEMPLATE = "plotly_white"
LEGEND_ROW = 22   # px per row of a legend under the plot
SUBTITLE_CHARACTERS = 80   # a subtitle line's length that a chart on a 1000-px page shows whole
#: The selection layer over cell maps: one invisible marker per cell, clickable in Streamlit.
CELL_LAYER = "cells"
#: The rings' layer over a map's cells within 2 SE of zero (:func:`mimi.figures.maps._uncertain_layer`);
#: :func:`figure_rows` marks those cells.
UNCERTAIN_LAYER = "within 2 SE of zero"


def model_colour(name: str) -> str:
    """The colour of model ``name``, the same on every chart and page."""
    return ZOO_COLOURS.get(name) or MODEL_COLOURS[zlib.crc32(name.encode()) % len(MODEL_COLOURS)]


def _array(value: Any) -> np.ndarray | None:
    return None if value is None else np.asarray(value, dtype=float)


def _clause_lines(title: str, width: int = SUBTITLE_CHARACTERS) -> str:
    """Every clause of a subtitle (``<sup>a; b</sup>``) on a line of its own, and a clause longer than ``width``
    characters on several, so that a narrow chart (1000-px pages) shows them all."""
    def lines(match: re.Match) -> str:
        return "<br>".join(f"<sup>{line}</sup>" for clause in match.group(1).split("; ")
                           for line in textwrap.wrap(clause, width) or [""])
    return re.sub(r"<sup>(.*?)</sup>", lines, title)


def _finish(fig: go.Figure, title: str, height: int, legend_below: bool = False) -> go.Figure:
    """Title, template, height; the legend above the plot, or under it (``legend_below``) where panel
    titles or a subtitle would collide with it (and a side legend would narrow the panels on 1000-px pages)."""
    legend = (dict(orientation="h", yref="container", yanchor="bottom", y=0, xanchor="left", x=0) if legend_below
              else dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1))
    title = _clause_lines(title)
    lines = title.count("<br>")   # subtitle lines: the title block grows downwards from the top
    entries = len({trace.name for trace in fig.data if trace.showlegend is not False and trace.name
                   and trace.type not in ("heatmap", "image")})
    below = LEGEND_ROW * (math.ceil(entries / 2) + 1) if legend_below else 0   # two entries a row on narrow pages
    fig.update_layout(title=dict(text=title, x=0, xanchor="left", y=1, yref="container", yanchor="top",
                                 pad=dict(t=16)),
                      template=TEMPLATE, height=height + 15 * lines + below,
                      margin=dict(l=10, r=10, t=64 + 15 * lines, b=10 + below), legend=legend)
    return fig


def order_labels(ratios: Sequence[float], orders: Sequence[int]) -> list[str]:
    """Axis labels ``r=0.5 (m=23)``: the order as a fraction of n-2, and the context size m."""
    return [f"{float(r):g} (m={int(m)})" for r, m in zip(ratios, orders)]


def _with_attack(title: str, attack: str) -> str:
    """The title with ``attack`` (the attack that made the chart, in words: its protocol and achieved utilities)
    as its last subtitle clauses ("; " between clauses)."""
    return f"{title}<br><sup>{attack}</sup>" if attack and title else title


def value_words(results: Mapping[str, Any]) -> str:
    """"v = KIND" for the value function the results were computed with ("" when they do not say, or disagree)."""
    kinds = {(getattr(r, "params", None) or {}).get("value") for r in results.values()}
    return f"v = {kinds.pop()}" if len(kinds) == 1 and None not in kinds else ""


def _with_value(title: str, results: Mapping[str, Any]) -> str:
    """The title with the value function as one more subtitle line."""
    words = value_words(results)
    return f"{title}<br><sup>{words}</sup>" if words and title else title


def _gray(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image, dtype=float)
    if image.ndim == 3:
        image = image[0] if image.shape[0] == 1 else image.mean(0)
    return image


def _image_trace(image: np.ndarray, *, x=None, y=None, showscale=False, name="image") -> go.Heatmap:
    return go.Heatmap(z=_gray(image), x=x, y=y, zmin=0, zmax=1, colorscale="gray", showscale=showscale,
                      name=name, hovertemplate="row %{y}, col %{x}: %{z:.3f}<extra></extra>")


def _square_axes(fig: go.Figure, rows: int, cols: int) -> None:
    for r in range(1, rows + 1):
        for c in range(1, cols + 1):
            fig.update_yaxes(autorange="reversed", scaleanchor=None, showticklabels=False, showgrid=False,
                             zeroline=False, row=r, col=c)
            fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False, constrain="domain",
                             row=r, col=c)
    for index, axis in enumerate(fig.select_yaxes()):
        axis.scaleanchor = "x" if index == 0 else f"x{index + 1}"


def figure_rows(fig: go.Figure) -> list[dict[str, Any]]:
    """The data a figure plots, one row per value: trace, panel, x, y, (z), error. Every cell of a map whose
    panel has an :data:`UNCERTAIN_LAYER` also has its SE (the map's customdata) as error and ``within_2se``:
    whether it carries the mark."""
    rows: list[dict[str, Any]] = []
    marked = {trace.xaxis or "x": {(int(c), int(r)) for r, c in np.reshape(trace.customdata, (-1, 2))}
              for trace in fig.data if trace.name == UNCERTAIN_LAYER}
    for trace in fig.data:
        if trace.name == CELL_LAYER or trace.hoverinfo == "skip":
            continue
        panel = trace.xaxis or "x"
        if trace.type == "heatmap":
            z = np.asarray(trace.z, dtype=float)
            cells = marked.get(panel)
            se = None if cells is None else np.broadcast_to(_array(trace.customdata), z.shape)
            for (r, c), value in np.ndenumerate(z):
                row = dict(trace=trace.name, panel=panel, x=c, y=r, value=value, error=None)
                rows.append(row if se is None else {**row, "error": float(se[r, c]), "within_2se": (c, r) in cells})
            continue
        xs = list(trace.x) if trace.x is not None else []
        ys = list(trace.y) if trace.y is not None else []
        errors = trace.error_y.array if getattr(trace, "error_y", None) is not None and trace.error_y.array is not None else None
        if trace.orientation == "h":
            xs, ys = ys, xs
        for k, (x, y) in enumerate(zip(xs, ys)):
            rows.append(dict(trace=trace.name, panel=panel, x=x, y=None if y is None else float(y), value=None,
                             error=None if errors is None else float(errors[k])))
    return rows


def figure_csv(fig: go.Figure) -> str:
    """:func:`figure_rows` as CSV; the ``within_2se`` column only for a figure with marked maps (empty on its
    other rows)."""
    rows = figure_rows(fig)
    out = io.StringIO()
    fields = ["trace", "panel", "x", "y", "value", "error"]
    writer = csv.DictWriter(out, fieldnames=fields + ["within_2se"] * any("within_2se" in r for r in rows))
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
