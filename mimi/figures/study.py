"""Plotly figures of a study report (:class:`mimi.batch.study.report.StudyReport`), shared by ``mimi study report
--html`` and the dashboard's /study page (no Streamlit here).

Distributions across images are boxes (every image a point; hover names it), and the mean across images
is a diamond with its Student-t interval (the report's confidence, 95% by default); D^(m) is the pooled
ratio with its jackknife band (:func:`mimi.figures.profiles.disentanglement_figure`); the claims are a forest plot
of their effects with the Bonferroni-adjusted intervals, coloured by verdict.
"""

from __future__ import annotations

import textwrap
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from mimi.figures import ADVERSARIAL, CLEAN, NEGATIVE, POSITIVE, _finish, model_colour, order_labels
from mimi.figures.profiles import disentanglement_figure

#: The verdicts in the colours of signs (green for, purple against, grey open): red means adversarial everywhere.
VERDICT_COLOURS = {"holds": POSITIVE, "does not hold": NEGATIVE, "undecided": "#7f7f7f"}
#: The claims' forest plot: px per comparison row, and between panels (the x axis, its title, the next panel's title).
CLAIM_ROW, CLAIM_GAP = 34, 140


def _ci_text(report: Any) -> str:
    return f"{report.confidence:.0%} t interval across images"


def _spread_traces(summary: Any, labels: list[str], values: Any, *, name: str, colour: str, group: str,
                   show_legend: bool, quantity: str) -> list[go.BaseTraceType]:
    """A box per order of the per-image values (points named by image) and the mean with its interval."""
    per_image = np.asarray(values.per_image, dtype=float)
    x = [label for _ in range(len(per_image)) for label in labels]
    text = [image for image in summary.images for _ in labels]
    box = go.Box(x=x, y=per_image.reshape(-1), name=name, legendgroup=name, offsetgroup=group, marker_color=colour,
                 boxpoints="all", jitter=0.4, pointpos=0, marker=dict(size=3, opacity=0.5), line=dict(width=1),
                 fillcolor="rgba(0,0,0,0)", text=text, showlegend=show_legend,
                 hovertemplate="%{text}<br>order %{x}<br>" + quantity + " = %{y:.4f}<extra>" + name + "</extra>")
    mean = np.asarray(values.mean, dtype=float)
    plus, minus = np.asarray(values.ci_high, dtype=float) - mean, mean - np.asarray(values.ci_low, dtype=float)
    centre = go.Scatter(x=labels, y=mean, mode="markers", name=f"{name}: mean", legendgroup=name, offsetgroup=group,
                        marker=dict(symbol="diamond", size=9, color=colour, line=dict(width=1, color="white")),
                        error_y=dict(type="data", symmetric=False, array=plus, arrayminus=minus, color=colour,
                                     thickness=2, width=6), showlegend=False,
                        customdata=np.column_stack([values.ci_low, values.ci_high]),
                        hovertemplate="order %{x}<br>mean " + quantity + " = %{y:.4f}<br>interval %{customdata[0]:.4f}"
                        " .. %{customdata[1]:.4f}<extra>" + name + "</extra>")
    return [box, centre]


