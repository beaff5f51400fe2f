"""Plotly figures of the /lesson page (no Streamlit here): one chart per claim of the paper, drawn alike for the
shipped study's average over images (:class:`mimi.batch.study.report.StudyReport`) and for one image analysed as one of
the study's jobs (:class:`mimi.batch.study.StudyJobResult`).

- (a) S^(m), the mean squared change of the interactions per order, with the low and high bands shaded;
- (b) ΔJ^(m), the attacking utility per order, the high band shaded;
- (c) D^(m) per order, the low band shaded; one image has no interval that covers its pair draw, so its side is
  :func:`image_among_study_figure`: each study image's D_low, and the chosen image's among them.

Study lines are means across images with the report's Student-t interval ((a): each model over the images its
attack landed on, as its registered test) or, for (b) and (c), over the images where every model shown landed
(the tests are paired); (c) pools D as the report does, with the delete-one-image jackknife. Image lines are
the job's estimate ± 1.96 SE (the SE covers the pairs drawn and the contexts).
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from mimi.batch.study.summaries import AcrossImages, PooledDisentanglement
from mimi.core.stats import Z95
from mimi.defenses.strength import BANDS, band_mask
from mimi.figures import _finish, model_colour

#: Characters per subtitle line: a chart in half of a 1000-px page keeps its lines whole.
LINE = 40
#: Per claim: the bands its test compares, the y axis, and the quantity in words.
CLAIMS = {
    "a": (("low", "high"), "S⁽ᵐ⁾, squared change of I⁽ᵐ⁾",
          "S⁽ᵐ⁾: how much the attack changed the interactions of order m (mean over pairs of "
          "[I⁽ᵐ⁾(i, j | x) − I⁽ᵐ⁾(i, j | x′)]²)"),
    "b": (("high",), "ΔJ⁽ᵐ⁾ (clean − adversarial)",
          "ΔJ⁽ᵐ⁾: the attacking utility carried by order m, summed over all ordered pairs of cells"),
    "c": (("low",), "D⁽ᵐ⁾ (1 = contexts agree in sign)",
          "D⁽ᵐ⁾: how consistently the interactions of order m keep their sign across contexts, bias-corrected"),
}
BAND_WORDS = {"low": "low orders r < 1/3", "high": "high orders r ≥ 2/3"}


@dataclass(frozen=True)
class Line:
    """One model's values per order ``ratios``: ``mean`` and the interval ``low`` .. ``high``."""

    name: str
    ratios: np.ndarray
    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray


def shared_rows(report: Any, names: Sequence[str]) -> tuple[list[str], dict[str, np.ndarray]]:
    """The images every model of ``names`` landed on (in the first model's order), and each model's rows of them."""
    models = [report.models[name] for name in names]
    images = [image for image in models[0].images if all(image in set(m.images) for m in models[1:])]
    return images, {name: np.array([m.images.index(image) for image in images], dtype=np.int64)
                    for name, m in zip(names, models)}


def pooled_disentanglement(report: Any, name: str, rows: np.ndarray) -> PooledDisentanglement:
    """D^(m) of model ``name`` pooled over its images ``rows``, as the report pools all of them."""
    d = report.models[name].disentanglement
    parts = [SimpleNamespace(numerator=d.numerator[r], numerator_plugin=d.numerator_plugin[r],
                             denominator=d.denominator[r], orders=d.orders, ratios=d.ratios,
                             pair_count=report.params.get("d_pair_count")) for r in rows]
    return PooledDisentanglement.of(parts, report.confidence)


def study_lines(report: Any, key: str, names: Sequence[str]) -> tuple[list[Line], list[int]]:
    """Claim ``key``'s lines over the study's images for the models ``names`` it holds, and the image counts."""
    names = [name for name in names if name in report.models]
    if not names:
        return [], []
    if key == "a":
        summaries = {name: report.models[name].squared_change for name in names}
        summaries = {name: s for name, s in summaries.items() if s is not None}
        return ([Line(name, report.models[name].ratios, s.mean, s.ci_low, s.ci_high) for name, s in summaries.items()],
                [s.count for s in summaries.values()])
    images, rows = shared_rows(report, names)
    if len(images) < 2:
        return [], [len(images)]
    if key == "b":
        lines = []
        for name in names:
            s = AcrossImages.of(report.models[name].delta_j.per_image[rows[name]], report.confidence)
            lines.append(Line(name, report.models[name].ratios, s.mean, s.ci_low, s.ci_high))
        return lines, [len(images)]
    pooled = {name: pooled_disentanglement(report, name, rows[name]) for name in names}
    return [Line(name, d.ratios, d.d, d.d_low, d.d_high) for name, d in pooled.items()], [len(images)]


def image_lines(results: Mapping[str, Any], key: str) -> list[Line]:
    """Claim ``key``'s lines ((a) or (b)) of one image: each landed job's estimate ± 1.96 SE."""
    lines = []
    for name, result in results.items():
        profile = result.profile
        estimate = profile.squared_change if key == "a" else profile.utility_by_order
        if estimate is None:
            continue
        mean, se = np.asarray(estimate.mean, dtype=float), np.asarray(estimate.se, dtype=float)
        lines.append(Line(name, np.asarray(profile.ratios), mean, mean - Z95 * se, mean + Z95 * se))
    return lines


