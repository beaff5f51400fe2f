"""Plotly figures of mimi's results, shared by the dashboard and notebooks (no Streamlit here).

Every function returns a ``go.Figure``. Colours are fixed by meaning: clean is blue,
adversarial red, each model keeps its colour on every chart (:func:`model_colour`); signed values that are
neither (interaction and attribution maps, the parts of a decomposition) are green above zero and purple below,
on a diverging scale centred at zero. Error bars are one standard error (the engine's ``*_se``).
:func:`figure_rows` / :func:`figure_csv` turn any of these figures into the table it plots.
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
from plotly.subplots import make_subplots

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
#: The faint "typical image" reference (:mod:`mimi.population`): grey ticks on the bars.
REFERENCE = "rgba(70,70,70,0.75)"
TEMPLATE = "plotly_white"
LEGEND_ROW = 22   # px per row of a legend under the plot
SUBTITLE_CHARACTERS = 80   # a subtitle line's length that a chart on a 1000-px page shows whole
#: The selection layer over cell maps: one invisible marker per cell, clickable in Streamlit.
CELL_LAYER = "cells"


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


# --------------------------------------------------------------------------- images and attacks
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


def _with_attack(title: str, attack: str) -> str:
    """The title with ``attack`` (the attack that made the chart, in words: its protocol and achieved utilities)
    as its last subtitle clauses ("; " between clauses)."""
    return f"{title}<br><sup>{attack}</sup>" if attack and title else title


def attack_figure(clean: np.ndarray, adversarial: np.ndarray, eps: float, title: str = "", *,
                  attack: str = "") -> go.Figure:
    """Clean image, adversarial image, and the perturbation x' - x on a diverging scale of +-eps; ``attack``:
    subtitle clauses on the attack (:func:`_with_attack`)."""
    perturbation = _gray(adversarial) - _gray(clean)
    bound = float(eps) if eps > 0 else float(np.abs(perturbation).max() or 1.0)
    fig = make_subplots(rows=1, cols=3, horizontal_spacing=0.04, subplot_titles=("x", "x′", "δ"))
    fig.add_trace(_image_trace(clean, name="clean"), 1, 1)
    fig.add_trace(_image_trace(adversarial, name="adversarial"), 1, 2)
    fig.add_trace(go.Heatmap(z=perturbation, zmin=-bound, zmax=bound, zmid=0, colorscale=DIVERGING,
                             name="perturbation",
                             colorbar=dict(thickness=10, len=0.9, title=dict(text=f"±{bound:.3g}")),
                             hovertemplate="row %{y}, col %{x}: δ = %{z:.3f}<extra></extra>"), 1, 3)
    _square_axes(fig, 1, 3)
    return _finish(fig, _with_attack(title or "clean x · attacked x′ · δ = x′ − x", attack), 300)


def confidence_figure(classes: Sequence[str], clean_top: Sequence[int], clean_prob: Sequence[float],
                      adv_top: Sequence[int], adv_prob: Sequence[float], true_label: int,
                      title: str = "", shown: int = 5) -> go.Figure:
    """The ``shown`` classes most probable before or after the attack (ranked by the larger of the two
    probabilities), with both probabilities. Give every class in ``*_top`` for exact bars; a class
    missing from one list is marked as below that list's smallest probability."""
    before = dict(zip(map(int, clean_top), map(float, clean_prob)))
    after = dict(zip(map(int, adv_top), map(float, adv_prob)))
    ranked = sorted(set(before) | set(after), key=lambda c: -max(before.get(c, 0.0), after.get(c, 0.0)))[:shown]
    names = [f"{classes[c]} ✓" if c == true_label else classes[c] for c in ranked]
    fig = go.Figure()
    for label, probs, colour in (("clean", before, CLEAN), ("adversarial", after, ADVERSARIAL)):
        floor = min(probs.values())
        values = [probs.get(c) for c in ranked]
        fig.add_trace(go.Bar(y=names, x=[v if v is not None else 0.0 for v in values], orientation="h",
                             name=label, marker_color=colour,
                             text=[f"{v:.1%}" if v is not None else f"< {floor:.1%}" for v in values],
                             textposition="outside", hovertemplate="%{y}: %{x:.2%}<extra>" + label + "</extra>"))
    fig.update_layout(barmode="group", xaxis=dict(title="probability", range=[0, 1.3], tickformat=".0%",
                                                  tickvals=[0, 0.5, 1]),
                      yaxis=dict(autorange="reversed"))
    return _finish(fig, title, 320)


