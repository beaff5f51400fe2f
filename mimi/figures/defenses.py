"""Plotly figures of the defenses' results: ML-LOO maps, ROC curves and AUCs, recovery curves, and the
normalized order profiles of interaction strength (no Streamlit here; conventions of :mod:`mimi.figures`:
clean blue, adversarial red, one colour per model, maps on a diverging scale centred at zero)."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from mimi.figures import DIVERGING, _finish, model_colour, order_labels

#: Order bands: light grey low orders, dark grey high orders, apart from clean blue / adversarial red, the
#: green / purple of signed values and the models' colours.
LOW_ORDERS, HIGH_ORDERS = "#bdbdbd", "#404040"
DETECTOR_NAMES = {"ml-loo": "ML-LOO: IQR of LOO attributions", "high-order": "high orders (r ≥ 2/3): mean Ī⁽ᵐ⁾",
                  "low-order": "low orders (r < 1/3): mean Ī⁽ᵐ⁾"}


def _band(colour: str, alpha: float = 0.18) -> str:
    fill = colour.lstrip("#")
    return f"rgba({int(fill[0:2], 16)},{int(fill[2:4], 16)},{int(fill[4:6], 16)},{alpha})"


def _map_axes(fig: go.Figure, rows: int, cols: int) -> None:
    for r in range(1, rows + 1):
        for c in range(1, cols + 1):
            fig.update_yaxes(autorange="reversed", showticklabels=False, showgrid=False, zeroline=False, row=r, col=c)
            fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False, constrain="domain", row=r, col=c)
    for index, axis in enumerate(fig.select_yaxes()):
        axis.scaleanchor = "x" if index == 0 else f"x{index + 1}"


def loo_figure(results: Mapping[str, Any], title: str = "Leave-one-out attribution a_i = v(N) − v(N∖{i}) of each cell") -> go.Figure:
    """Per model (one row): the clean and the adversarial input's LOO maps (:class:`mimi.defenses.detection.LeaveOneOut`)
    on one diverging scale per row, each titled with its target class and IQR (ML-LOO's statistic)."""
    names = list(results)
    titles = []    # one short title per panel, on two lines, so that neighbours never run together
    for name in names:
        r = results[name]
        for label, a in (("clean", r.clean), ("adversarial", r.adversarial)):
            titles.append("" if a is None else f"{name}: {label}<br>class {a.target}, IQR = {a.iqr:.3f}")
    fig = make_subplots(rows=len(names), cols=2, horizontal_spacing=0.06, vertical_spacing=0.16,
                        subplot_titles=titles)
    for row, name in enumerate(names, start=1):
        r = results[name]
        maps = [a for a in (r.clean, r.adversarial) if a is not None]
        bound = max(float(np.abs(np.asarray(a.values, dtype=float)).max()) for a in maps) or 1.0
        for col, (label, a) in enumerate((("clean", r.clean), ("adversarial", r.adversarial)), start=1):
            if a is None:
                continue
            fig.add_trace(go.Heatmap(z=np.asarray(a.values, dtype=float), zmin=-bound, zmax=bound, zmid=0,
                                     colorscale=DIVERGING, name=f"{name} {label}", showscale=col == 2,
                                     colorbar=dict(thickness=10, len=0.8 / len(names),
                                                   y=1 - (row - 0.5) / len(names)),
                                     hovertemplate="cell (%{y}, %{x})<br>a = %{z:.4f}<extra>" + f"{name}, {label}"
                                                   "</extra>"), row, col)
    _map_axes(fig, len(names), 2)
    fig = _finish(fig, title, 300 * len(names) + 40)
    return fig.update_layout(margin_t=fig.layout.margin.t + 18)   # the panel titles' second line


def roc_figure(studies: Mapping[str, Any], title: str | None = None) -> go.Figure:
    """One panel per detector, one ROC per model (:class:`mimi.defenses.detection.DetectionStudy`; the legend toggles a
    model in every panel), the chance diagonal; the hover gives the AUC with its 95% bootstrap interval."""
    first = next(iter(studies.values()))
    detectors = [r.name for r in first.detectors]
    fig = make_subplots(rows=1, cols=len(detectors), shared_yaxes=True, horizontal_spacing=0.04,
                        subplot_titles=[DETECTOR_NAMES.get(d, d).replace(": ", "<br>") for d in detectors])
    for name, study in studies.items():
        colour = model_colour(name)
        for col, detector in enumerate(detectors, start=1):
            roc = study.detector(detector)
            fig.add_trace(go.Scatter(x=np.asarray(roc.fpr, dtype=float), y=np.asarray(roc.tpr, dtype=float),
                                     mode="lines", line=dict(color=colour, width=2, shape="linear"), name=name,
                                     legendgroup=name, showlegend=col == 1,
                                     hovertemplate="false positives %{x:.2f}<br>true positives %{y:.2f}<br>"
                                                   f"AUC {roc.auc:.3f} [{roc.auc_low:.3f}, {roc.auc_high:.3f}]"
                                                   f"<extra>{name}, {detector}</extra>"), 1, col)
            fig.update_xaxes(title_text="false-positive rate", range=[0, 1], row=1, col=col)
    for col in range(1, len(detectors) + 1):
        fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(color="#999", dash="dot", width=1),
                                 hoverinfo="skip", showlegend=False, name="chance"), 1, col)
    fig.update_yaxes(title_text="true-positive rate (adversarial flagged)", range=[0, 1.02], row=1, col=1)
    counts = ", ".join(f"{name} {int(np.sum(s.used))}" for name, s in studies.items())   # one count per model
    title = title or ("ROC: clean (negative) vs adversarial (positive) inputs<br><sup>score larger = adversarial; "
                      f"images used: {counts}; the AUCs and their intervals: next chart and hover</sup>")
    fig = _finish(fig, title, 420, legend_below=True)
    return fig.update_layout(margin_t=fig.layout.margin.t + 18)   # the panel titles' second line


