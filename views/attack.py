"""/attack: PGD on the selected image against models A and B, side by side."""

import streamlit as st

from mimi import figures
from mimi.ui import compute, page, state

st.title("Attack")
st.markdown("PGD takes many small steps that raise the network's loss, each time projecting the change δ back "
            "into the budget ε. Pixels live in [0, 1]; ε = 0.1 lets each pixel move by a tenth of the full range.")
sel = page.selection()
page.attack_form()
p = state.params()
st.caption(page.attack_summary(p) + f" · image: {sel.title}")

for col, name in zip(page.model_columns(sel), sel.models):
    with col, compute.friendly_errors(f"The attack on {name}"):
        result = page.attack(sel, name)
        k = lambda arr: arr[0]  # noqa: E731  (batch of one)
        clean_class, adv_class = int(k(result.clean_pred)), int(k(result.adv_pred))
        verdict = "fooled" if bool(k(result.success)) else "resisted"
        m1, m2, m3 = st.columns(3)
        m1.metric("Outcome", verdict, help="Untargeted: the prediction is no longer the true class. Targeted: it "
                  "is the target class. Stop at utility: the utility reached the threshold.")
        m2.metric("Attacking utility", f"{float(k(result.utility)):.2f}",
                  help=f"v(x) − v(x') for the true class, v = {p['value']}")
        m3.metric("Prediction", sel.classes[adv_class], delta=None if adv_class == clean_class
                  else f"was {sel.classes[clean_class]}", delta_color="off")
        page.chart(figures.attack_figure(sel.image.numpy(), k(result.x_adv), float(p["eps"]) if p["norm"] == "linf"
                                         else float(abs(k(result.perturbation)).max())),
                   f"attack-images-{name}", {name: result}, key=f"attack_img_{name}")
        page.chart(figures.confidence_figure(sel.classes, k(result.clean_topk), k(result.clean_topk_prob),
                                             k(result.adv_topk), k(result.adv_topk_prob), sel.label,
                                             title="Top-5 confidence before and after"),
                   f"attack-confidence-{name}", key=f"attack_conf_{name}")
        st.caption(f"{int(k(result.steps_used))} steps used · ‖δ‖∞ = {float(k(result.linf_norm)):.3f} · "
                   f"‖δ‖₂ = {float(k(result.l2_norm)):.3f}")
