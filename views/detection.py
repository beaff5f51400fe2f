"""/detection: ML-LOO's leave-one-out statistic on this image, and clean-vs-adversarial ROCs over the gallery."""

import streamlit as st

from mimi.figures import defenses as figures_defenses
from mimi.ui import attacking, compute, defenses, interactions, page, state

st.title("Detection: what ML-LOO sees")
st.markdown(
    r"""
**ML-LOO** (Yang et al. 2019) flags an input when its feature attributions are unusually spread out. On mimi's
players (the grid cells), the leave-one-out attribution of cell i is $a_i = v(N) - v(N \setminus \{i\})$: the drop
of the value when that cell alone is replaced by the baseline, for the class the model predicts (a detector does
not know the true label). The detector's statistic is the interquartile range of the $a_i$ over the cells.

**Why it is about high orders.** $a_i$ is the marginal contribution of cell i at the largest context. From the
marginal-contribution property of the multi-order interactions,
$a_i = \varphi^{(0)}(i) + \sum_{m=0}^{n-2} \mathbb{E}_{j \neq i}\, I^{(m)}(i, j)$: every order counts fully, while
the Shapley value weighs order m by $(n-1-m)/n$, next to nothing at the highest orders. Below, a detector built on
high-order interactions is set against one built on low orders: read the intervals before reading a difference
as a finding.
"""
)
measured = st.container()   # the paper's claim against the gallery's numbers, once they are in
sel = page.selection()
interactions.interaction_form(expanded=False)
p = state.params()
st.caption(f"{interactions.interaction_summary(p)} · attack: {attacking.attack_summary(p, 'eps')} (Attack page; "
           f"detection studies attacks that change the prediction, so this page always attacks at equal ε) · image: "
           f"{sel.title}")

st.subheader("This image")
with compute.friendly_errors("The leave-one-out maps"):
    attacks = {name: attacking.attack(sel, name, "eps") for name in sel.models}
    maps = {name: defenses.leave_one_out(sel, name, attacking.adversarial_image(result))
            for name, result in attacks.items()}
    page.chart(figures_defenses.loo_figure(maps), "loo-maps", maps, key="loo")
    st.caption("Each map: a_i of every cell for the input's predicted class, on one colour scale per model. Exact: "
               "n + 1 forward passes per input, no sampling, so no error bars.")
    defenses.warn_if_weak(defenses.attack_utilities(attacks),
                          "its adversarial map can barely differ from the clean one", hint=defenses.EQUAL_EPS_HINT)

st.subheader("Over the gallery: clean vs adversarial")
defenses.gallery_count_form("detection")
with compute.friendly_errors("The detection study"):
    names = sel.models + [n for n in compute.zoo_names()
                          if n not in sel.models and defenses.precomputed("detection", n, defenses.settings(p))]
    every_image = st.toggle("Every image, also those whose prediction the attack did not change (default: ML-LOO's "
                            "protocol, the clean image classified correctly and its prediction changed)",
                            **state.keep("detection_every_image", False))
    studies, sources = {}, {}
    for name in names:
        study, live = defenses.detection(sel, name, successful_only=not every_image)
        studies[name] = study
        sources[name] = defenses.source_text(study, live, int(p['images']))
    page.chart(figures_defenses.roc_figure(studies), "detection-roc", studies, key="roc")
    page.chart(figures_defenses.auc_figure(studies), "detection-auc", key="auc")
    st.caption(defenses.sources_caption(sources) + " A study is computed now when no precomputed one has the "
               "session's grid, pair set, baseline, value function and attack (the Attack page's PGD, untargeted).")
    st.markdown("**What these numbers say.** AUC = P(score of x′ > score of x) + ½ P(tie): 0.5 is chance. "
                "Intervals: 95% percentile bootstrap over images, each image's clean and adversarial scores "
                "resampled together.")
    for name, study in studies.items():
        c = study.high_minus_low
        verdict = ("excludes 0" if c["low"] > 0 or c["high"] < 0 else "includes 0: no resolved difference")
        st.markdown(f"- {study.summary()}. The interval of high − low {verdict}.")
    with measured:
        st.markdown(defenses.detection_against_paper(studies))
