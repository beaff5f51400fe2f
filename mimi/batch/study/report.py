"""The report of a study: the paper's figures over its images, and its three claims with verdicts.

:func:`build_report` reads a study folder (files only: no model, no Ray) and returns a
:class:`StudyReport`. Per model, over the B images whose job is done and whose attack landed at the study's
equal strength (images that did not land are counted and listed, never mixed in; :mod:`mimi.batch.study.summaries`):

- order profiles Ī^(m) clean and adversarial, their difference, ΔJ^(m) and the mean squared change
  S^(m) = mean over pairs of [I^(m)(x) - I^(m)(x')]²: each image's estimate (:class:`mimi.analysis.InteractionProfile`),
  then across images the mean with a Student-t interval (sd_b / √B: it covers the images and, within each, the
  pairs drawn and the contexts);
- D^(m) = Σ_b numerator_b / Σ_b denominator_b (bias-corrected numerators, as
  :func:`mimi.analysis.disentanglement` pools images) with a delete-one-image jackknife interval.

The claims of docs/science.md §11 are tested as registered in :data:`~mimi.batch.study.claims.PREREGISTERED` (order
bands low r < 1/3 and high r ≥ 2/3, :data:`mimi.defenses.strength.BANDS`): one primary comparison set per claim decides its
verdict; the other rows are shown beside it and decide nothing. A study with a ``twin_value`` gets the same claims
for that value function (``twin_claims``), from the same forward passes; where the verdicts differ, a note gives
both.

The claims and their tests are :mod:`mimi.batch.study.claims`; the report's tables and HTML page
:mod:`mimi.figures.report_page`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from mimi.batch.engine import StudyStatus, read_manifest, scan_results, study_status
from mimi.batch.study.claims import _disagreements, claims_of
from mimi.batch.study.jobs import StudyJobResult
from mimi.batch.study.plan import StudyManifest
from mimi.batch.study.summaries import CONFIDENCE, summarize_model
from mimi.core.results import Result
from mimi.defenses.strength import BANDS


@dataclass
class StudyReport(Result):
    """What ``mimi study report`` shows and writes: the study's ``params`` and ``status``, per model its
    :class:`ModelSummary`, the three :class:`Claim` s, the order ``bands`` and ``notes``; with a twin value
    function, ``twin_models`` and ``twin_claims`` for it (same forward passes)."""

    folder: str
    params: dict
    status: StudyStatus
    models: dict
    claims: list
    bands: dict
    confidence: float
    notes: list = field(default_factory=list)
    twin_value: Optional[str] = None
    twin_models: dict = field(default_factory=dict)
    twin_claims: list = field(default_factory=list)

    def summary(self) -> str:
        """The claims and the models in a few lines for the terminal."""
        lines = [f"study {self.folder}: {self.status.done} of {self.status.jobs} jobs done "
                 f"({self.status.failed} failed, {self.status.left} left)"]
        for name, m in self.models.items():
            lines.append(f"  {name} ({m.role}): {m.count} of {m.attacked} images landed at U, clean accuracy "
                         f"{m.clean_accuracy:.0%}, prediction changed {m.attack_success:.0%}, utility "
                         f"{m.utility.mean:.3g} ± {m.utility.se:.2g}")
        for claims, value in ((self.claims, self.params.get("value")), (self.twin_claims, self.twin_value)):
            for claim in claims:
                lines.append(f"claim ({claim.key}) [{value}] {claim.statement} -> {claim.verdict.upper()}"
                             + (f" ({claim.note})" if claim.note else ""))
                for c in claim.comparisons:
                    relative = (f", relative {c.relative:+.0%}" if c.relative is not None and np.isfinite(c.relative)
                                else "")
                    needed = f", {c.images_needed} images for 80% power" if c.images_needed else ""
                    lines.append(f"    {'' if c.primary else '(beside) '}{c.label}: {c.statistic} {c.effect:+.4g} "
                                 f"[{c.ci_low:+.4g}, {c.ci_high:+.4g}] ({c.confidence:.1%} CI, {c.count} images"
                                 f"{relative}{needed}): {c.verdict}")
        lines += [f"note: {note}" for note in self.notes]
        return "\n".join(lines)


def build_report(folder: str | Path, confidence: float = CONFIDENCE) -> StudyReport:
    """The report of the study in ``folder`` over the jobs done so far (reads its files only)."""
    manifest: StudyManifest = read_manifest(folder)
    scan = scan_results(folder, manifest)
    status = study_status(folder, scan=scan)
    order = {record["source"]: k for k, record in enumerate(manifest.images)}
    done = sorted((o for o in scan.outcomes.values() if isinstance(o, StudyJobResult)), key=lambda o: order[o.image])
    twin_value = manifest.params.get("twin_value")
    models, twin_models, notes = {}, {}, []
    for name, record in manifest.models.items():
        results = [o for o in done if o.model == name]
        summary = summarize_model(name, record, results, confidence) if results else None
        if summary is not None:
            models[name] = summary
            if twin_value:
                twin_models[name] = summarize_model(name, record, results, confidence, twin=True)
        elif results:
            notes.append(f"no attack on {name} landed at U = {manifest.params.get('stop_utility')} within "
                         f"ε = {manifest.params.get('eps')} and {manifest.params.get('steps')} steps ({len(results)} "
                         f"images tried): it is left out of the figures and the claims; try a smaller U or a larger "
                         f"ε or more steps")
    if status.left or status.failed:
        notes.append(f"{status.left} job(s) left and {status.failed} failed: the report covers the {status.done} done")
    notes += [f"corrupted result file {c['file']} left out ({c['reason']}); `mimi study run` recomputes it"
              for c in status.corrupted]
    if status.skipped:
        notes.append(f"{len(status.skipped)} (image, model) pair(s) skipped: the model cannot take the image")
    unlanded = {name: len(m.not_landed) for name, m in models.items() if m.not_landed}
    if unlanded:
        notes.append("images whose attack did not land at U are left out of every figure and claim: "
                     + ", ".join(f"{name} {count} of {models[name].attacked}" for name, count in unlanded.items()))
    claims = claims_of(models, manifest.params, confidence)
    twin_claims = claims_of(twin_models, manifest.params, confidence) if twin_value else []
    if twin_value:
        notes += _disagreements(claims, twin_claims, manifest.params["value"], twin_value)
    return StudyReport(folder=str(folder), params=manifest.params, status=status, models=models, claims=claims,
                       bands={k: list(v) for k, v in BANDS.items()}, confidence=confidence, notes=notes,
                       twin_value=twin_value, twin_models=twin_models, twin_claims=twin_claims)
