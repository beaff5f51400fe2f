"""Per-order charts: the order profile Ī^(m) clean and adversarial (:func:`order_profile_figure`), the attacking
utility by order ΔJ^(m) (:func:`delta_j_figure`), with the gallery's reference ticks (:mod:`mimi.batch.population`);
disentanglement D^(m) with its band (:func:`disentanglement_figure`); and the exact decomposition's waterfall
(:func:`decomposition_figure`). Style: :mod:`mimi.figures`."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from mimi.batch.population import reference_matches
from mimi.figures import (ADVERSARIAL, CLEAN, NEGATIVE, POSITIVE, REFERENCE, TOTAL, _array, _finish, _with_attack,
                          _with_value, model_colour, order_labels)


def _pair_set_words(p: Any) -> str:
    """What a profile averages over, and what its error bars cover, in a few words."""
    described = {"neighbors": "pairs of 8-neighbouring cells", "all": "pairs of cells"}.get(p.pair_set, "given pairs")
    drawn = len(p.pairs) // max(1, p.replicates)
    sample = ((f"{drawn} drawn at random" if p.replicates == 1 else "drawn at random in rounds")
              if drawn < p.pair_set_size else "all evaluated")   # rounds: the lines under the chart count them
    covers = "the pair draw and the contexts" if drawn < p.pair_set_size else "the contexts"
    return f"over all {p.pair_set_size} {described} ({sample}); bars ±1 SE covering {covers}"


def _subtitle(title: str, profiles: Mapping[str, Any]) -> str:
    """The title over what the profiles average, what their error bars cover and the value function (each clause a
    line: _finish)."""
    notes = list(dict.fromkeys(_pair_set_words(p) for p in profiles.values() if hasattr(p, "pair_set_size")))
    return _with_value(title + "".join(f"<br><sup>{note}</sup>" for note in notes), profiles)


def _reference(name: str, profile: Any, references: Mapping[str, Any] | None) -> Any:
    """Model ``name``'s gallery reference when it shows the same quantity as ``profile`` (same orders, grid,
    pair set, value and baseline: :func:`mimi.batch.population.reference_matches`), else None."""
    reference = (references or {}).get(name)
    if reference is None:
        return None
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
    :class:`mimi.batch.population.GalleryProfile`) adds, in that model's panel, a grey tick on each bar at the
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
