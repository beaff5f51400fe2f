"""/defenses: the whole zoo side by side: accuracy, normalized order profiles of interaction strength, D^(m),
and (on request) the order profiles and ΔJ of the selected image; the unified view."""

import streamlit as st

from mimi.figures import attack as figures_attack
from mimi.figures import defenses as figures_defenses
from mimi.figures import profiles as figures_profiles
from mimi.ui import attacking, compute, defenses, disentanglement, interactions, page, state
from mimi.ui.params import attack_request

st.title("Defenses: one explanation for many")
st.markdown("Ren et al. argue that very different defenses work for the same reason. Each of their claims below, "
            "with what mimi measures on the zoo's models over the gallery images of the charts further down, whether "
            "it agrees or not (±1 SE). Detection and recovery have pages of their own (Detection, Recovery).")
claims = st.empty()   # the paper's claims now; with mimi's numbers once they are in
claims.markdown("\n".join(f"- {text}" for text in defenses.PAPER_DEFENSES.values()))
sel = page.selection()
p = state.params()
names = page.comparable_models(sel)   # the models of the selection's input space
cards = [compute.zoo_card(name) for name in names]
page.chart(figures_attack.accuracy_figure(cards) if sel.input_space.name == "fashion-mnist"
           else figures_attack.accuracy_figure(cards, title=f"{sel.input_space.title} accuracy recorded in the cards (the "
                                               "Models page says on which images)"),
           "zoo-accuracy", key="zoo_accuracy")
st.dataframe([{"model": c["name"], "recipe": c.get("training", {}).get("recipe", ""),
               "clean": c.get("evaluation", {}).get("clean_accuracy"),
               "PGD-20": c.get("evaluation", {}).get("pgd20_accuracy"),
               "description": c.get("description", "")} for c in cards], hide_index=True)
interactions.interaction_form(expanded=False)
p = state.params()
st.caption(f"{interactions.interaction_summary(p)} · image: {sel.title}")

st.subheader("Interaction strength: low orders against high orders")
st.markdown("For each image and order m, the strength s⁽ᵐ⁾ = mean over pairs of |I⁽ᵐ⁾(i, j)| (bias-corrected). "
            "**Normalized order profile**: the share of each order in the sum over the orders shown (shares sum "
            "to 1), pooled over the images. *Cutout and AT rely on low orders* predicts a larger low-order share "
            "and a smaller high-order share than standard training; *dropout lowers interaction strength* "
            "predicts a smaller total. Error bars: ±1 SE over images (delete-one-image jackknife for shares).")
with compute.friendly_errors("The zoo's interaction strength"):
    strengths, curves, sources = {}, {}, {}
    for name in names:
        strengths[name], curves[name], live = defenses.strength(sel, name)
        sources[name] = strengths[name].source
    page.chart(figures_defenses.strength_share_figure(strengths), "zoo-strength-share", strengths,
               key="zoo_strength_share")
    page.chart(figures_defenses.strength_bands_figure(strengths), "zoo-strength-bands", key="zoo_strength_bands")
    st.caption(defenses.sources_caption(sources) + " A model is computed now (over the gallery images setting) "
               "when no precomputed study has the session's grid, pair set, orders, baseline and value function.")
    reference = defenses.reference_model(names)
    st.markdown(f"**What the data says** (each model minus {reference}; SE of the difference of independent "
                f"estimates):\n" + "\n".join(f"- {defenses.strength_reading(strengths[reference], strengths[name])}"
                                              for name in names if name != reference))
    page.chart(figures_profiles.disentanglement_figure(curves), "zoo-disentanglement", curves, key="zoo_dis")
    count = min(len(c.per_image) for c in curves.values())
    st.caption(disentanglement.disentanglement_band_text(count))
    measured = {**defenses.PAPER_DEFENSES, **defenses.strength_against_paper(strengths, reference)}
    measured["disentanglement"] = (defenses.disentanglement_against_paper(curves, reference, count)
                                   or measured["disentanglement"])
    claims.markdown("\n".join(f"- {text}" for text in measured.values()))

st.subheader("The zoo on this image")
attacking.protocol_control()
p = state.params()
st.caption(f"attack: {attacking.attack_summary(p)} (its settings: Attack page)")
if st.toggle("Compute the order profiles and ΔJ of every zoo model on this image (about 2 s per model)",
             **state.keep("defenses_image", False)):
    attacks = attacking.landed_attacks(sel, names)   # a warning in place of each model that did not land
    with compute.friendly_errors("The zoo's order profiles"):
        # the first rounds: one chart each
        profiles, _ = interactions.profiles(sel, attacks, lambda *_: None, refine=False)
        if profiles:
            note = attacking.attack_note(attacks)
            refs = compute.gallery_references(list(profiles), attack_request(p).options())
            page.chart(figures_profiles.order_profile_figure(profiles, references=refs, attack=note),
                       "zoo-order-profile", profiles, key="zoo_profile")
            page.chart(figures_profiles.delta_j_figure(profiles, references=refs, attack=note), "zoo-delta-j",
                       key="zoo_delta_j")
            st.caption(f"{attacking.attack_caption(p, attacks)} {compute.reference_caption(refs)}")
            defenses.warn_if_weak(defenses.attack_utilities(attacks), defenses.DELTA_J_TOO_WEAK)
