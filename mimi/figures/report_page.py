"""A study report as people read it: the rows of its claims, models and images (for the dashboard's tables and the
CSV), its settings in one line, and the whole report as one self-contained HTML page (:func:`report_html`, what
``mimi study report --html`` writes)."""

from __future__ import annotations

import html
from typing import Optional, Sequence

import numpy as np

from mimi.batch.study.claims import PREREGISTERED, STATEMENTS, Claim, _high_minus_low, verdict_rule
from mimi.batch.study.report import StudyReport
from mimi.batch.study.summaries import AcrossImages
from mimi.figures.study import study_figures


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _number(value: Optional[float], spec: str = "+.4g") -> str:
    return "—" if value is None or not np.isfinite(value) else format(value, spec)


def claim_rows(claims: Sequence[Claim]) -> list[list[str]]:
    """One row per comparison of every claim, primary rows first (a claim without comparisons: one row with its
    note)."""
    rows = []
    for claim in claims:
        if not claim.comparisons:
            rows.append([f"({claim.key})", "—", "—", claim.verdict, "—", "—", "—", "—", "—", "—", claim.note])
        for c in claim.comparisons:
            rows.append([f"({claim.key})", "primary" if c.primary else "beside", c.label, c.verdict,
                         _number(c.effect), f"[{_number(c.ci_low)}, {_number(c.ci_high)}]",
                         str(c.images_needed) if c.images_needed else "—", c.statistic, f"{c.confidence:.1%}",
                         _number(c.relative, "+.0%"),
                         f"{c.count} images; claim: {claim.verdict}" + (f"; {claim.note}" if claim.note else "")])
    return rows


#: Verdict first: on a narrow page the columns on the right scroll out of view.
CLAIM_HEADER = ("claim", "test", "comparison", "verdict", "effect", "interval", "images for 80% power", "statistic",
                "level", "relative", "notes")


def _spread(summary: Optional[AcrossImages]) -> str:
    """min / median / max of a per-image quantity."""
    if summary is None or not summary.count:
        return "—"
    values = np.asarray(summary.per_image, dtype=np.float64)
    return f"{values.min():.3g} / {np.median(values):.3g} / {values.max():.3g}"


def model_rows(report: StudyReport) -> list[list[str]]:
    return [[name, m.role, f"{m.count} of {m.attacked}", f"{m.clean_accuracy:.0%}" if np.isfinite(m.clean_accuracy)
             else "—", f"{m.attack_success:.0%}", f"{m.landed_rate:.0%}", _spread(m.stop_drop), _spread(m.utility)]
            for name, m in report.models.items()]


MODEL_HEADER = ("model", "role", "images landed", "clean accuracy", "attack success (prediction changed)",
                "reached U", "stop drop min / median / max", "utility v(N|x) − v(N|x') min / median / max")


def image_rows(report: StudyReport) -> list[dict]:
    """One row per (image, model) whose attack landed: the image, its label, the model's predictions before and
    after PGD, the attacking utility, claim (a)'s per-image statistic, and the job's key and seed."""
    rows = []
    for name, m in report.models.items():
        change = (_high_minus_low(m.squared_change.per_image, m.ratios) if m.squared_change is not None
                  else np.full(m.count, np.nan))
        for b, image in enumerate(m.images):
            label = int(m.labels[b])
            rows.append({"image": image, "gallery_index": int(m.gallery_indices[b]), "label": label,
                         "class": m.classes[label] if m.classes and 0 <= label < len(m.classes) else None,
                         "model": name, "prediction": int(m.predictions[b]), "adv_prediction": int(m.adv_predictions[b]),
                         "utility": float(m.utility.per_image[b]), "squared_change_high_minus_low": float(change[b]),
                         "steps": int(m.steps_used[b]), "key": m.keys[b], "seed": int(m.seeds[b])})
    return rows


def settings_text(p: dict) -> str:
    """A study's parameters (its manifest's ``params``) in one line."""
    stop = ""
    if p.get("stop_utility") is not None:
        rule = {"paper": "the true class's logit once misclassified (the paper's rule)",
                "utility": f"v = {p['value']}"}[p.get("stop_rule", "utility")]
        stop = (f", equal strength: each image's drop of {rule} landed in [{p['stop_utility']:g}, "
                f"{p['stop_utility'] + p.get('tolerance', 0):g}]")
    start = "" if p.get("random_start", True) else ", starting at x"
    return (f"images: {p['images']['description']}; PGD {p['norm']} ε = {p['eps']}, {p['steps']} steps{start}{stop}"
            + f"; grid {p['grid']}, {p['pairs']} pairs ({p['pair_count'] or 'all'} drawn per image), {p['samples']} × "
            f"{p['contexts'] or 'design'} contexts, ratios {', '.join(f'{r:g}' for r in p['ratios'])}; D⁽ᵐ⁾: "
            f"{p['d_pair_count'] or 'all'} pairs, {p['d_samples']} samples; Shapley: {p['shapley_samples']} permutation "
            f"pairs; baseline {p['baseline']}, v = {p['value']}"
            + (f" (and {p['twin_value']} from the same forward passes)" if p.get("twin_value") else "")
            + f"; seed {p['seed']}")


def report_html(report: StudyReport) -> str:
    """The report as one self-contained HTML page (plotly.js embedded once: it opens offline)."""
    figures = [fig.to_html(full_html=False, include_plotlyjs=index == 0, config={"displaylogo": False})
               for index, fig in enumerate(study_figures(report).values())]
    settings = settings_text(report.params)
    definitions = "".join(f"<li><b>({k})</b> {html.escape(STATEMENTS[k])} <i>Registered test:</i> "
                          f"{html.escape(PREREGISTERED[k])}</li>" for k in STATEMENTS)
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in report.notes)
    twin = ""
    if report.twin_claims:
        twin = (f"<h2>The same claims with v = {html.escape(report.twin_value)} (same forward passes)</h2>"
                + _table(CLAIM_HEADER, claim_rows(report.twin_claims)))
    style = ("body{font-family:system-ui,sans-serif;max-width:1300px;margin:2em auto;padding:0 1em;color:#222}"
             "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;"
             "text-align:left;font-size:14px}th{background:#f4f4f4}")
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>mimi study report</title>"
            f"<style>{style}</style></head><body><h1>mimi study: {html.escape(report.folder)}</h1>"
            f"<p>{html.escape(settings)}</p><p>{html.escape(report.status.summary().splitlines()[0])}</p>"
            f"<h2>The paper's claims (v = {html.escape(str(report.params.get('value')))})</h2><ul>{definitions}</ul>"
            f"<p>{html.escape(verdict_rule(report.confidence))}</p>"
            + _table(CLAIM_HEADER, claim_rows(report.claims)) + twin + (f"<ul>{notes}</ul>" if notes else "")
            + "<h2>Models</h2>" + _table(MODEL_HEADER, model_rows(report))
            + "<h2>Figures</h2>" + "".join(figures) + "</body></html>")
