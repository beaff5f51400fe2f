"""The /lesson page's side: the paper's three claims, one part each, measured on the shipped study (its average
over images, left) and on the sidebar's image analysed as one more job of that study (right); the parts'
navigation (URL ``part``) and the projector mode (URL ``projector``).

The image's job is the study's own (:func:`mimi.batch.study.run_job` with the study's settings and its seed rule), so
its numbers compare with the study's. The shipped study holds the job of every gallery image with every shipped
model (its 200 test images include the gallery's 100), so those are read from its folder; any other job goes
through the compute gate (cached, gated, with its estimate and, when long, the "Run it" button).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Callable

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from mimi.batch.engine import read_manifest, read_outcome, result_path
from mimi.batch.study import STUDY_DIR, JobFailure, StudyJobResult, StudyParams, run_job
from mimi.batch.study.plan import Job, StudyImage, job_key, study_image_seed, weights_hash
from mimi.batch.study.report import StudyReport
from mimi.defenses.strength import band_mask
from mimi.figures import lesson as figures_lesson
from mimi.figures import study as figures_study
from mimi.models.cards import zoo_dir
from mimi.ui import compute, page, state
from mimi.ui import study as study_ui
from mimi.ui.params import LESSON_PARTS

PART_NAMES = {"intro": "Introduction", "a": "Claim (a)", "b": "Claim (b)", "c": "Claim (c)"}
#: Each claim's part asks its question; the paper's answer and mimi's follow it.
QUESTIONS = {"a": "which interactions does an attack change?",
             "b": "do adversarially trained models lose less at high orders?",
             "c": "are the low-order interactions of adversarially trained models more consistent?"}
#: Per part: the page that goes further, and its link's words.
FURTHER = {"intro": ("views/study.py", "Study: every verdict, table and image"),
           "a": ("views/interactions.py", "Interactions by order: your image with settings of your own"),
           "b": ("views/defenses.py", "Defenses: the whole zoo side by side"),
           "c": ("views/disentanglement.py", "Disentanglement: D⁽ᵐ⁾ over gallery images, settings of your own")}
#: Each claim's registered statistic in words.
STATISTICS = {
    "a": "S_high − S_low, how much more the attack changes the interactions of the high orders (r ≥ 2/3) than "
         "those of the low orders (r < 1/3)",
    "b": "ΔJ_high(standard) − ΔJ_high(AT), how much more attacking utility the high orders (r ≥ 2/3) carry in "
         "the standard model, on the images both attacks landed on",
    "c": "D_low(AT) − D_low(standard), how much more consistently the AT model's low-order interactions "
         "(r < 1/3) keep their sign, on the images both attacks landed on",
}
#: The verdicts' colours of /study (green for, purple against, grey open: red means adversarial).
VERDICT_BADGES = {"holds": "green", "does not hold": "violet", "undecided": "gray"}
PROJECTOR_CSS = """<style>
.stMainBlockContainer p, .stMainBlockContainer li { font-size: 1.3rem; line-height: 1.5; }
.stMainBlockContainer h1 { font-size: 2.8rem; }
.stMainBlockContainer h3 { font-size: 2rem; }
.stMainBlockContainer h5 { font-size: 1.45rem; }
.stMainBlockContainer [data-testid="stCaptionContainer"] p { font-size: 1.05rem; }
.stMainBlockContainer button p { font-size: 1.2rem; }
</style>"""
#: Narrower page margins on every lesson page: two charts side by side fit a 1000-px window with the sidebar.
LESSON_CSS = """<style>
.stMainBlockContainer { padding-left: 1.5rem; padding-right: 1.5rem; padding-top: 3rem; }
</style>"""
PROJECTOR_FONT = 15    # chart ticks and legends in projector mode (the theme's: 12)


# --------------------------------------------------------------------------- numbers in words
def signed(value: float) -> str:
    """+0.0593, −0.00458: three significant digits and a real minus sign."""
    return f"{value:+.3g}".replace("-", "−")


def interval(low: float, high: float) -> str:
    return f"[{signed(low)}, {signed(high)}]"


def claim_of(claims: list, key: str) -> Any:
    return next(claim for claim in claims if claim.key == key)


def paper_says(claim: Any) -> str:
    """The claim's statement inside a sentence ("attacks mainly …", "AT models …")."""
    text = claim.statement
    return text if text[1:2].isupper() else text[0].lower() + text[1:]


