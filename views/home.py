"""Home: what mimi shows and why, the way into the lesson, and the key terms with their formulas."""

import streamlit as st

from mimi.batch.study import STUDY_DIR
from mimi.ui import compute
from mimi.ui import study as study_ui

st.title("mimi: why do adversarial attacks work?")
st.markdown(
    """
A tiny, carefully chosen change to an image, invisible to you, can make a neural network
confidently wrong. This is an **adversarial attack**. mimi lets you watch *what the attack
changes inside the network's reasoning*.

The idea (Ren et al., NeurIPS 2021) is to treat the image as a **team of players**: cut it into a
grid of cells and ask how the cells *cooperate* to produce the network's answer. Some
cooperations are **simple**: two neighbouring cells make sense together even when most of the
image is hidden (a collar, an edge). Others are **complex**: they only matter when almost the
whole image is present. The size of the context needed is the **order** of an interaction.

The paper's three claims, which the pages let you check on these models, with error bars:
1. Attacks mostly destroy **high-order** (complex, global) interactions.
2. **Adversarially trained** models lose much less there.
3. Robust models rely on more **category-specific, stable low-order** patterns: they are
   *disentangled*, and that is what makes them hard to fool.

"""
)

with compute.friendly_errors("Reading the shipped study"):
    st.markdown(study_ui.findings(study_ui.report(STUDY_DIR)))

st.subheader("A guided lesson (10 minutes)")
st.markdown("One claim per step, for a class or for yourself: each claim on the study's average over its images, "
            "beside the same chart for the image you choose in the sidebar, with what the numbers support and "
            "what they do not. A projector mode enlarges the text, and the last step leads to the full study.")
st.page_link("views/lesson.py", label="Start the lesson: the paper's three claims, measured", icon=":material/school:")

st.subheader("Key terms")
st.markdown("**Player.** One cell of an n-cell grid over the image; N = {1, …, n}. A coalition S ⊆ N keeps its "
            "cells and replaces all others by a baseline (the average image). The network's output for the true "
            "class y on that masked image is the value")
st.latex(r"v(S) = \log \frac{p(y \mid x_S)}{1 - p(y \mid x_S)}")
st.markdown("**Interaction of a pair.** How much more cells i and j are worth together than apart, in a context S:")
st.latex(r"\Delta v(i,j,S) = v(S\cup\{i,j\}) - v(S\cup\{i\}) - v(S\cup\{j\}) + v(S)")
st.markdown("**Order m.** The size of the context. The m-order interaction averages over contexts of m cells; "
            "mimi labels orders by r = m/(n−2), from 0 (alone) to 1 (the whole image):")
st.latex(r"I^{(m)}(i,j) = \mathbb{E}_{S \subseteq N\setminus\{i,j\},\ |S| = m}\ \Delta v(i,j,S)")
st.markdown("**Attacking utility.** How much the attack lowered the value of the true class, x' = x + δ. It splits "
            "exactly into single cells and pairs at every order; ΔJ⁽ᵐ⁾ is the share of order m:")
st.latex(r"v(N\mid x) - v(N\mid x') = \sum_i \Delta\varphi^{(0)}(i) + \sum_{m=0}^{n-2} \sum_{i\neq j} "
         r"\Delta J^{(m)}(i,j)")   # two lines: one would overflow a 1000-px page
st.latex(r"\Delta J^{(m)}(i,j) = \tfrac{n-1-m}{n(n-1)}\,\big[I^{(m)}(i,j\mid x) - I^{(m)}(i,j\mid x')\big]")
st.markdown("**Disentanglement.** Whether the contexts of one order agree in sign (a stable, category-specific "
            "pattern, D near 1) or cancel out (D near 0), over images and pairs:")
st.latex(r"D^{(m)} = \frac{\mathbb{E}_{x,(i,j)}\ \big|\mathbb{E}_S\ \Delta v(i,j,S)\big|}"
         r"{\mathbb{E}_{x,(i,j)}\ \mathbb{E}_S\ \big|\Delta v(i,j,S)\big|}")
st.markdown("**Shapley value.** A cell's fair share of v(N) − v(∅), averaged over all orders of arrival:")
st.latex(r"\varphi(i) = \sum_{S \subseteq N\setminus\{i\}} \frac{|S|!\,(n-|S|-1)!}{n!}\,"
         r"\big[v(S\cup\{i\}) - v(S)\big]")
st.caption("Images: Fashion-MNIST (Zalando, MIT licence), 28×28 grayscale. Models: a small CNN trained normally, "
           "with PGD adversarial training, with TRADES, with Cutout and with dropout. Every number is estimated by sampling "
           "contexts; error bars are one standard error. Source: J. Ren et al., “A Unified Game-Theoretic "
           "Interpretation of Adversarial Robustness”, NeurIPS 2021.")
