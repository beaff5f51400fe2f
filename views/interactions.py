"""/interactions: mean I^(m) per order, clean vs adversarial, and ΔJ^(m), for models A and B."""

import streamlit as st

from mimi import figures
from mimi.ui import compute, page, state

st.title("Interactions by order")
st.markdown("Each bar averages the interaction Δv(i, j, S) of neighbouring cells over random contexts S of m "
            "cells. Low orders (left) are simple, local patterns; high orders (right) need almost the whole "
            "image. **Blue**: clean image. **Red**: after the attack. Error bars: ± one standard error.")
sel = page.selection()
page.interaction_form()
p = state.params()
st.caption(f"{page.interaction_summary(p)} · attack: {page.attack_summary(p)} (change it on the Attack page) "
           f"· image: {sel.title}")

with compute.friendly_errors("The order profiles"):
    slot = st.empty()
    profiles = {}
    for name in sel.models:
        adv = page.adversarial_image(page.attack(sel, name))
        profiles[name] = page.profile(sel, name, adv)
        if len(profiles) < len(sel.models):  # first chart early; the full figure replaces it
            slot.plotly_chart(figures.order_profile_figure(profiles), config=page.PLOTLY_CONFIG)
    with slot.container():
        page.chart(figures.order_profile_figure(profiles), "order-profile", profiles, key="profile")
    page.chart(figures.delta_j_figure(profiles), "delta-j", key="delta_j")
    st.markdown("**How to read ΔJ⁽ᵐ⁾.** The attack lowers v(N), the value of the true class. That drop splits "
                "exactly into the orders: ΔJ⁽ᵐ⁾ is the part carried by interactions of order m. For a standard "
                "model most of it sits at high orders; an adversarially trained model gives the attack much "
                "less to destroy there.")

st.subheader("Check: the decomposition adds up")
st.markdown("On a small grid every coalition can be evaluated, so the identity "
            "v(N) − v(∅) = Σᵢ φ⁽⁰⁾(i) + Σₘ Σᵢ≠ⱼ J⁽ᵐ⁾(i, j) can be verified exactly.")
specs = state.param_specs()
with st.form("decomposition_form"):
    options = list(specs["dgrid"].choices)
    dgrid = st.selectbox(specs["dgrid"].label, options, index=options.index(p["dgrid"]), key="form_dgrid",
                         help=f"{specs['dgrid'].help}. Bound: {specs['dgrid'].bounds_text()}.")
    if st.form_submit_button("Decompose"):
        state.update(dgrid=dgrid)
for col, name in zip(page.model_columns(sel), sel.models):
    with col, compute.friendly_errors(f"The decomposition for {name}"):
        adv = page.adversarial_image(page.attack(sel, name))
        result = page.decomposition(sel, name, p["dgrid"], adv)
        page.chart(figures.decomposition_figure(result.parts(bands=3), result.total,
                                                title=f"clean: v(N) − v(∅) = {result.total:.4f}"),
                   f"decomposition-{name}", {name: result}, key=f"decomp_{name}")
        st.caption(f"n = {result.n} cells, {result.forward_passes:,} forward passes. Residual (exact minus the sum "
                   f"of its parts): {result.residual:.1e}.")
        if result.attack_utility is not None:
            bands = result.parts(bands=3)
            adv_bands = result.parts(bands=3, adversarial=True)
            st.markdown(f"Attacking utility Δv(N) = **{result.attack_utility:.3f}**: single cells "
                        f"{result.attack_single:.3f}, " + ", ".join(
                            f"{name_c.replace('orders ', '')} {clean_v - adv_v:.3f}"
                            for (name_c, clean_v), (_, adv_v) in zip(bands[1:], adv_bands[1:])) + ".")
