"""/disentanglement: D^(m) over gallery images for any zoo models, bias-corrected, with 95% bands over images."""

import streamlit as st

from mimi import figures
from mimi.ui import compute, page, state

st.title("Disentanglement")
st.markdown("For each order m: do the contexts S agree on the sign of a pair's interaction? "
            "D⁽ᵐ⁾ = Σ |I⁽ᵐ⁾(i, j)| / Σ E_S |Δv(i, j, S)|, both sums over the images and the pairs: "
            "near 1 the contexts push the same way (a stable, category-specific pattern); near 0 they cancel out. "
            "*The paper's claim* (Ren et al., on ImageNet): adversarially trained models learn more "
            "disentangled low-order interactions. The chart shows D for the models and images chosen here, with "
            "its uncertainty: check the bands before reading a difference between two curves as a finding.")
sel = page.selection()
p = state.params()
specs = state.param_specs()
available = page.comparable_models(sel)
chosen = [m for m in st.session_state.get("dis_models", sel.models) if m in available] or sel.models
with st.form("disentanglement_form"):
    models = st.multiselect("models", available, default=chosen, key="form_dis_models",   # a row of its own:
                            help="model A and B by default; add any zoo model")       # names stay readable
    c2, c3, c4 = st.columns(3)
    with c2:
        images = st.number_input(specs["images"].label, 1, int(specs["images"].high), int(p["images"]),
                                 key="form_images", help=f"{specs['images'].help}. Bound: {specs['images'].bounds_text()}.")
    with c3:
        dsamples = st.number_input(specs["dsamples"].label, int(specs["dsamples"].low), int(specs["dsamples"].high),
                                   int(p["dsamples"]),
                                   key="form_dsamples", help=f"Bound: {specs['dsamples'].bounds_text()}.")
    with c4:
        dpcount = page.number_field("dpcount", p)   # its default fits the grid (mimi.ui.state.PAIR_COUNTS)
    if st.form_submit_button("Compute", type="primary"):
        state.update(images=int(images), dsamples=int(dsamples), dpcount=int(dpcount))
        st.session_state["dis_models"] = models or sel.models
        chosen = models or sel.models
page.interaction_form(expanded=False)
p = state.params()
st.caption(f"{page.gallery_batch_text(int(p['images']))}, each with its own label as the target · "
           f"{page.disentanglement_summary(p)}")

with compute.friendly_errors("The disentanglement curves"):
    curves = {name: page.disentanglement(sel, name, int(p["images"])) for name in chosen}
    page.chart(figures.disentanglement_figure(curves), "disentanglement", curves, key="disentanglement")
    st.caption(page.disentanglement_band_text(int(p["images"])))