# --------------------------------------------------------------------------- per-order profiles
def _pair_set_words(p: Any) -> str:
    """What a profile averages over, and what its error bars cover, in a few words."""
    described = {"neighbors": "pairs of 8-neighbouring cells", "all": "pairs of cells"}.get(p.pair_set, "given pairs")
    drawn = len(p.pairs) // max(1, p.replicates)
    sample = (f"{drawn} drawn at random" + (f", {p.replicates} times" if p.replicates > 1 else "")
              if drawn < p.pair_set_size else "all evaluated")
    covers = "the pair draw and the contexts" if drawn < p.pair_set_size else "the contexts"
    return f"over all {p.pair_set_size} {described} ({sample}); bars ±1 SE covering {covers}"


def value_words(results: Mapping[str, Any]) -> str:
    """"v = KIND" for the value function the results were computed with ("" when they do not say, or disagree)."""
    kinds = {(getattr(r, "params", None) or {}).get("value") for r in results.values()}
    return f"v = {kinds.pop()}" if len(kinds) == 1 and None not in kinds else ""


def _with_value(title: str, results: Mapping[str, Any]) -> str:
    """The title with the value function as one more subtitle line."""
    words = value_words(results)
    return f"{title}<br><sup>{words}</sup>" if words and title else title


def _subtitle(title: str, profiles: Mapping[str, Any]) -> str:
    """The title over what the profiles average, what their error bars cover and the value function (each clause a
    line: _finish)."""
    notes = list(dict.fromkeys(_pair_set_words(p) for p in profiles.values() if hasattr(p, "pair_set_size")))
    return _with_value(title + "".join(f"<br><sup>{note}</sup>" for note in notes), profiles)


def _reference(name: str, profile: Any, references: Mapping[str, Any] | None) -> Any:
    """Model ``name``'s gallery reference when it shows the same quantity as ``profile`` (same orders, grid,
    pair set, value and baseline: :func:`mimi.population.reference_matches`), else None."""
    reference = (references or {}).get(name)
    if reference is None:
        return None
    from mimi.population import reference_matches

    return reference if reference_matches(profile, reference) else None


def _reference_ticks(labels: list[str], estimate: Any, *, name: str, group: str, quantity: str,
                     legend: str | None = None) -> go.Scatter:
    """A grey tick on each bar of offset group ``group`` at the gallery mean ``estimate.mean`` (hover: ± its
    SE across images, which is also the CSV's error column), in the legend group of its :func:`_gallery_name`.
    ``estimate`` None: an invisible placeholder that keeps the other ticks aligned with their bars.
    ``legend``: instead, the (data-less) legend entry of that group."""
    marker = dict(symbol="line-ew", size=16, line=dict(width=3, color=REFERENCE))
    if legend is not None or estimate is None:
        return go.Scatter(x=labels[:1], y=[None], mode="markers", offsetgroup=group, hoverinfo="skip",
                          showlegend=legend is not None, name=legend or f"{name} (none)", legendgroup=legend,
                          marker=marker)
    se = _array(estimate.se)
    return go.Scatter(x=labels, y=_array(estimate.mean), mode="markers", name=name, offsetgroup=group,
                      legendgroup=name.split(": ")[-1], showlegend=False, customdata=se,
                      error_y=dict(type="data", array=se, visible=False), marker=marker,
                      hovertemplate="order %{x}<br>" + quantity + " = %{y:.4f} ± %{customdata:.4f}<extra>"
                      + name + "</extra>")