def _rows(claim: Any) -> str:
    return "; ".join(f"{c.label} {signed(c.effect)} {interval(c.ci_low, c.ci_high)} over {c.count} images"
                     for c in claim.primary)


def _verdict_words(claim: Any) -> str:
    if claim.verdict == "holds":
        return "every interval lies above 0, so on these models the claim **holds**"
    if claim.verdict == "does not hold":
        return "an interval lies below 0, so on these models the claim **does not hold**"
    needed = [c.images_needed for c in claim.primary if c.images_needed]
    power = f" (about {max(needed)} images would give each comparison 80% power)" if needed else ""
    return f"an interval reaches 0, so on these models mimi cannot decide it: **undecided**{power}"


def study_text(report: StudyReport, key: str) -> str:
    """What the paper says and what the study measured for claim ``key``, with its registered rows and verdict;
    the twin value function's rows too when its verdict differs."""
    claim = claim_of(report.claims, key)
    if not claim.primary:
        return f"The paper says: {paper_says(claim)} The study cannot test it: {claim.note}."
    level = f"{claim.primary[0].confidence:.1%} intervals" + (", Bonferroni over the comparisons"
                                                             if len(claim.primary) > 1 else "")
    text = (f"**The paper says:** {paper_says(claim)}  \n**On these models mimi "
            f"measures** {STATISTICS[key]}, claimed > 0, with v = {report.params['value']}: {_rows(claim)} "
            f"({level}); {_verdict_words(claim)}.")
    twin = claim_of(report.twin_claims, key) if report.twin_claims else None
    if twin is not None and twin.verdict != claim.verdict and twin.primary:
        text += (f" With v = {report.twin_value} instead, from the same forward passes: {_rows(twin)}, so it "
                 f"**{twin.verdict}**.")
    return text


def _band_count(estimate: Any, ratios: np.ndarray, band: str) -> tuple[int, int]:
    """(orders of ``band`` whose estimate lies more than 2 SE above 0, orders of the band)."""
    mask = band_mask(ratios, band)
    above = np.asarray(estimate.mean) - 2 * np.asarray(estimate.se) > 0
    return int((above & mask).sum()), int(mask.sum())


def image_text(key: str, results: dict[str, StudyJobResult]) -> str:
    """What the chart of one image supports, per model: how many of the claim's orders are resolved above 0."""
    lines = []
    for name, result in results.items():
        p = result.profile
        if key == "a":
            high, low = (_band_count(p.squared_change, p.ratios, band) for band in ("high", "low"))
            lines.append(f"**{name}**: S⁽ᵐ⁾ lies more than 2 SE above 0 at {high[0]} of the {high[1]} high orders "
                         f"and at {low[0]} of the {low[1]} low ones.")
        else:
            high = _band_count(p.utility_by_order, p.ratios, "high")
            lines.append(f"**{name}**: the attack lowered v(N) by {p.attack_utility:.2f}, and ΔJ⁽ᵐ⁾ lies more than "
                         f"2 SE above 0 at {high[0]} of the {high[1]} high orders.")
    return " ".join(lines)


def disentanglement_text(report: StudyReport, names: list[str], results: dict[str, StudyJobResult]) -> str:
    """Claim (c) for one image: why one image cannot show it, the image's D_low, and how often the second
    model's D_low is the higher over the study's images."""
    pairs = report.params.get("d_pair_count")
    text = (f"**One image cannot show (c)**: the claim compares D pooled over many images, and one image's D_low, "
            f"from {pairs} pairs, has no interval that covers which pairs were drawn.")
    own = [(name, r.disentanglement) for name, r in results.items()]
    if own:
        text += " Your image's D_low: " + ", ".join(
            f"{figures_lesson.d_low(d.numerator, d.denominator, d.ratios):.2f} ({name})" for name, d in own) + "."
    shown = [name for name in names if name in report.models]
    if len(shown) == 2:
        images, rows = figures_lesson.shared_rows(report, shown)
        pooled = [report.models[name].disentanglement for name in shown]
        d = [figures_lesson.d_low(p.numerator[rows[name]], p.denominator[rows[name]], p.ratios)
             for name, p in zip(shown, pooled)]
        if images:
            higher = int((d[1] > d[0]).sum())
            text += (f" Over the {len(images)} study images both attacks landed on, {shown[1]}'s D_low is above "
                     f"{shown[0]}'s on {higher} ({higher / len(images):.0%}).")
    return text


