"""/models: every model (the shipped zoo and the registered ones) with its card, and how to add yours."""

import streamlit as st

from mimi.data.input_spaces import card_input_space, input_shape
from mimi.models import registry
from mimi.models.checkpoints import FORMATS
from mimi.ui import compute

st.title("Models")
st.markdown("The shipped zoo and the models registered in your registry share one namespace: every page, "
            "`mimi analyze --model NAME` and `mimi.models.zoo.load(NAME)` see them all. Models A and B are compared on one "
            "image, so the sidebar groups them by **input space** (input size, channels, classes).")
problem = registry.problem()
if problem:
    st.error(f"**The registry file cannot be read**, so only the shipped zoo is listed. {problem}",
             icon=":material/error:")

cards = [compute.zoo_card(name) for name in compute.zoo_names()]


def accuracy(card: dict, key: str) -> str:
    value = card.get("evaluation", {}).get(key)
    return f"{value:.2%}" if isinstance(value, (int, float)) else "–"


st.dataframe([{"model": c["name"], "from": "registry" if "registered" in c else "zoo",
               "dataset": card_input_space(c).title, "input": "×".join(map(str, input_shape(c))),
               "architecture": c["architecture"], "format": c.get("format") or "state-dict",
               "parameters": c.get("parameters"), "clean accuracy": accuracy(c, "clean_accuracy"),
               "measured on": c.get("evaluation", {}).get("data") or (
                   f"{c['evaluation']['split']} set, {c['evaluation']['n_images']:,} images"
                   if "n_images" in c.get("evaluation", {}) else "–")} for c in cards],
             hide_index=True, key="models_table",   # the columns that fit a 1000-px page; the rest: toolbar, CSV
             column_order=("model", "from", "dataset", "architecture", "clean accuracy"))
st.caption("Input, format, parameters and where the accuracy was measured: each model's card below, or the "
           "table's toolbar (Show/hide columns).")

for c in cards:
    space = card_input_space(c)
    with st.expander(f"{c['name']} · {space.title} · {c['architecture']}", icon=":material/memory:"):
        st.markdown(c.get("description") or "")
        fmt = c.get("format") or "state-dict"
        source = c.get("source") or f"assets/zoo/{c.get('weights', '')}"
        normalization = c.get("input", {})
        parameters = f"{c['parameters']:,}" if isinstance(c.get("parameters"), int) else "–"
        st.markdown(f"- **Input space**: {space.describe()}\n- **Format**: {FORMATS.get(fmt, fmt)}\n"
                    f"- **Source file**: `{source}`\n- **SHA-256**: `{c.get('sha256') or '–'}`\n"
                    f"- **Parameters**: {parameters}")
        if normalization.get("mean") is not None:
            st.markdown(f"- **Normalization** inside the model ({normalization.get('source')}): mean "
                        f"{normalization['mean']}, std {normalization['std']}")
        evaluation = c.get("evaluation")
        if evaluation:
            st.markdown("**Measured** (from the card; `mimi evaluate --update-card` writes it):")
            st.json(evaluation, expanded=False)
        else:
            st.caption("No accuracy measured yet: `mimi evaluate --model "
                       f"{c['name']} --data-dir DIR --update-card` records it.")

st.subheader("Add your own model")
st.markdown("Register a weights file from the command line; it appears here and in the sidebar's pickers. mimi reads "
            "weights without running code: plain state dicts (`.pt`/`.pth`, read with `weights_only=True`), "
            "safetensors, Madry `robustness` and RobustBench checkpoints. Pickles that need code are refused with "
            "a message saying how to convert them; TorchScript only with `--trust-code`, which this dashboard "
            "never sets.")
st.code("""mimi models add my-resnet --arch resnet18 --weights resnet18_linf_eps8.pt --dataset imagenet \\
    --note "Madry L-inf eps 8/255"
mimi models add my-wrn --arch wrn-28-10 --weights Standard.pt --dataset cifar10
mimi models check my-resnet          # loads it, checks its hash, classifies a gallery photo
mimi models list
mimi models convert model.pt --to model.safetensors --arch resnet18 --dataset imagenet
mimi evaluate --model my-wrn --data-dir ~/data/cifar10 --limit 1000 --update-card
mimi models remove my-resnet""", language="bash", wrap_lines=True)
st.caption(f"The registry is `{registry.registry_file()}` (set `MIMI_HOME` to use another folder). Architectures: "
           "torchvision's classifiers by name, `cifar-resnet18` and `wrn-DEPTH-WIDTH` in RobustBench's key layout, "
           "the zoo's `small-cnn`. Input spaces: fashion-mnist, cifar10, imagenet.")
