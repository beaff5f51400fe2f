"""Figures of an attack and of robustness: the clean and attacked images with their difference
(:func:`attack_figure`), the classes' probabilities before and after (:func:`confidence_figure`), and the models'
accuracy clean and under PGD-20 (:func:`accuracy_figure`). Style: :mod:`mimi.figures`."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from mimi.figures import ADVERSARIAL, CLEAN, DIVERGING, _finish, _gray, _image_trace, _square_axes, _with_attack


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