# --------------------------------------------------------------------------- the image's job
def study_report() -> StudyReport:
    """The shipped study's report (cached by the state of its files); when it cannot be read, the reason, and the
    page stops."""
    with compute.friendly_errors("Reading the shipped study"):
        return study_ui.report(STUDY_DIR)
    st.stop()


def guarded(what: str) -> Callable:
    """A page section that shows its failure as one message (:func:`mimi.ui.compute.friendly_errors`), so that
    the rest of the page, its navigation included, still renders."""
    def decorate(section: Callable) -> Callable:
        @functools.wraps(section)
        def run(*args: Any, **kwargs: Any) -> None:
            with compute.friendly_errors(what):
                section(*args, **kwargs)
        return run
    return decorate


def lesson_job(sel: Any, name: str, report: StudyReport) -> tuple[Job, StudyParams]:
    """The job the study would run on the sidebar's image for model ``name``: its settings, seed rule and key."""
    settings = StudyParams.from_dict(report.params)
    image = StudyImage.make(sel.title, sel.image, sel.label)
    seed = int(report.params["seed"])
    key = job_key(name, weights_hash(name, page.card(name), zoo_dir()), image, settings.as_dict(), seed)
    return Job(key, name, image, study_image_seed(seed, image.sha256)), settings


@st.cache_resource(show_spinner=False, max_entries=64)
def _stored(path: str, key: str) -> Any:
    return read_outcome(Path(path), key, read_manifest(Path(path).parent.parent))


def job_result(sel: Any, name: str, report: StudyReport) -> Any:
    """The study's job on the sidebar's image for model ``name``: read from the study's folder when it holds it,
    else computed through the compute gate as ``mimi study run`` would (one torch thread: the same numbers)."""
    job, settings = lesson_job(sel, name, report)
    path = result_path(report.folder, job.key)
    if path.exists():
        return _stored(str(path), job.key)
    net = page.model(sel, name)
    work = compute.work(name, sel.device, settings.check(tuple(sel.image.shape)),
                        "Choose a gallery image (the study holds their results)")
    return compute.compute(f"The study's analysis of this image for {name}",
                           lambda progress: run_job(net, job, settings, device=sel.device),
                           compute.model_identity(name), job.key, planned=work)


def landing_text(name: str, result: StudyJobResult, params: dict) -> str:
    """Why a job's image is out of the comparison: its attack did not land at the study's equal strength."""
    a = result.attack
    band = f"[{params['stop_utility']:g}, {params['stop_utility'] + params['tolerance']:g}]"
    return (f"The attack on **{name}** did not land at the study's equal strength: its stop rule measured a drop "
            f"of {a['stop_drop']:.2f}, not in {band}, within ε = {params['eps']:g} and {params['steps']} steps. The "
            f"study leaves such images out, so this image shows nothing for {name}.")


def landed_results(sel: Any, names: list[str], report: StudyReport) -> dict[str, StudyJobResult]:
    """The jobs of models ``names`` on the sidebar's image whose attack landed; a message in place of each other."""
    results = {}
    for name in names:
        with compute.friendly_errors(f"The analysis of this image for {name}"):
            outcome = job_result(sel, name, report)
            if isinstance(outcome, JobFailure):
                st.error(f"The analysis of this image for **{name}** failed: {outcome.error}", icon=":material/error:")
            elif not outcome.landed:
                st.warning(landing_text(name, outcome, report.params), icon=":material/block:")
            else:
                results[name] = outcome
    return results


def outcome_text(name: str, result: StudyJobResult, classes: tuple[str, ...]) -> str:
    """A landed job's attack in words: predictions, steps, the stop rule's drop and v's."""
    a = result.attack
    label = (lambda k: classes[k] if 0 <= k < len(classes) else str(k))
    return (f"**{name}**: {label(a['clean_prediction'])} → {label(a['adv_prediction'])} after {a['steps_used']} PGD "
            f"steps (largest pixel change {a['linf_norm']:.3f}); the drop the stop rule measured: "
            f"{a['stop_drop']:.2f}, the drop of v(N): {result.profile.attack_utility:.2f}.")


