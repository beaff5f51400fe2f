"""/disentanglement: D^(m) over gallery images for any zoo models, bias-corrected, with 95% bands over images."""

import streamlit as st

from mimi.figures import profiles as figures_profiles
from mimi.ui import compute, defenses, disentanglement, forms, interactions, page, state

st.title("Disentanglement")
st.markdown("For each order m: do the contexts S agree on the sign of a pair's interaction? "
            "D⁽ᵐ⁾ = Σ |I⁽ᵐ⁾(i, j)| / Σ E_S |Δv(i, j, S)|, both sums over the images and the pairs: "
            "near 1 the contexts push the same way (a stable, category-specific pattern); near 0 they cancel out. "
            "The chart shows D for the models and images chosen here, with its uncertainty: check the bands before "
            "reading a difference between two curves as a finding.")
measured = st.container()   # the paper's claim against these images' numbers, once they are in
MODELS_KEY, MODELS_WIDGET = "dis_models", "form_dis_models"

sel = page.selection()
available = page.comparable_models(sel)
chosen = [m for m in st.session_state.get(MODELS_KEY, sel.models) if m in available] or sel.models


def keep_models() -> dict:
    """Keep the models chosen in the form for the next runs (they are not a URL parameter)."""
    st.session_state[MODELS_KEY] = st.session_state[MODELS_WIDGET] or sel.models
    return {}


with st.form("disentanglement_form"):
    st.multiselect("models", available, key=state.show(MODELS_WIDGET, chosen),   # a row of its own:
                   help="model A and B by default; add any zoo model")              # names stay readable
    c2, c3, c4 = st.columns(3)
    with c2:
        forms.number_field("images")
    with c3:
        forms.number_field("dsamples")
    with c4:
        forms.number_field("dpcount")   # its default fits the grid (mimi.ui.state.PAIR_COUNTS)
    forms.submit("Compute", ("images", "dsamples", "dpcount"), keep_models, type="primary")
interactions.interaction_form(expanded=False)
p = state.params()
st.caption(f"{disentanglement.gallery_batch_text(int(p['images']))}, each with its own label as the target · "
           f"{disentanglement.disentanglement_summary(p)}")

with compute.friendly_errors("The disentanglement curves"):
    curves = {name: disentanglement.disentanglement(sel, name, int(p["images"])) for name in chosen}
    page.chart(figures_profiles.disentanglement_figure(curves), "disentanglement", curves, key="disentanglement")
    st.caption(disentanglement.disentanglement_band_text(int(p["images"])))
    claim = defenses.disentanglement_against_paper(curves, defenses.reference_model(list(curves)), int(p["images"]))
    if claim:
        with measured:
            st.markdown(claim + " The Defenses and Study pages show D over more images (their precomputed "
                        "studies), so with narrower bands.")
