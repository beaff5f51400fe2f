"""/interactions: mean I^(m) per order, clean vs adversarial, and ΔJ^(m), for models A and B."""

import streamlit as st

from mimi.figures import profiles as figures_profiles
from mimi.ui import attacking, compute, defenses, forms, interactions, page, refine, state
from mimi.ui.params import attack_request

st.title("Interactions by order")
st.markdown("Each bar estimates the mean interaction I⁽ᵐ⁾(i, j) over the whole pair set (the chart's subtitle "
            "says which pairs), each pair's Δv(i, j, S) averaged over random contexts S of m other cells. Low "
            "orders (left) are simple, local patterns; high orders (right) need almost the whole image. "
            "**Blue**: clean image. **Red**: after the attack. Error bars: ± one standard error, covering every "
            "random choice (which pairs were drawn, which contexts).")
sel = page.selection()
interactions.interaction_form()
attacking.protocol_control()
p = state.params()
st.caption(f"{interactions.interaction_summary(p)} · attack: {attacking.attack_summary(p)} (its settings: Attack page) "
           f"· image: {sel.title}")

Y_AXES = {"own": "own scale per model", "shared": "one scale for all"}
shared_y = forms.instant_choice("yaxes", Y_AXES) == "shared"

attacks = attacking.landed_attacks(sel, sel.models)   # a warning in place of each model's charts where it did not land
with compute.friendly_errors("The order profiles"):
    slot, drawn = st.empty(), iter(range(10 ** 6))

    def draw(profiles, statuses):
        """The charts so far, redrawn after every round (the full figures with their downloads replace them)."""
        with slot.container():
            k = next(drawn)
            st.plotly_chart(figures_profiles.order_profile_figure(profiles, shared_y=shared_y),
                            config=page.PLOTLY_CONFIG, key=f"refining_profile_{k}")
            st.caption(interactions.refinement_lines(statuses))
            st.plotly_chart(figures_profiles.delta_j_figure(profiles), config=page.PLOTLY_CONFIG,
                            key=f"refining_delta_j_{k}")

    profiles, statuses = interactions.profiles(sel, attacks, draw)
    if profiles:
        note, caption = attacking.attack_note(attacks), attacking.attack_caption(p, attacks)
        refs = compute.gallery_references(list(profiles), attack_request(p).options())
        with slot.container():
            page.chart(figures_profiles.order_profile_figure(profiles, references=refs, shared_y=shared_y, attack=note),
                       "order-profile", profiles, key="profile")
            st.caption(interactions.refinement_lines(statuses))
            st.caption(f"{caption} {compute.reference_caption(refs)}")
        budget, high = float(p["budget"]), float(state.param_specs()["budget"].high)

        def more_time():
            refine.resume()
            state.update(budget=min(2 * budget, high))

        if budget < high:
            st.button(f"Refine {min(budget, high - budget):g} s more", icon=":material/add:", on_click=more_time,
                      help="raises the time budget (the settings' field shows it) and goes on adding rounds to every "
                           "chart on this page, keeping the rounds already computed: error bars shrink by about "
                           "1/√rounds")
        page.chart(figures_profiles.delta_j_figure(profiles, references=refs, attack=note), "delta-j", key="delta_j")
        st.caption(caption)
        st.markdown("**How to read ΔJ⁽ᵐ⁾.** The attack lowers v(N), the value of the true class. Summed over "
                    "all pairs of cells and all orders m = 0 … n−2, and added to the single cells' part, the ΔJ⁽ᵐ⁾ "
                    "make up that drop exactly; each bar is the part carried by order m. With the neighbour pair "
                    "set the bars are the share carried by neighbouring cells only. *The paper says* attacks mainly "
                    "affect high-order interactions (bars on the right); *on this image mimi measures*:")
        for name, profile in profiles.items():
            st.markdown(f"- {interactions.delta_j_reading(name, profile)}")
        defenses.warn_if_weak(defenses.attack_utilities(attacks), defenses.DELTA_J_TOO_WEAK)
st.subheader("Check: the decomposition adds up")
st.markdown("On a small grid every coalition can be evaluated, so the identity "
            "v(N) − v(∅) = Σᵢ φ⁽⁰⁾(i) + Σₘ Σᵢ≠ⱼ J⁽ᵐ⁾(i, j) can be verified exactly.")
with st.form("decomposition_form"):
    forms.choice_field("dgrid")
    forms.submit("Decompose", ("dgrid",))
for col, name in zip(page.model_columns(sel), sel.models):
    with col, compute.friendly_errors(f"The decomposition for {name}"):
        adv = attacking.adversarial_image(attacks[name]) if name in attacks else None   # not landed: clean only
        result = interactions.decomposition(sel, name, p["dgrid"], adv)
        page.chart(figures_profiles.decomposition_figure(result.parts(bands=3), result.total,
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
