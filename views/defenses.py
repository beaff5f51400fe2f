"""/defenses: the whole zoo side by side: accuracy, order profiles, ΔJ and D^(m), and the unified view."""

import streamlit as st

from mimi import figures
from mimi.ui import compute, page, state

st.title("Defenses: one explanation for many")
st.markdown(
    """
Ren et al. argue that very different defenses work for the same reason:
- **Adversarial training** (PGD-AT, TRADES) and **Cutout** keep discriminative *low-order* interactions and
  suppress fragile *high-order* ones, which are exactly what attacks exploit.
- **Detection** methods (ML-LOO, rank-based) catch inputs whose most sensitive, highest-order components
  changed.
- **Dropout** lowers interaction strength overall.

Below, every model of the zoo on the same image and attack settings.
"""
)
sel = page.selection()
p = state.params()
names = page.comparable_models(sel)   # the models of the selection's dataset profile
cards = [compute.zoo_card(name) for name in names]
page.chart(figures.accuracy_figure(cards), "zoo-accuracy", key="zoo_accuracy")
st.dataframe([{"model": c["name"], "recipe": c.get("training", {}).get("recipe", ""),
               "clean": c.get("evaluation", {}).get("clean_accuracy"),
               "PGD-20": c.get("evaluation", {}).get("pgd20_accuracy"),
               "description": c.get("description", "")} for c in cards], hide_index=True)
page.interaction_form(expanded=False)
p = state.params()
st.caption(f"{page.interaction_summary(p)} · attack: {page.attack_summary(p)} (Attack page) · image: {sel.title} · "
           f"D⁽ᵐ⁾ over {page.gallery_batch_text(int(p['images']))}, {p['dsamples']} samples per "
           f"order (Disentanglement page)")

with compute.friendly_errors("The zoo's order profiles"):
    profiles = {}
    for name in names:
        profiles[name] = page.profile(sel, name, page.adversarial_image(page.attack(sel, name)))
    refs = compute.gallery_references(names, page.attack_kwargs(p))
    page.chart(figures.order_profile_figure(profiles, references=refs), "zoo-order-profile", profiles,
               key="zoo_profile")
    page.chart(figures.delta_j_figure(profiles, references=refs), "zoo-delta-j", key="zoo_delta_j")
    st.caption(compute.reference_caption(refs))

with compute.friendly_errors("The zoo's disentanglement"):
    curves = {name: page.disentanglement(sel, name, int(p["images"])) for name in names}
    page.chart(figures.disentanglement_figure(curves), "zoo-disentanglement", curves, key="zoo_dis")
    st.caption(page.disentanglement_band_text(int(p["images"])))