def interaction_distribution_figure(report: Any) -> go.Figure:
    """Per model (one panel each, shared y): the distribution across images of each image's mean interaction
    Ī^(m) over the pair set, clean and adversarial, with the mean across images and its interval."""
    names = list(report.models)
    cols = min(2, max(1, len(names)))     # two panels a row: five in one row do not fit a 1000-px page
    rows = -(-max(1, len(names)) // cols)
    fig = make_subplots(rows=rows, cols=cols, shared_yaxes=True, horizontal_spacing=0.06,
                        vertical_spacing=0.12 if rows > 1 else 0.0,
                        subplot_titles=[f"{name} ({report.models[name].count} images)" for name in names])
    for index, name in enumerate(names):
        m, row, col = report.models[name], index // cols + 1, index % cols + 1
        labels = [f"{float(r):g}" for r in m.ratios]
        for label, values, colour in (("clean", m.clean, CLEAN), ("adversarial", m.adversarial, ADVERSARIAL)):
            for trace in _spread_traces(m, labels, values, name=label, colour=colour, group=label,
                                        show_legend=index == 0, quantity="Ī"):
                fig.add_trace(trace, row, col)
        if row == rows or index + cols >= len(names):     # the lowest panel of its column
            fig.update_xaxes(title_text="order r = m / (n−2)", row=row, col=col)
    for row in range(1, rows + 1):
        fig.update_yaxes(title_text="Ī⁽ᵐ⁾ of an image", row=row, col=1)
    fig.update_layout(boxmode="group", scattermode="group", boxgap=0.25, scattergap=0.25)
    first = next(iter(report.models.values()), None)
    estimand = f"{first.profile_estimand}; " if first is not None else ""
    title = (f"Mean interaction I⁽ᵐ⁾ per order across images, clean vs adversarial<br><sup>each point: one image's "
             f"{estimand}diamond: mean across images, bars: {_ci_text(report)}</sup>")
    return _finish(fig, title, 100 + 330 * rows, legend_below=True)


def _models_by_order_figure(report: Any, field: str, quantity: str, axis_title: str, title: str) -> go.Figure:
    """A per-image quantity per order (``field`` of each model summary), all models on one axis: the distribution
    across images and the mean with its interval."""
    fig = go.Figure()
    for name, m in report.models.items():
        if getattr(m, field) is None:
            continue
        for trace in _spread_traces(m, order_labels(m.ratios, m.orders), getattr(m, field), name=name,
                                    colour=model_colour(name), group=name, show_legend=True, quantity=quantity):
            fig.add_trace(trace)
    fig.add_hline(y=0, line_color="#888", line_width=1)
    fig.update_layout(boxmode="group", scattermode="group", boxgap=0.25, scattergap=0.25,
                      xaxis_title="order r = m / (n−2)", yaxis_title=axis_title)
    return _finish(fig, title, 460, legend_below=True)


def delta_j_distribution_figure(report: Any) -> go.Figure:
    """ΔJ^(m) per order, all models on one axis: the distribution across images and the mean with its interval."""
    first = next(iter(report.models.values()), None)
    estimand = first.delta_j_estimand if first is not None else "ΔJ^(m)"
    return _models_by_order_figure(
        report, "delta_j", "ΔJ", "ΔJ⁽ᵐ⁾ of an image (clean − adversarial)",
        f"Attacking utility by order ΔJ⁽ᵐ⁾ across images<br><sup>each point: one image's {estimand}; "
        f"diamond: mean, bars: {_ci_text(report)}</sup>")


def squared_change_distribution_figure(report: Any) -> go.Figure:
    """S^(m), the mean squared change of the interactions per order (claim (a)'s statistic), all models on one
    axis: the distribution across images and the mean with its interval."""
    return _models_by_order_figure(
        report, "squared_change", "S", "S⁽ᵐ⁾ of an image",
        f"How much the attack changed the interactions, by order<br><sup>each point: one image's S⁽ᵐ⁾, the mean over "
        f"the pairs drawn of [I⁽ᵐ⁾(i, j | x) − I⁽ᵐ⁾(i, j | x')]², unbiased (two independent units per pair)<br>"
        f"diamond: mean, bars: {_ci_text(report)}</sup>")


def study_disentanglement_figure(report: Any) -> go.Figure:
    """D^(m) of every model, pooled over its images, with the jackknife band (the report's confidence)."""
    return disentanglement_figure({name: m.disentanglement for name, m in report.models.items()})


def claims_figure(report: Any) -> go.Figure:
    """The three claims as a forest plot: one row per comparison (its label on the y axis, so that long labels
    never collide on a narrow page), the effect (claimed > 0) on x with its interval, coloured by verdict."""
    claims = list(report.claims)
    titles = ["<br>".join(textwrap.wrap(f"({c.key}) {c.statement} — {c.verdict}", 60)) for c in claims]  # 1000 px
    shown_rows = []
    for claim in claims:
        statistic = (claim.primary or claim.comparisons)[0].statistic if claim.comparisons else None
        shown_rows.append([c for c in claim.comparisons if c.statistic == statistic])  # other units: the tables
    heights = [CLAIM_ROW * max(1, len(rows)) + 24 for rows in shown_rows]
    plot = sum(heights) + CLAIM_GAP * (len(claims) - 1)
    fig = make_subplots(rows=max(1, len(claims)), cols=1, subplot_titles=titles, row_heights=heights or None,
                        vertical_spacing=CLAIM_GAP / plot if len(claims) > 1 else 0.0)
    shown = set()
    for row, (claim, comparisons) in enumerate(zip(claims, shown_rows), start=1):
        if not comparisons:
            fig.add_annotation(text=f"nothing to compare: {claim.note}"[:140], showarrow=False, row=row, col=1,
                               x=0, y=0, font=dict(color="#666"))
            fig.update_xaxes(visible=False, row=row, col=1)
            fig.update_yaxes(visible=False, row=row, col=1)
            continue
        labels = [c.label + ("" if c.primary else " (beside)") for c in comparisons]
        for c, label in zip(comparisons, labels):
            colour = VERDICT_COLOURS[c.verdict]
            fig.add_trace(go.Scatter(
                y=[label], x=[c.effect], orientation="h", mode="markers", name=c.verdict,   # "h": the CSV's x is y
                legendgroup=c.verdict, showlegend=c.verdict not in shown,
                marker=dict(size=11, color=colour, symbol="diamond" if c.primary else "diamond-open"),
                error_x=dict(type="data", symmetric=False, array=[c.ci_high - c.effect],
                             arrayminus=[c.effect - c.ci_low], color=colour, thickness=2, width=6),
                customdata=[[c.ci_low, c.ci_high, c.confidence, c.count]],
                hovertemplate="effect %{x:.4g}<br>interval %{customdata[0]:.4g} .. %{customdata[1]:.4g} "
                              "(%{customdata[2]:.1%})<br>%{customdata[3]} images<extra>%{y}</extra>"), row, 1)
            shown.add(c.verdict)
        fig.add_vline(x=0, line_color="#888", line_width=1, row=row, col=1)
        fig.update_yaxes(autorange="reversed", tickvals=labels, row=row, col=1,   # a difference on two lines
                         ticktext=[label.replace(" − ", " −<br>") for label in labels])
        fig.update_xaxes(title_text={"a": "S_high − S_low", "b": "ΔJ_high: standard − AT",
                                     "c": "D_low: AT − standard"}.get(claim.key, "effect"), row=row, col=1)
    value = report.params.get("value")
    title = (f"The paper's claims (v = {value}): effect (claimed > 0) and its interval<br><sup>the registered tests: "
             f"Bonferroni-adjusted t intervals across images (D: jackknife)<br>green holds, purple does not hold, grey "
             f"undecided; open diamonds are reported beside and decide nothing</sup>")
    extra = max((t.count("<br>") for t in titles), default=0)
    fig = _finish(fig, title, plot + 74 + 18 * extra, legend_below=True)   # a plot area of ``plot`` px: gaps hold
    return fig.update_layout(margin_t=fig.layout.margin.t + 18 * extra)   # the first panel title's extra lines


def study_figures(report: Any) -> dict[str, go.Figure]:
    """Every figure of the report, by name (the order of the HTML report and the page)."""
    figures = {"claims": claims_figure(report), "interactions": interaction_distribution_figure(report)}
    if any(m.squared_change is not None for m in report.models.values()):
        figures["squared_change"] = squared_change_distribution_figure(report)
    return {**figures, "delta_j": delta_j_distribution_figure(report),
            "disentanglement": study_disentanglement_figure(report)}
