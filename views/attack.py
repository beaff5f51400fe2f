"""/attack: PGD on the selected image against models A and B, side by side, under one protocol."""

import streamlit as st

from mimi.figures import attack as figures_attack
from mimi.ui import attacking, compute, page, state

st.title("Attack")
st.markdown("PGD takes many small steps that raise the network's loss, each time projecting the change δ back "
            "into the budget ε. Pixels live in [0, 1]; ε = 0.1 lets each pixel move by a tenth of the full range. "
            "Two protocols compare models. **Equal strength** (the paper's) stops each model's attack once it has "
            "lowered v, the value of the true class, by the same U: the models lose the same utility, and the robust "
            "one needs a larger change δ. **Equal ε** gives each model the same budget: the standard model loses far "
            "more than the robust one.")
sel = page.selection()
attacking.protocol_control()
attacking.attack_form()
p = state.params()
st.caption(attacking.attack_summary(p) + f" · image: {sel.title}")

attacks = {}
for col, name in zip(page.model_columns(sel), sel.models):
    with col, compute.friendly_errors(f"The attack on {name}"):
        result = attacking.attack(sel, name)           # a batch of one image: index 0 everywhere
        attacks[name] = result
        clean_class, adv_class = int(result.clean_pred[0]), int(result.adv_pred[0])
        m1, m2 = st.columns(2)
        m1.metric(*attacking.outcome(result),
                  help="Equal strength: landed when v fell by U (within the band). Equal ε, untargeted: whether the "
                       "prediction changed; targeted: whether it is the target class.")
        m2.metric("Attacking utility", f"{float(result.utility[0]):.2f}", help="v(x) − v(x') for the true class")
        st.markdown(f"Prediction after the attack: **{sel.classes[adv_class]}** "   # a line that wraps, never cut
                    + ("(unchanged)" if adv_class == clean_class else f"(was {sel.classes[clean_class]})"))
        st.caption(f"after {int(result.steps_used[0])} of {result.params['steps']} steps · v = {p['value']}")
        st.caption(f"‖δ‖∞ = {float(result.linf_norm[0]):.3f} · ‖δ‖₂ = {float(result.l2_norm[0]):.3f}")
        problem = attacking.landing_problem(name, result)
        if problem:
            st.warning(problem, icon=":material/block:")
landed = {name: result for name, result in attacks.items() if not attacking.landing_problem(name, result)}
for name, result in landed.items():   # the page's full width: three panels a reader can see on a 1000-px page
    with compute.friendly_errors(f"The images of the attack on {name}"):
        page.chart(figures_attack.attack_figure(sel.image.numpy(), result.x_adv[0].cpu().numpy(),
                                         attacking.perturbation_scale(result),
                                         title=f"clean x · attacked x′ · δ = x′ − x for {name}",
                                         attack=attacking.attack_note({name: result})),
                   f"attack-images-{name}", {name: result}, key=f"attack_img_{name}")
for col, (name, result) in zip(st.columns(len(sel.models)), landed.items()):
    with col, compute.friendly_errors(f"The confidences of {name}"):
        page.chart(figures_attack.confidence_figure(sel.classes, result.clean_topk[0], result.clean_topk_prob[0],
                                             result.adv_topk[0], result.adv_topk_prob[0], sel.label,
                                             title=f"{name}<br><sup>the 5 most probable classes; "
                                                   "before or after the attack</sup>"),
                   f"attack-confidence-{name}", key=f"attack_conf_{name}")
if attacks:
    st.caption(attacking.attack_caption(p, attacks))
