"""/recovery: how much of the attack is undone by restoring the clean pixels of a few cells."""

import streamlit as st

from mimi.figures import defenses as figures_defenses
from mimi.ui import attacking, compute, defenses, interactions, page, state
from mimi.ui.params import shapley_request

st.title("Recovery: undoing the attack cell by cell")
st.markdown(
    r"""
mimi's operational measure of how recoverable an adversarial example is:

1. Rank the cells by how much the attack changed their Shapley value, $|\varphi_i(x) - \varphi_i(x')|$, largest
   first (both images on the same sampled permutations).
2. $x'_k$ is the adversarial image with the **clean pixels of the k top-ranked cells restored**.
3. $R(k) = \dfrac{v(x') - v(x'_k)}{v(x') - v(x)}$ is the fraction of the attacking utility undone by those k
   cells ($v$: the value of the true class; $R(0) = 0$, $R(n) = 1$).
4. The **recoverability** $\rho$ is the area under $R$ over $k/n \in [0, 1]$: 1 when one cell undoes the whole
   attack, ½ for a straight line.

The dotted curve restores the cells in a random order instead: the gap between the two shows how well the
Shapley change locates the attack.
"""
)
measured = st.container()   # the paper's claim against the gallery's numbers, once they are in
sel = page.selection()
interactions.interaction_form(expanded=False)
p = state.params()
shapley = shapley_request(p)
st.caption(f"grid {shapley.grid}, baseline {shapley.baseline}, v = {shapley.value}, {shapley.samples} permutation "
           f"pairs for the Shapley values (Pixel pairs page), seed {shapley.seed} · attack: "
           f"{attacking.attack_summary(p, 'eps')} (Attack page; this page always attacks at equal ε, as its precomputed "
           f"gallery studies did) · image: {sel.title}")

st.subheader("This image")
with compute.friendly_errors("The recovery curves"):
    curves = {name: defenses.recovery(sel, name, attacking.adversarial_image(attacking.attack(sel, name, "eps")))
              for name in sel.models}
    page.chart(figures_defenses.recovery_figure(curves), "recovery-image", curves, key="recovery_image")
    st.markdown("\n".join(f"- **{name}**: attacking utility {c.attack_utility:.2f}; ρ = {c.recoverability:.3f} "
                          f"restoring by Shapley change, {c.random_recoverability:.3f} in random order"
                          + (" (unreliable: utility below 1, see below)." if c.attack_utility < defenses.WEAK_UTILITY
                             else ".") for name, c in curves.items()))
    defenses.warn_if_weak({n: float(c.attack_utility) for n, c in curves.items()},
                          "R(k) divides by that drop, so ρ is unstable there", gallery="The gallery below",
                          hint=defenses.EQUAL_EPS_HINT)

st.subheader("Over the gallery")
defenses.gallery_count_form("recovery")
with compute.friendly_errors("The recovery study"):
    names = sel.models + [n for n in compute.zoo_names()
                          if n not in sel.models and defenses.precomputed("recovery", n, defenses.settings(p))]
    studies, sources = {}, {}
    for name in names:
        study, live = defenses.gallery_study("recovery", sel, name)
        studies[name] = study
        sources[name] = defenses.source_text(study, live, int(p['images']))
    page.chart(figures_defenses.recovery_figure(studies), "recovery-gallery", studies, key="recovery_gallery")
    st.caption(defenses.sources_caption(sources) + " Images whose attacking utility is below 1 are left out "
               "(the ratio is unstable there). Bands: ±1 SE over the images; each image has its own seed, so they "
               "cover the attack's start, the Shapley permutations that set the ranking and the random orders.")
    st.markdown("\n".join(f"- {study.summary()}." for study in studies.values()))
    reference = defenses.reference_model(names)
    for name in [n for n in names if n != reference]:
        a, b = studies[reference].areas["ranked"], studies[name].areas["ranked"]
        st.markdown(f"- ρ of {name} − ρ of {reference}: "
                    f"{defenses.contrast(a['mean'], a['se'], b['mean'], b['se'])}.")
    claim = defenses.recovery_against_paper(studies, reference)
    if claim:
        with measured:
            st.markdown(claim + " Over the gallery, details below.")