def _gallery_name(reference: Any) -> str:
    return f"gallery mean ({int(reference.count)} images)"


def order_profile_figure(profiles: Mapping[str, Any], title: str = "Mean interaction I⁽ᵐ⁾ per order", *,
                         references: Mapping[str, Any] | None = None, shared_y: bool = True,
                         attack: str = "") -> go.Figure:
    """Per model (one panel each): mean I^(m) over the pair set, clean vs adversarial, ±1 SE; the
    subtitle states the pair set (the estimand) and what the error bars cover. ``shared_y``: one y scale
    for all panels (magnitudes compare at a glance), else one per panel (each model's shape shows, even
    where its interactions are much smaller). ``references`` (model name ->
    :class:`mimi.population.GalleryProfile`) adds, in that model's panel, a grey tick on each bar at the
    same quantity averaged over the gallery, only where its settings match the profile's. ``attack``: subtitle
    clauses on the attack (:func:`_with_attack`)."""
    names = list(profiles)
    fig = make_subplots(rows=1, cols=max(1, len(names)), shared_yaxes=shared_y,   # room for each panel's ticks
                        horizontal_spacing=0.03 if shared_y else 0.12, subplot_titles=names)
    shown: set[str] = set()
    for col, name in enumerate(names, start=1):
        p = profiles[name]
        labels = order_labels(p.ratios, p.orders)
        series = [("clean", p.interaction.clean, CLEAN)]
        if p.interaction.adversarial is not None:
            series.append(("adversarial", p.interaction.adversarial, ADVERSARIAL))
        for label, estimate, colour in series:
            fig.add_trace(go.Bar(x=labels, y=_array(estimate.mean), name=label, marker_color=colour,
                                 legendgroup=label, offsetgroup=label, showlegend=col == 1,
                                 error_y=dict(type="data", array=_array(estimate.se), visible=estimate.se is not None),
                                 hovertemplate="order %{x}<br>I = %{y:.4f}<extra>" + f"{name}, {label}</extra>"),
                          1, col)
        reference = _reference(name, p, references)
        if reference is not None:
            for label, _, _ in series:   # the series are named by their side of the Contrast
                fig.add_trace(_reference_ticks(labels, getattr(reference.interaction, label),
                                               name=f"{label}: {_gallery_name(reference)}", group=label,
                                               quantity="mean I"), 1, col)
            if _gallery_name(reference) not in shown:  # one legend entry per image count
                shown.add(_gallery_name(reference))
                fig.add_trace(_reference_ticks(labels, None, name="", group=series[0][0], quantity="",
                                               legend=_gallery_name(reference)), 1, col)
        fig.update_xaxes(title_text="order r = m / (n−2)", row=1, col=col)
    fig.update_yaxes(title_text="mean I⁽ᵐ⁾(i, j)" + ("" if shared_y or len(names) < 2 else ", own scale per panel"),
                     row=1, col=1)
    fig.update_layout(barmode="group", scattermode="group", bargap=0.2, scattergap=0.2)
    return _finish(fig, _with_attack(_subtitle(title, profiles), attack), 400, legend_below=True)