def auc_figure(studies: Mapping[str, Any], title: str | None = None) -> go.Figure:
    """AUC per detector (grouped by detector, one bar per model) with its 95% paired-bootstrap interval as
    an asymmetric error bar, and the chance line at 0.5."""
    fig = go.Figure()
    for name, study in studies.items():
        rocs = study.detectors
        labels = [DETECTOR_NAMES.get(r.name, r.name) for r in rocs]
        values = np.array([r.auc for r in rocs])
        low, high = np.array([r.auc_low for r in rocs]), np.array([r.auc_high for r in rocs])
        fig.add_trace(go.Bar(x=labels, y=values, name=name, marker_color=model_colour(name), offsetgroup=name,
                             error_y=dict(type="data", symmetric=False, array=high - values,
                                          arrayminus=values - low),
                             customdata=np.column_stack([low, high]),
                             hovertemplate="%{x}<br>AUC %{y:.3f} [%{customdata[0]:.3f}, %{customdata[1]:.3f}]"
                                           "<extra>" + name + "</extra>"))
    fig.add_hline(y=0.5, line_color="#888", line_dash="dot", annotation_text="chance",
                  annotation_position="top left")
    fig.update_layout(barmode="group", yaxis=dict(title="AUC (adversarial scored higher)", range=[0, 1.05]))
    title = title or ("Detection AUC per model<br><sup>bars: 95% percentile bootstrap interval over images (paired); "
                      "below 0.5: adversarial inputs score lower</sup>")
    return _finish(fig, title, 400, legend_below=True)


def recovery_figure(results: Mapping[str, Any], title: str | None = None) -> go.Figure:
    """R(k) against the fraction k/n of cells restored, per model: restored by |Δφ| (solid, ±1 SE band) and in
    random order (dotted, ±1 SE band). Takes :class:`mimi.defenses.recovery.RecoveryStudy` (SE over images) or
    :class:`mimi.defenses.recovery.RecoveryCurve` (one image: the ranked curve has no SE, the random one its SE over
    the random orders)."""
    fig = go.Figure()
    gallery = any(hasattr(r, "ranked_mean") for r in results.values())
    for name, r in results.items():
        colour = model_colour(name)
        x = np.asarray(r.k, dtype=float) / r.n
        series = ([("|Δφ|-ranked", r.ranked_mean, r.ranked_se, "solid", r.areas["ranked"]["mean"]),
                   ("random order", r.random_mean, r.random_se, "dot", r.areas["random"]["mean"])]
                  if hasattr(r, "ranked_mean") else
                  [("|Δφ|-ranked", r.ranked, None, "solid", r.recoverability),
                   ("random order", r.random, r.random_se, "dot", r.random_recoverability)])
        for label, mean, se, dash, area in series:
            mean = np.asarray(mean, dtype=float)
            if se is not None:
                se = np.asarray(se, dtype=float)
                fig.add_trace(go.Scatter(x=np.concatenate([x, x[::-1]]), y=np.concatenate([mean + se, (mean - se)[::-1]]),
                                         fill="toself", fillcolor=_band(colour, 0.15 if dash == "solid" else 0.08),
                                         line=dict(width=0), hoverinfo="skip", showlegend=False,
                                         name=f"{name} {label} ±1 SE", legendgroup=f"{name} {label}"))
            fig.add_trace(go.Scatter(x=x, y=mean, mode="lines", name=f"{name}, {label} (ρ = {area:.2f})",
                                     legendgroup=f"{name} {label}", line=dict(color=colour, width=2.5, dash=dash),
                                     error_y=dict(type="data", array=se, visible=False) if se is not None else None,
                                     customdata=np.asarray(r.k),
                                     hovertemplate="k = %{customdata} cells (%{x:.0%})<br>R = %{y:.3f}<extra>"
                                                   + f"{name}, {label}</extra>"))
    fig.add_hline(y=1, line_color="#888", line_width=1)
    fig.add_hline(y=0, line_color="#888", line_width=1)
    fig.update_layout(xaxis=dict(title="cells restored to their clean pixels, k / n", tickformat=".0%", range=[0, 1]),
                      yaxis=dict(title="R(k): fraction of the attacking utility undone"))
    if title is None:
        bands = ("±1 SE over images (covers the images, the attack's start, the Shapley permutations and the random "
                 "orders)" if gallery else "random order: ±1 SE over the random orders; one image")
        title = f"Recovery: restoring the cells with the largest Shapley change first<br><sup>{bands}; ρ = area under R</sup>"
    return _finish(fig, title, 420, legend_below=True)