# --------------------------------------------------------------------------- page parts
def projector_mode() -> bool:
    """Larger fonts and the sidebar collapsed when the session's projector mode is on; the sidebar opens again on
    the first run after it is turned off."""
    on = bool(state.params()["projector"])
    was = st.session_state.get("lesson_projector_was", False)
    st.session_state["lesson_projector_was"] = on
    st.html(LESSON_CSS)
    if on:
        st.set_page_config(initial_sidebar_state="collapsed")
        st.html(PROJECTOR_CSS)
    elif was:
        st.set_page_config(initial_sidebar_state="expanded")
    return on


def _go(part: int) -> None:
    state.update(part=part)


def header() -> str:
    """The title, the parts (a control that jumps to one) and the projector switch; the current part's key."""
    p = state.params()
    st.title("Lesson: the paper's three claims")
    left, right = st.columns([3, 1], vertical_alignment="center")
    with left:
        key = state.show("lesson_part", int(p["part"]))
        st.segmented_control("Part", list(range(1, len(LESSON_PARTS) + 1)), key=key, required=True,
                             format_func=lambda k: f"{k} · {PART_NAMES[LESSON_PARTS[k - 1]]}",
                             on_change=lambda: _go(int(st.session_state[key])), label_visibility="collapsed")
    with right:
        toggle = state.show("lesson_projector", bool(p["projector"]))
        st.toggle("Projector mode", key=toggle, help="Larger fonts and the sidebar collapsed, for a room",
                  on_change=lambda: state.update(projector=int(st.session_state[toggle])))
    return LESSON_PARTS[int(p["part"]) - 1]


def chart(fig: go.Figure, name: str) -> None:
    """A lesson chart (larger text in projector mode) with its CSV download."""
    if state.params()["projector"]:   # the axes' and legend's own sizes: Streamlit's chart theme sets them
        fig.update_xaxes(tickfont_size=PROJECTOR_FONT, title_font_size=PROJECTOR_FONT + 1)
        fig.update_yaxes(tickfont_size=PROJECTOR_FONT, title_font_size=PROJECTOR_FONT + 1)
        fig.update_layout(legend_font_size=PROJECTOR_FONT)
    page.chart(fig, name, key=name.replace("-", "_"))


def model_names() -> list[str]:
    """Models A and B of the session (the study's side shows those it holds)."""
    p = state.params()
    return list(dict.fromkeys(name for name in (p.get("a"), p.get("b")) if name))


@guarded("The claim's verdict")
def claim_heading(report: StudyReport, key: str) -> None:
    """The claim, its verdict on the study, and what the paper says against what mimi measured."""
    claim = claim_of(report.claims, key)
    st.subheader(f"Claim ({key}): {QUESTIONS[key]}")
    st.markdown(f":{VERDICT_BADGES[claim.verdict]}-badge[on these models: {claim.verdict}] "
                f"{study_text(report, key)}")


@guarded("The study's chart")
def study_side(report: StudyReport, key: str) -> None:
    """Claim ``key`` on the study's average for models A and B, and what its values are."""
    names = model_names()
    st.markdown(f"##### All {report.params['images']['count']} images of the study")
    lines, counts = figures_lesson.study_lines(report, key, names)
    if not lines:
        st.info(f"The study holds no comparison of {' and '.join(names)} for this claim (they are not among its "
                f"models, or their attacks landed together on fewer than 2 images); the claim's rows are above.")
    else:
        shown = " / ".join(map(str, counts))
        conf = f"{report.confidence:.0%}"
        note = {"a": f"mean over the {shown} images each attack landed on; bars: {conf} t interval across images "
                     f"(it covers the images, the pairs drawn and the contexts)",
                "b": f"mean over the {shown} images both attacks landed on; bars: {conf} t interval across images "
                     f"(images, pairs drawn, contexts)",
                "c": f"pooled over the {shown} images both attacks landed on; bars: {conf} delete-one-image "
                     f"jackknife interval (images, pairs drawn, contexts)"}[key]
        chart(figures_lesson.claim_figure(key, lines, "The study's average", note), f"lesson-{key}-study")
    st.caption(figures_lesson.CLAIMS[key][2] + ".")
    p = report.params
    if key == "b" and p.get("stop_rule") == "paper":
        utilities = ", ".join(f"{n} {report.models[n].utility.mean:.2f}" for n in names if n in report.models)
        st.caption(f"Equal strength here is the paper's rule: each attack lowered the true class's logit by "
                   f"{p['stop_utility']:g} to {p['stop_utility'] + p['tolerance']:g} once misclassified. It does not "
                   f"equalise the drop of v, which ΔJ⁽ᵐ⁾ sums to: its mean over each model's images is {utilities}.")


