"""Cell maps over the image: the pair heatmap I(cell, j) of one cell against every other, clean, adversarial and
their difference (:func:`pair_maps_figure`), and the Shapley value of every cell (:func:`shapley_figure`); every
cell clickable (:data:`~mimi.figures.CELL_LAYER`) and ringed where it is within 2 SE of zero
(:func:`within_2se`, :data:`~mimi.figures.UNCERTAIN_LAYER`). Style: :mod:`mimi.figures`."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from mimi.figures import (CELL_LAYER, DIVERGING, UNCERTAIN_LAYER, _array, _finish, _gray, _image_trace, _square_axes,
                          _with_attack, _with_value)

#: The mark over a map cell whose value is within 2 SE of zero (:func:`within_2se`): a ring around the cell's centre,
#: drawn in the map's own units so that it keeps its share of the cell on any page width, the cell's colour visible
#: around and inside it; a trace of its own per panel (:func:`_uncertain_layer`, named :data:`UNCERTAIN_LAYER`).
UNCERTAIN_MARK = "○"
_RING = np.linspace(0.0, 2.0 * np.pi, 17)   # vertices of a ring's polyline, closed


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
