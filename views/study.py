"""/study: a study folder's report: the paper's figures across images, its three claims with their verdicts,
and every image, one click from the single-image pages. Reads folders only (``mimi study run`` makes them)."""

import numpy as np
import streamlit as st

from mimi.batch.study import STUDY_DIR
from mimi.batch.study.claims import PREREGISTERED, verdict_rule
from mimi.figures import study as figures_study
from mimi.figures.report_page import MODEL_HEADER, image_rows, model_rows, settings_text
from mimi.ui import compute, page, state
from mimi.ui import study as study_ui

st.title("Study")
st.markdown("One image's chart is an anecdote; the paper's claims are about many images. A *study* runs PGD, the "
            "order profiles, ΔJ⁽ᵐ⁾, the Shapley map and D⁽ᵐ⁾ on every image for every model "
            "(`mimi study run`, see the README); this page reads its folder and shows the figures with intervals "
            "across images, and the paper's three claims, each with an effect, an interval and a verdict.")
folder = st.text_input("Study folder", **state.keep("study_folder", str(STUDY_DIR)),
                       help="a folder made by `mimi study run --out DIR`; by default the study shipped with mimi")

with compute.friendly_errors("Reading the study"):
    report = study_ui.report(folder)
    status = report.status
    st.caption(f"{settings_text(report.params)} · jobs: {status.done} done, {status.failed} failed, {status.left} left"
               + (f", {len(status.skipped)} (image, model) pairs skipped" if status.skipped else ""))
    for note in report.notes:
        st.warning(note, icon=":material/info:")

    st.subheader("The paper's claims")
    for claim in report.claims:
        st.markdown(f"**({claim.key})** {claim.statement} → **{claim.verdict}** (v = {report.params['value']})")
    if report.params.get("stop_rule") == "paper" and report.models:
        medians = ", ".join(f"{name} {float(np.median(m.utility.per_image)):.2f}" for name, m in report.models.items())
        st.caption(f"Equal strength here is the paper's rule: every image counted lost "
                   f"{report.params['stop_utility']:g} to {report.params['stop_utility'] + report.params['tolerance']:g} "
                   f"of its true class's logit once misclassified. The drop of v = {report.params['value']}, which "
                   f"ΔJ⁽ᵐ⁾ sums to, is not equalised by that rule; its median per model: {medians}. The row beside "
                   f"(b) that divides the high orders' ΔJ by it compares shares instead.")
    weak = study_ui.weak_utility_note(report)
    if weak:
        st.caption(weak)
    st.dataframe(study_ui.claim_table(report.claims), hide_index=True,
                 width="stretch", **study_ui.CLAIM_TABLE)
    st.caption(study_ui.MORE_COLUMNS)
    if report.twin_claims:
        st.markdown(f"The same tests with **v = {report.twin_value}**, computed from the same forward passes: "
                    + "; ".join(f"({c.key}) **{c.verdict}**" for c in report.twin_claims) + ".")
        with st.expander(f"Every row with v = {report.twin_value}"):
            st.dataframe(study_ui.claim_table(report.twin_claims), hide_index=True,
                         width="stretch", **study_ui.CLAIM_TABLE)
    with st.expander("The registered tests: statistic, unit, bands, comparisons"):
        for key, text in PREREGISTERED.items():
            st.markdown(f"**({key})** {text}")
        st.markdown(verdict_rule(report.confidence))
    figs = figures_study.study_figures(report)
    page.chart(figs["claims"], "study-claims", {"report": report}, key="study_claims")

    st.subheader("Across images")
    st.dataframe([dict(zip(MODEL_HEADER, row)) for row in model_rows(report)], hide_index=True, width="stretch",
                 **study_ui.MODEL_TABLE)
    page.chart(figs["interactions"], "study-interactions", key="study_interactions")
    if "squared_change" in figs:
        page.chart(figs["squared_change"], "study-squared-change", key="study_squared_change")
    page.chart(figs["delta_j"], "study-delta-j", key="study_delta_j")
    page.chart(figs["disentanglement"], "study-disentanglement", key="study_disentanglement")

    st.subheader("Images")
    st.caption("Each row is one job (an image and a model) whose attack landed at U. *Open* shows the image in the "
               "single-image pages with the study's settings and the job's seed, so they recompute that job (gallery "
               "images only). ✗ marks a clean prediction that was already wrong (the true class: column *class*, "
               "hidden at first). "
               + study_ui.MORE_COLUMNS)
    names = list(report.models)
    rows = []
    for row in image_rows(report):
        other = next((n for n in names if n != row["model"]), None)
        name = study_ui.class_namer(report, row["model"])
        rows.append({"image": row["image"], "model": row["model"],
                     "class": row["class"] or (name(row["label"]) if row["label"] >= 0 else "?"),
                     "prediction → after PGD": f"{name(row['prediction'])}"   # ✗: wrong before the attack
                                               + (" ✗" if 0 <= row["label"] != row["prediction"] else "")
                                               + f" → {name(row['adv_prediction'])}",
                     "steps": row["steps"], "utility": row["utility"],
                     "S_high − S_low": row["squared_change_high_minus_low"],
                     "interactions": study_ui.image_link(report.params, "interactions", row["model"], other,
                                                         row["gallery_index"], row["seed"]),
                     "pairs": study_ui.image_link(report.params, "pairs", row["model"], other, row["gallery_index"],
                                                  row["seed"])})
    st.dataframe(rows, hide_index=True, width="stretch", key="study_images", **study_ui.IMAGE_TABLE)
    left_out = {name: m.not_landed for name, m in report.models.items() if m.not_landed}
    if left_out:
        with st.expander("Images left out: the attack did not land at U"):
            for name, images in left_out.items():
                st.markdown(f"**{name}** ({len(images)}): {', '.join(images)}")