def strength_share_figure(strengths: Mapping[str, Any], title: str | None = None) -> go.Figure:
    """Normalized order profile per model: the share N^(m) of the interaction strength carried by order m
    (:class:`mimi.defenses.strength.OrderStrength`, shares sum to 1 over the orders shown), ±1 SE (jackknife over images)."""
    fig = go.Figure()
    for name, s in strengths.items():
        fig.add_trace(go.Scatter(x=order_labels(s.ratios, s.orders), y=np.asarray(s.share, dtype=float),
                                 mode="lines+markers", name=f"{name} ({s.count} images)",
                                 line=dict(color=model_colour(name), width=2.5),
                                 error_y=dict(type="data", array=np.asarray(s.share_se, dtype=float), visible=True),
                                 hovertemplate="order %{x}<br>share %{y:.3f}<extra>" + name + "</extra>"))
    fig.update_layout(xaxis_title="order r = m / (n−2)", yaxis=dict(title="share of Σ_m mean|I⁽ᵐ⁾|", rangemode="tozero"))
    title = title or ("Normalized order profile: where the interaction strength sits<br><sup>share of mean |I⁽ᵐ⁾(i, j)| "
                      "(bias-corrected) over the orders shown, averaged over gallery images; ±1 SE over images</sup>")
    return _finish(fig, title, 400, legend_below=True)


def strength_bands_figure(strengths: Mapping[str, Any], title: str | None = None) -> go.Figure:
    """Left: the share of interaction strength in low (r < 1/3) and high (r ≥ 2/3) orders per model; right: the
    total strength Σ_m mean|I^(m)| per model; ±1 SE over images."""
    names = list(strengths)
    units = ", ".join(sorted({str(strengths[n].params.get("value", "v")) for n in names}))
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.1, column_widths=[0.6, 0.4],   # units in the title:
                        subplot_titles=("share in low<br>vs high orders",            # an axis title would reach
                                        f"total strength<br>Σₘ mean|I⁽ᵐ⁾| ({units})"))   # into the left panel
    for band, colour in (("low", LOW_ORDERS), ("high", HIGH_ORDERS)):
        shares = [strengths[n].bands[band] for n in names]
        ratios = ", ".join(f"{r:g}" for r in shares[0]["ratios"]) if shares else ""
        fig.add_trace(go.Bar(x=names, y=[b["share"] for b in shares], name=f"{band} orders (r = {ratios})",
                             marker_color=colour, offsetgroup=band,
                             error_y=dict(type="data", array=[b["se"] for b in shares], visible=True),
                             hovertemplate="%{x}<br>share %{y:.3f}<extra>" + band + " orders</extra>"), 1, 1)
    fig.add_trace(go.Bar(x=names, y=[strengths[n].total for n in names], name="total strength",
                         marker_color=[model_colour(name) for name in names], showlegend=False,
                         error_y=dict(type="data", array=[strengths[n].total_se for n in names], visible=True),
                         hovertemplate="%{x}<br>Σ mean|I| = %{y:.3f}<extra></extra>"), 1, 2)
    fig.update_layout(barmode="group")
    fig.update_yaxes(title_text="share of the strength", rangemode="tozero", row=1, col=1)
    fig.update_yaxes(rangemode="tozero", row=1, col=2)
    ratios = sorted({float(r) for n in names for r in strengths[n].ratios})
    shown = f"r = {ratios[0]:g} … {ratios[-1]:g}" if ratios else "none"
    title = title or ("Low vs high orders, and overall interaction strength<br><sup>±1 SE over images "
                      f"(jackknife for shares); orders shown: {shown}</sup>")
    fig = _finish(fig, title, 400, legend_below=True)
    return fig.update_layout(margin_t=fig.layout.margin.t + 18)   # the panel titles' second line
