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
        result = page.attack(sel, name)           # a batch of one image: index 0 everywhere
        clean_class, adv_class = int(result.clean_pred[0]), int(result.adv_pred[0])
        m1, m2 = st.columns(2)
        m1.metric("Outcome", "fooled" if bool(result.success[0]) else "resisted",
                  help="Untargeted: the prediction is no longer the true class. Targeted: it is the target class. "
                       "Stop at utility: the utility reached the threshold.")
        m2.metric("Attacking utility", f"{float(result.utility[0]):.2f}", help="v(x) − v(x') for the true class")
        st.markdown(f"Prediction after the attack: **{sel.classes[adv_class]}** "   # a line that wraps, never cut
                    + ("(unchanged)" if adv_class == clean_class else f"(was {sel.classes[clean_class]})"))
        st.caption(f"after {int(result.steps_used[0])} of {p['steps']} steps · v = {p['value']}")
        scale = float(p["eps"]) if p["norm"] == "linf" else float(result.linf_norm[0])
        page.chart(figures.attack_figure(sel.image.numpy(), result.x_adv[0].cpu().numpy(), scale),
                   f"attack-images-{name}", {name: result}, key=f"attack_img_{name}")
        page.chart(figures.confidence_figure(sel.classes, result.clean_topk[0], result.clean_topk_prob[0],
                                             result.adv_topk[0], result.adv_topk_prob[0], sel.label,
                                             title="The 5 most probable classes<br>"
                                                   "<sup>before or after the attack</sup>"),
                   f"attack-confidence-{name}", key=f"attack_conf_{name}")
        st.caption(f"‖δ‖∞ = {float(result.linf_norm[0]):.3f} · "
                   f"‖δ‖₂ = {float(result.l2_norm[0]):.3f}")