@guarded("Your image's chart")
def image_side(report: StudyReport, key: str) -> None:
    """Claim ``key`` on the sidebar's image, analysed as a job of the study, for models A and B."""
    sel = page.selection()
    st.markdown(f"##### Your image: {sel.title}")
    if not sel.input_space.has_labelled_gallery:
        st.info("The lesson follows the shipped Fashion-MNIST study: choose Fashion-MNIST models in the sidebar to "
                "see your image beside it.")
        return
    results = landed_results(sel, sel.models, report)
    if key == "c":
        chart(figures_lesson.image_among_study_figure(report, sel.models, results), "lesson-c-image")
        st.markdown(disentanglement_text(report, sel.models, results))
        return
    if not results:
        return
    p = next(iter(results.values())).profile
    note = (f"this image's estimate over the {p.pair_set_size} pairs of the {p.grid} grid, from {len(p.pairs)} pairs "
            f"drawn; bars: ±1.96 SE (it covers the {p.se_covers})")
    chart(figures_lesson.claim_figure(key, figures_lesson.image_lines(results, key), "Your image", note),
          f"lesson-{key}-image")
    st.markdown(image_text(key, results) + " One image is one draw; the claim rests on the study's average.")


@guarded("The introduction")
def intro_side(report: StudyReport) -> None:
    """The introduction: the idea and the study."""
    p = report.params
    counts = [m.count for m in report.models.values()]
    st.markdown(
        "Ren et al. (NeurIPS 2021) explain adversarial attacks with *interactions*: cut the image into a grid of "
        "cells; two cells interact when they are worth more, or less, to the network together than apart. The "
        "**order** r of an interaction is the share of the image present around the pair, from small contexts "
        "(r near 0: simple, local patterns) to the whole image (r = 1: complex, global ones).")
    st.markdown(
        f"mimi tested the paper's three claims on {len(report.models)} Fashion-MNIST models and the study's images, "
        f"{p['images']['description']}, with a {p['grid']} grid and v = {p['value']}. Every attack was stopped at **equal "
        f"strength**, the paper's rule: once the image was misclassified, when the true class's logit had fallen "
        f"by {p['stop_utility']:g} to {p['stop_utility'] + p['tolerance']:g} (within ε = {p['eps']:g} and "
        f"{p['steps']} steps). Images whose attack could not land are left out: {min(counts)} to {max(counts)} "
        f"images remain per model. Each next part shows one claim: left, the study's average; right, the same "
        f"analysis of the image chosen in the sidebar.")


@guarded("The study's verdicts")
def intro_chart(report: StudyReport) -> None:
    """The three verdicts of the study in one chart (the /study page's)."""
    chart(figures_study.claims_figure(report), "lesson-intro-study")


@guarded("Your image's attacks")
def intro_image(report: StudyReport) -> None:
    """The sidebar's image: what the study's attack did to it on models A and B."""
    sel = page.selection()
    st.markdown(f"##### Your image: {sel.title}")
    if not sel.input_space.has_labelled_gallery:
        st.info("The lesson follows the shipped Fashion-MNIST study: choose Fashion-MNIST models in the sidebar.")
        return
    for name, result in landed_results(sel, sel.models, report).items():
        st.markdown(outcome_text(name, result, sel.classes))


def navigation(key: str) -> None:
    """The link to the page that goes further, then Back and Next (the last part: the full study)."""
    part = LESSON_PARTS.index(key) + 1
    path, words = FURTHER[key]
    st.page_link(path, label=f"Go further: {words}", icon=":material/arrow_outward:")
    back, _, forward = st.columns([1, 2, 1])
    back.button("← Back", key="lesson_back", disabled=part == 1, on_click=_go, args=(part - 1,), width="stretch")
    if part < len(LESSON_PARTS):
        forward.button(f"Next: {PART_NAMES[LESSON_PARTS[part]]} →", key="lesson_next", type="primary",
                       on_click=_go, args=(part + 1,), width="stretch")
    elif forward.button("The full study →", key="lesson_study", type="primary", width="stretch"):
        st.switch_page("views/study.py")