def delta_j_figure(profiles: Mapping[str, Any], title: str | None = None, *,
                   references: Mapping[str, Any] | None = None, attack: str = "") -> go.Figure:
    """ΔJ^(m) per order, all models on one axis (grouped bars, ±1 SE); models without an attack are skipped.
    With the all-pairs set it is the attacking utility of order m; with another pair set, the share of it
    that set carries, and the default title says so. ``references`` (model name -> GalleryProfile) adds a
    grey tick on each model's bars at its gallery mean ΔJ, only where the settings match (as in
    :func:`order_profile_figure`). ``attack``: subtitle clauses on the attack (:func:`_with_attack`)."""
    if title is None:
        sets = {getattr(p, "pair_set", "all") for p in profiles.values()}
        title = ("Attacking utility by order ΔJ⁽ᵐ⁾ (clean − adversarial, summed over all pairs)" if sets == {"all"}
                 else "Share of the attacking utility ΔJ⁽ᵐ⁾ carried by the pair set")
        title = _subtitle(title, profiles)
    fig = go.Figure()
    ticks, legends = [], {}
    for name, p in profiles.items():
        if p.utility_by_order is None:
            continue
        se = _array(p.utility_by_order.se)
        labels = order_labels(p.ratios, p.orders)
        reference = _reference(name, p, references)
        ticks.append(_reference_ticks(labels, None if reference is None else reference.utility_by_order,
                                      name=f"{name}: {_gallery_name(reference)}" if reference is not None else name,
                                      group=name, quantity="ΔJ"))
        if reference is not None and _gallery_name(reference) not in legends:
            legends[_gallery_name(reference)] = _reference_ticks(labels, None, name="", group=name, quantity="",
                                                                 legend=_gallery_name(reference))
        fig.add_trace(go.Bar(x=labels, y=_array(p.utility_by_order.mean), name=name, offsetgroup=name,
                             marker_color=model_colour(name),
                             error_y=dict(type="data", array=se, visible=se is not None),
                             hovertemplate="order %{x}<br>ΔJ = %{y:.4f}<extra>" + name + "</extra>"))
    if legends:  # placeholders only where some model has a reference
        for tick in ticks + list(legends.values()):
            fig.add_trace(tick)
    fig.add_hline(y=0, line_color="#888", line_width=1)
    fig.update_layout(barmode="group", scattermode="group", bargap=0.2, scattergap=0.2,
                      xaxis_title="order r = m / (n−2)", yaxis_title="ΔJ⁽ᵐ⁾ (clean − adversarial)")
    return _finish(fig, _with_attack(title, attack), 400, legend_below=True)


def decomposition_figure(parts: Sequence[tuple[str, float]], total: float, title: str = "") -> go.Figure:
    """Waterfall of v(N) − v(∅) into its parts (name, value), one row each, read top to bottom, ending at the sum
    beside the exact total (a black tick). Horizontal, so that the parts' names sit on rows of their own and never
    collide on a narrow column; a part above zero in :data:`POSITIVE`, below in :data:`NEGATIVE`, the sum in
    :data:`TOTAL` (blue and red mean clean and adversarial, which these parts are not)."""
    names = [name for name, _ in parts] + ["sum of parts"]
    values = [float(v) for _, v in parts]
    fig = go.Figure(go.Waterfall(
        y=names, x=values + [0.0], orientation="h", measure=["relative"] * len(values) + ["total"],
        increasing=dict(marker_color=POSITIVE), decreasing=dict(marker_color=NEGATIVE),
        totals=dict(marker_color=TOTAL), connector=dict(line=dict(color="#bbb")), showlegend=False,
        hovertemplate="%{y}: %{x:.4f}<extra></extra>", name="parts"))
    fig.add_trace(go.Scatter(y=["sum of parts"], x=[float(total)], orientation="h", mode="markers",
                             name="exact v(N) − v(∅)",
                             marker=dict(symbol="line-ns-open", size=26, color="black",
                                         line=dict(width=3, color="black"))))
    levels = np.concatenate([[0.0], np.cumsum(values), [float(total)]])
    low, high = float(min(levels.min(), 0.0)), float(max(levels.max(), 0.0))
    pad = 0.08 * (high - low or 1.0)                      # room beyond the longest bar and below zero
    short = [name.replace("single cells ", "single ").replace("orders ", "") for name in names]
    fig.update_yaxes(tickvals=names, ticktext=short, autorange="reversed")
    fig.update_layout(xaxis=dict(title="contribution to v(N) − v(∅)", range=[low - pad, high + pad]))
    key = "<sup>green: part > 0, purple: part < 0, grey: their sum</sup>"
    return _finish(fig, f"{title}<br>{key}" if title else key, 300, legend_below=True)