def _wrapped(text: str) -> str:
    """``text`` as subtitle lines of at most :data:`LINE` characters, each clause ("; ") on lines of its own."""
    return "<br>".join(f"<sup>{line}</sup>" for clause in text.split("; ") for line in textwrap.wrap(clause, LINE))


def claim_figure(key: str, lines: Sequence[Line], title: str, note: str) -> go.Figure:
    """Claim ``key``'s chart: each line per order r with its interval, the claim's bands shaded; ``title`` and
    ``note`` (what the values estimate and what the bars cover) head it."""
    bands, axis, _ = CLAIMS[key]
    fig = go.Figure()
    for band in bands:
        low, high = BANDS[band]
        fig.add_vrect(x0=low, x1=high + (0.04 if band == "high" else 0), fillcolor="#999", opacity=0.12, line_width=0,
                      layer="below")
        fig.add_annotation(x=(low + high) / 2, y=1, xref="x", yref="paper", yanchor="bottom", showarrow=False,
                           text=BAND_WORDS[band].split(" r")[0], font=dict(color="#666", size=11))
    offsets = np.linspace(-0.008, 0.008, len(lines)) if len(lines) > 1 else [0.0]
    for line, offset in zip(lines, offsets):
        colour = model_colour(line.name)
        mean = np.asarray(line.mean, dtype=float)
        fig.add_trace(go.Scatter(
            x=np.asarray(line.ratios, dtype=float) + offset, y=mean, mode="lines+markers", name=line.name,
            line=dict(color=colour, width=2), marker=dict(size=6, color=colour),
            error_y=dict(type="data", symmetric=False, array=np.asarray(line.high) - mean,
                         arrayminus=mean - np.asarray(line.low), color=colour, thickness=1.5, width=3),
            customdata=np.column_stack([line.ratios, line.low, line.high]),
            hovertemplate="r = %{customdata[0]:g}<br>%{y:.4f}  (%{customdata[1]:.4f} .. %{customdata[2]:.4f})"
                          "<extra>" + line.name + "</extra>"))
    if key != "c":
        fig.add_hline(y=0, line_color="#888", line_width=1)
    fig.update_layout(xaxis=dict(title="order r = m / (n−2)", range=[0, 1.04], dtick=0.2),
                      yaxis=dict(title=axis, rangemode="tozero" if key == "c" else "normal"))
    return _finish(fig, f"{title}<br>{_wrapped(note)}", 330, legend_below=True)


def d_low(numerator: np.ndarray, denominator: np.ndarray, ratios: np.ndarray) -> np.ndarray:
    """D_low of each image (rows) or of one: the mean over the low orders of its own ratio numerator / denominator."""
    low = band_mask(ratios, "low")
    return (np.asarray(numerator)[..., low] / np.asarray(denominator)[..., low]).mean(axis=-1)


def image_among_study_figure(report: Any, names: Sequence[str], results: Mapping[str, Any]) -> go.Figure:
    """Per model: every study image's own D_low (over the images all ``names`` landed on) as points with their
    box, and the chosen image's (``results``: its landed jobs) as a star: one image is one draw from this spread."""
    names = [name for name in names if name in report.models]
    images, rows = shared_rows(report, names) if names else ([], {})
    fig = go.Figure()
    for name in names:
        d = report.models[name].disentanglement
        values = d_low(d.numerator[rows[name]], d.denominator[rows[name]], d.ratios)
        colour = model_colour(name)
        fig.add_trace(go.Box(x=[name] * len(values), y=values, name=name, marker_color=colour, boxpoints="all",
                             jitter=0.5, pointpos=0, marker=dict(size=4, opacity=0.5), line=dict(width=1),
                             fillcolor="rgba(0,0,0,0)", text=images, showlegend=False,
                             hovertemplate="%{text}<br>D_low = %{y:.3f}<extra>" + name + "</extra>"))
    star = dict(symbol="star", size=17, line=dict(width=1.5, color="#222"))
    for name, result in results.items():
        own = result.disentanglement
        fig.add_trace(go.Scatter(
            x=[name], y=[float(d_low(own.numerator, own.denominator, own.ratios))], mode="markers",
            name=f"your image: {name}", showlegend=False, marker=dict(star, color=model_colour(name)),
            hovertemplate="your image<br>D_low = %{y:.3f}<extra>" + name + "</extra>"))
    if results:   # one legend entry for the stars, in neither model's colour
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name="your image",
                                 marker=dict(star, color="#fff")))
    fig.update_layout(yaxis=dict(title="D_low of one image", rangemode="tozero"), xaxis=dict(title=""))
    pairs = report.params.get("d_pair_count")
    note = (f"each dot: one of the {len(images)} study images all these attacks landed on, its own D_low (the mean "
            f"of its D⁽ᵐ⁾ over r < 1/3, from {pairs} pairs); a spread, not an estimate: it holds each image's "
            f"sampling noise; ★ your image")
    return _finish(fig, f"One image's D_low among the study's<br>{_wrapped(note)}", 330, legend_below=True)
