"""/pairs: click a cell to see its interactions with every other cell, clean / adversarial / difference."""

import streamlit as st

from mimi.core.players import parse_grid_spec
from mimi.figures import maps as figures_maps
from mimi.ui import attacking, compute, defenses, forms, interactions, page, state
from mimi.ui.params import band_ratios, heatmap_request

MAP_KEY = "pairs_map"
SEEN_KEY = "pairs_seen_selection"

st.title("Pixel pairs")
st.markdown("**Click any cell** of the maps (or pick one below). Each map shows I(cell, j) for every other cell j, "
            "averaged over the orders of the chosen band: green cells cooperate with the chosen cell for the true "
            "class, purple cells work against it. The last column is the clean map minus the attacked one.")
sel = page.selection()
p = state.params()
rows, cols = parse_grid_spec(p["grid"])
n = rows * cols

# A click on the map arrives as a selection event in the next run: apply it once.
event = st.session_state.get(MAP_KEY)
points = list(getattr(getattr(event, "selection", None), "points", None) or [])
if points:
    clicked = (int(round(points[0]["y"])), int(round(points[0]["x"])))
    if st.session_state.get(SEEN_KEY) != clicked and 0 <= clicked[0] < rows and 0 <= clicked[1] < cols:
        st.session_state[SEEN_KEY] = clicked
        state.update(cell=clicked[0] * cols + clicked[1])
cell = int(p["cell"]) if 0 <= int(p["cell"]) < n else (rows // 2) * cols + cols // 2


def chosen_cell() -> dict:
    """The cell of the form's row and column."""
    return {"cell": int(st.session_state["form_row"]) * cols + int(st.session_state["form_col"])}


with st.form("pairs_form"):
    c1, c2, c3, c4 = st.columns([2, 1.3, 1, 1])
    with c1:
        forms.choice_field("band", st.radio, horizontal=True)
    with c2:
        forms.choice_field("ratio", st.select_slider)
        forms.number_field("hsamples")
    with c3:   # they show the cell that a click, the URL or a new grid chose
        st.number_input("cell row", 0, rows - 1, key=state.show("form_row", cell // cols))
    with c4:
        st.number_input("cell column", 0, cols - 1, key=state.show("form_col", cell % cols))
    forms.submit("Show", ("band", "ratio", "hsamples"), chosen_cell, type="primary")
interactions.interaction_form(expanded=False)
attacking.protocol_control()
p = state.params()
request = heatmap_request(p, cell, band_ratios(p["band"], float(p["ratio"])))
st.caption(f"cell ({cell // cols}, {cell % cols}) of {request.grid} · orders r ∈ {list(request.ratios)} pooled · "
           f"{request.samples} samples per order · "
           f"{interactions.interaction_summary(p)} · attack: {attacking.attack_summary(p)}")

attacks = attacking.landed_attacks(sel, sel.models)   # a warning in place of each model's maps where it did not land
with compute.friendly_errors("The pair heatmaps"):
    maps = {name: interactions.heatmap(sel, name, request, attacking.adversarial_image(result))
            for name, result in attacks.items()}
    if maps:
        title = f"Interactions of cell ({cell // cols}, {cell % cols}) with every other cell"
        page.chart(figures_maps.pair_maps_figure(maps, sel.image.numpy(), title=title,
                                                 attack=attacking.attack_note(attacks)),
                   "pair-heatmap", maps, key=MAP_KEY, on_select="rerun")
        st.caption(attacking.attack_caption(p, attacks))
        defenses.warn_if_weak(defenses.attack_utilities(attacks),
                              "its adversarial and difference maps can barely differ from the clean one")
st.caption(f"{figures_maps.UNCERTAIN_MARK} on a cell of these maps and the Shapley maps: its value is within 2 "
           "standard errors of zero, so the random contexts (permutations, for φ) leave its sign open; hover for value "
           "± SE, or take both from the CSV (error, within_2se).")

st.subheader("Shapley values")
st.markdown("φ(i): each cell's fair share of the network's evidence for the true class (all orders together).")
with compute.friendly_errors("The Shapley maps"):
    shap = {name: interactions.shapley(sel, name) for name in sel.models}
    page.chart(figures_maps.shapley_figure(shap, sel.image.numpy()), "shapley", shap, key="shapley")