# --------------------------------------------------------------------------- cell maps
def _cell_axes(shape: tuple[int, int], image_shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Pixel centres in cell coordinates, so an image lines up under a (rows, cols) cell map."""
    rows, cols = shape
    height, width = image_shape
    return (np.arange(width) + 0.5) * cols / width - 0.5, (np.arange(height) + 0.5) * rows / height - 0.5


def _cell_layer(shape: tuple[int, int], text: Sequence[str] | None = None) -> go.Scatter:
    """The clickable cells; ``text`` (one per cell, row-major): what their hover says, since it covers the map's."""
    rows, cols = shape
    rr, cc = np.mgrid[0:rows, 0:cols]
    return go.Scatter(x=cc.ravel(), y=rr.ravel(), mode="markers", name=CELL_LAYER, showlegend=False,
                      customdata=(rr * cols + cc).ravel(), text=text,
                      marker=dict(size=18, symbol="square", color="rgba(0,0,0,0)", opacity=0.01),
                      hovertemplate="cell (%{y}, %{x})" + (": %{text}" if text is not None else "")
                      + "<extra>click to select</extra>")


def _mark(fig: go.Figure, cell: tuple[int, int] | None, row: int, col: int, colour: str = "#ffbf00") -> None:
    if cell is not None:
        r, c = cell
        fig.add_shape(type="rect", x0=c - 0.5, x1=c + 0.5, y0=r - 0.5, y1=r + 0.5,
                      line=dict(color=colour, width=3), row=row, col=col)


def _symmetric(*maps: np.ndarray | None) -> float:
    peak = max((float(np.nanmax(np.abs(m))) for m in maps if m is not None and m.size), default=0.0)
    return peak if peak > 0 else 1.0


#: The mark over a map cell whose value is within 2 SE of zero (:func:`within_2se`): a ring around the cell's centre,
#: drawn in the map's own units so that it keeps its share of the cell on any page width, the cell's colour visible
#: around and inside it; a trace of its own per panel (:func:`_uncertain_layer`).
UNCERTAIN_LAYER = "within 2 SE of zero"
UNCERTAIN_MARK = "○"
_RING = np.linspace(0.0, 2.0 * np.pi, 17)   # vertices of a ring's polyline, closed


def within_2se(value: Any, se: Any) -> np.ndarray:
    """Cells that cannot be told from zero: |value| < 2 SE. False where the value or its SE is NaN (the chosen
    cell, an SE unknown) and where SE = 0 (an exact value)."""
    with np.errstate(invalid="ignore"):
        return np.abs(np.asarray(value, dtype=float)) < 2 * np.asarray(se, dtype=float)


def uncertainty_rule(covers: str) -> str:
    """The mark's rule as a subtitle clause; ``covers``: the randomness the SE is taken over."""
    return f"cells marked {UNCERTAIN_MARK}: within 2 SE of zero (SE over {covers})"


def _uncertain_layer(value: np.ndarray, se: np.ndarray, halo: bool = False) -> go.Scatter:
    """A ring of radius 0.3 cell around the centre of every cell of a (rows, cols) map with :func:`within_2se` (an
    empty trace when none is): one dark grey polyline, NaN between rings, customdata the (row, col) of each vertex's
    ring; never hovered or clicked. ``halo``: the same rings wider and white, drawn under them so that they read on
    the darkest colours too (named :data:`UNCERTAIN_LAYER` + " halo")."""
    rr, cc = np.nonzero(within_2se(value, se))
    ring = np.append(0.3 * np.exp(1j * _RING), complex(np.nan, np.nan))   # x + iy about a centre, then a gap
    points = ((cc + 1j * rr)[:, None] + ring).ravel()
    cells = np.repeat(np.stack([rr, cc], axis=1), len(ring), axis=0)
    width = 2 if max(value.shape) <= 8 else 1
    line = (dict(color="rgba(255,255,255,0.6)", width=width + 1.5) if halo
            else dict(color="rgba(30,30,30,0.9)", width=width))
    return go.Scatter(x=points.real, y=points.imag, mode="lines", name=UNCERTAIN_LAYER + " halo" * halo,
                      showlegend=False, hoverinfo="skip", customdata=cells, connectgaps=False, line=line)


def _samples_words(results: Mapping[str, Any], unit: str) -> str:
    """"K {unit}" from the results' ``params["samples"]`` ("K1 / K2 …" where they differ; the unit alone, plural,
    when they do not say)."""
    counts = sorted({(getattr(r, "params", None) or {}).get("samples") for r in results.values()}, key=str)
    if None in counts:
        return f"the random {unit}"
    return f"{' / '.join(map(str, counts))} random {unit}"


def pair_maps_figure(heatmaps: Mapping[str, Any], image: np.ndarray, title: str = "", *,
                     attack: str = "") -> go.Figure:
    """Per model (one row): the image with the chosen cell, then I(cell, j) for every cell j, clean,
    adversarial and their difference, on one diverging scale per row. Every panel carries an
    invisible clickable marker per cell (trace name :data:`CELL_LAYER`, customdata = cell index; on a map its hover
    gives the cell's value ± SE, since it covers the map's), and every map a
    ring on each cell within 2 SE of zero (:func:`_uncertain_layer`; the SE of its panel, clean, adversarial or
    difference: over the contexts drawn for each order, orders pooled as strata), the rule in the subtitle.
    ``attack``: subtitle clauses on the attack (:func:`_with_attack`)."""
    names = list(heatmaps)
    first = heatmaps[names[0]]
    has_adv = first.pooled.adversarial is not None
    panels = ["image", "clean", "adversarial", "clean − adversarial"] if has_adv else ["image", "clean"]
    fig = make_subplots(rows=len(names), cols=len(panels), horizontal_spacing=0.02, vertical_spacing=0.08,
                        column_titles=panels, row_titles=names)   # short titles: one per column, one per row
    for row, name in enumerate(names, start=1):
        h = heatmaps[name]
        clean = _array(h.pooled.clean.mean)
        shape = clean.shape
        cell = tuple(int(v) for v in np.atleast_1d(h.cell)) if np.size(h.cell) == 2 else divmod(int(h.cell), shape[1])
        xs, ys = _cell_axes(shape, _gray(image).shape)
        fig.add_trace(_image_trace(image, x=xs, y=ys), row, 1)
        shown = [h.pooled.clean] + ([h.pooled.adversarial, h.pooled.difference] if has_adv else [])
        maps = [clean] + [_array(e.mean) for e in shown[1:]]
        bound = _symmetric(*maps)
        for col, (panel, z, estimate) in enumerate(zip(panels[1:], maps, shown), start=2):
            fig.add_trace(go.Heatmap(z=z, zmin=-bound, zmax=bound, zmid=0, colorscale=DIVERGING, name=panel,
                                     customdata=_array(estimate.se),
                                     showscale=col == len(panels), colorbar=dict(thickness=10, len=0.9 / len(names),
                                     y=1 - (row - 0.5) / len(names)),
                                     hovertemplate="cell (%{y}, %{x}): I = %{z:.4f} ± %{customdata:.4f} (SE)<extra>"
                                     + panel + "</extra>"),
                          row, col)
        hovers = [None]
        for col, (z, estimate) in enumerate(zip(maps, shown), start=2):
            se = _array(estimate.se)
            for halo in (True, False):
                fig.add_trace(_uncertain_layer(z, se, halo), row, col)
            hovers.append(["the chosen cell" if np.isnan(v) else f"I = {v:.4f} ± {e:.4f} (SE)"
                           + (", within 2 SE of zero" if near else "")
                           for v, e, near in zip(z.ravel(), se.ravel(), within_2se(z, se).ravel())])
        for col, hover in enumerate(hovers, start=1):
            fig.add_trace(_cell_layer(shape, hover), row, col)
            _mark(fig, cell, row, col)
    _square_axes(fig, len(names), len(panels))
    fig.update_layout(clickmode="event+select", dragmode=False)
    rule = f"<sup>{uncertainty_rule(_samples_words(heatmaps, 'context draws per order'))}</sup>"
    return _finish(fig, _with_attack(_with_value(f"{title}<br>{rule}" if title else rule, heatmaps), attack),
                   60 + 260 * len(names))


def shapley_figure(maps: Mapping[str, Any], image: np.ndarray, title: str = "Shapley value φ(i) of each cell") -> go.Figure:
    """Per model: the Shapley value of every cell (diverging, shared scale) beside the image, a ring on each cell
    within 2 SE of zero (:func:`_uncertain_layer`; SE over the permutation pairs drawn), the rule in the subtitle."""
    names = list(maps)
    fig = make_subplots(rows=1, cols=len(names) + 1, horizontal_spacing=0.03,
                        subplot_titles=["image"] + names)
    values = [_array(maps[n].phi.clean.mean) for n in names]
    bound = _symmetric(*values)
    xs, ys = _cell_axes(values[0].shape, _gray(image).shape)
    fig.add_trace(_image_trace(image, x=xs, y=ys), 1, 1)
    for col, (name, z) in enumerate(zip(names, values), start=2):
        se = _array(maps[name].phi.clean.se)
        fig.add_trace(go.Heatmap(z=z, zmin=-bound, zmax=bound, zmid=0, colorscale=DIVERGING, name=name,
                                 customdata=se, showscale=col == len(names) + 1, colorbar=dict(thickness=10),
                                 hovertemplate="cell (%{y}, %{x}): φ = %{z:.4f}"
                                 + (" ± %{customdata:.4f}" if se is not None else "") + "<extra>" + name + "</extra>"),
                      1, col)
        if se is not None:
            for halo in (True, False):
                fig.add_trace(_uncertain_layer(z, se, halo), 1, col)
    _square_axes(fig, 1, len(names) + 1)
    if any(maps[n].phi.clean.se is not None for n in names):
        title = f"{title}<br><sup>{uncertainty_rule(_samples_words(maps, 'permutation pairs'))}</sup>"
    return _finish(fig, _with_value(title, maps), 300)


# --------------------------------------------------------------------------- disentanglement, zoo
def disentanglement_title(results: Mapping[str, Any]) -> str:
    """What a D^(m) chart shows: the estimand (over how many images), the numerator, and the band."""
    counts = sorted({len(d.per_image) for d in results.values() if getattr(d, "per_image", None) is not None})
    one = counts == [1]
    listed = " / ".join(map(str, counts)) if len(counts) <= 2 else f"{counts[0]} to {counts[-1]}"  # fits 1000 px
    images = "this one image" if one else f"these {listed} images" if counts else "the images"
    numerator = "bias-corrected" if all(getattr(d, "debiased", True) for d in results.values()) else "plug-in |Î|"
    band = "95% over contexts (one image)" if one else "95% over images"
    return _with_value(f"Disentanglement D⁽ᵐ⁾ over {images} and the pair set<br><sup>{numerator}; band: {band}</sup>",
                       results)


def disentanglement_figure(results: Mapping[str, Any], title: str | None = None) -> go.Figure:
    """D^(m) = Σ |I^(m)| / Σ E_S|Δv| per order for each model (``d``, bias-corrected by default) with its
    95% band (``d_low`` .. ``d_high``) and, hidden until clicked in the legend, the plug-in ratio
    (``d_plugin``, dotted). Trivial orders (``trivial``: m = 0 or n-2, D = 1 by construction) are left out."""
    fig = go.Figure()
    for name, d in results.items():
        colour = model_colour(name)
        trivial = getattr(d, "trivial", None)
        shown = ~np.asarray(trivial, dtype=bool) if trivial is not None else np.ones(len(d.orders), dtype=bool)
        x, orders = [float(r) for r in np.asarray(d.ratios)[shown]], np.asarray(d.orders)[shown]
        low, high = _array(getattr(d, "d_low", None)), _array(getattr(d, "d_high", None))
        if low is not None and high is not None:
            low, high = low[shown], high[shown]
            fill = colour.lstrip("#")
            rgba = f"rgba({int(fill[0:2], 16)},{int(fill[2:4], 16)},{int(fill[4:6], 16)},0.18)"
            fig.add_trace(go.Scatter(x=x + x[::-1], y=list(high) + list(low[::-1]), mode="lines", fill="toself",
                                     fillcolor=rgba, line=dict(width=0), hoverinfo="skip", name=f"{name} 95% band",
                                     showlegend=False, legendgroup=name))
            band_text = np.stack([low, high], axis=1)
            hover = "<br>95% band %{customdata[1]:.3f} .. %{customdata[2]:.3f}"
        else:
            band_text, hover = np.full((len(x), 2), np.nan), ""
        fig.add_trace(go.Scatter(x=x, y=_array(d.d)[shown], mode="lines+markers", name=name, legendgroup=name,
                                 line=dict(color=colour, width=2.5), customdata=np.column_stack([orders, band_text]),
                                 hovertemplate="r = %{x} (m = %{customdata[0]})<br>D = %{y:.3f}" + hover
                                 + "<extra>" + name + "</extra>"))
        plugin = _array(getattr(d, "d_plugin", None))
        if plugin is not None and getattr(d, "debiased", True):
            fig.add_trace(go.Scatter(x=x, y=plugin[shown], mode="lines", name=f"{name} plug-in", legendgroup=name,
                                     visible="legendonly", line=dict(color=colour, width=1, dash="dot"),
                                     customdata=orders, hovertemplate="r = %{x} (m = %{customdata})<br>plug-in D = "
                                     "%{y:.3f}<extra>" + name + "</extra>"))
    fig.update_layout(xaxis=dict(title="order r = m / (n−2)", range=[0, 1.02]),
                      yaxis=dict(title="D⁽ᵐ⁾ (1 = contexts agree in sign)", rangemode="tozero"))
    return _finish(fig, title if title is not None else disentanglement_title(results), 420, legend_below=True)


def accuracy_figure(cards: Sequence[Mapping[str, Any]], title: str = "Accuracy on the Fashion-MNIST test set") -> go.Figure:
    """Clean and PGD-20 accuracy from the model cards (``evaluation.clean_accuracy``, ``pgd20_accuracy``)."""
    names = [c["name"] for c in cards]
    fig = go.Figure()
    for key, label, colour in (("clean_accuracy", "clean", CLEAN), ("pgd20_accuracy", "under PGD-20", ADVERSARIAL)):
        values = [c.get("evaluation", {}).get(key) for c in cards]
        fig.add_trace(go.Bar(x=names, y=[v if v is not None else 0 for v in values], name=label,
                             marker_color=colour, text=[f"{v:.1%}" if v is not None else "n/a" for v in values],
                             textposition="outside", hovertemplate="%{x}: %{y:.2%}<extra>" + label + "</extra>"))
    fig.update_layout(barmode="group", yaxis=dict(title="accuracy", range=[0, 1.1], tickformat=".0%"))
    return _finish(fig, title, 340)


# --------------------------------------------------------------------------- exports
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
