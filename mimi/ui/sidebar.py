"""The sidebar every page shares: models A and B (grouped by input space), the image (the input space's gallery
or an upload, shown as the model sees it), device and compute status."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import streamlit as st
import torch

from mimi.core.games import predict
from mimi.data.datasets import FMNIST_CLASSES
from mimi.data.images import MAX_UPLOAD_BYTES, UPLOAD_EXTENSIONS, UploadError, decode_upload, enlarge
from mimi.data.input_spaces import DEFAULT_INPUT_SPACE, InputSpace, card_input_space, input_space
from mimi.models import registry, zoo
from mimi.models.cards import zoo_dir
from mimi.ui import compute, state
from mimi.ui.gate import content_key

PER_CLASS = 10
PREVIEW_PIXELS = 168    # the preview's side: 28 px x 6, 32 px x 5, 224 px as it is


@dataclass
class Selection:
    """What the pages work on: one image (C, H, W) in [0, 1], its label, and the models to compare."""

    image: torch.Tensor
    label: int
    title: str
    image_key: str          # content hash of the image tensor
    models: list[str]       # model A then B (one entry if the input space has a single model)
    device: str
    input_space: InputSpace   # the one models A and B share
    classes: tuple[str, ...]  # model A's class names


def preview_scale(image: torch.Tensor) -> int:
    return max(1, PREVIEW_PIXELS // image.shape[-1])


def _gallery_picker(values: dict) -> tuple[torch.Tensor, int, str]:
    """Fashion-MNIST's gallery: a class, its ten thumbnails, and one of them (a new class starts at its first)."""
    images = compute.gallery()
    index = int(values["img"])
    start = index // PER_CLASS * PER_CLASS
    st.selectbox("Class", range(len(FMNIST_CLASSES)), format_func=lambda c: FMNIST_CLASSES[c],
                 key=state.show("sb_class", index // PER_CLASS),
                 on_change=state.commit(lambda: {"img": st.session_state["sb_class"] * PER_CLASS}))
    st.image([enlarge(images.images[start + k], 2) for k in range(PER_CLASS)],
             caption=[str(k + 1) for k in range(PER_CLASS)], width=40, output_format="PNG")
    st.pills("Image of this class", list(range(1, PER_CLASS + 1)), key=state.show("sb_pick", index - start + 1),
             required=True, on_change=state.commit(lambda: {"img": start + int(st.session_state["sb_pick"]) - 1}))
    label = int(images.labels[index])
    return images.images[index], label, f"gallery #{index} ({FMNIST_CLASSES[label]})"


def _label_picker(image: torch.Tensor, key: str, models: list[str], dev: str, classes: tuple[str, ...],
                  what: str) -> int:
    """The true class of an image the gallery cannot name: preset to model A's prediction."""
    predicted = 0
    if models:
        try:
            net, _ = compute.model(models[0], dev, str(zoo_dir()))
            predicted = int(predict(net, image[None])[0][0])
        except ValueError as exc:  # corrupt weights: the pages say so; the class preset stays 0
            st.caption(f"No prediction preset: {exc}")
    label = st.selectbox(f"True class of {what}", range(len(classes)), index=predicted,
                         format_func=lambda c: classes[c], key=key,
                         help="The attack pushes the model away from this class. Preset: model A's prediction.")
    if models:
        st.caption(f"Preset to {models[0]}'s prediction ({classes[predicted]}): set the true class if it is wrong.")
    return int(label)


def _natural_picker(values: dict, space: InputSpace, models: list[str], dev: str,
                    classes: tuple[str, ...]) -> tuple[torch.Tensor, int, str]:
    """The input space's photos (public domain / CC0, see assets/gallery-natural), as thumbnails and pills."""
    items = compute.input_space_gallery(space.name)
    index = int(values["img"]) if int(values["img"]) < len(items) else 0
    st.image([enlarge(item.image) for item in items], caption=[str(k + 1) for k in range(len(items))], width=44,
             output_format="PNG")
    key = state.show(f"sb_photo_{space.name}", index + 1)
    st.pills("Photo", list(range(1, len(items) + 1)), key=key, required=True,
             on_change=state.commit(lambda: {"img": int(st.session_state[key]) - 1}))
    item = items[index]
    if item.label is not None and item.label < len(classes):
        return item.image, item.label, f"gallery: {item.title} ({classes[item.label]})"
    label = _label_picker(item.image, f"sb_label_{space.name}_{index}", models, dev, classes, "this photo")
    return item.image, label, f"gallery: {item.title}"


def _upload_picker(models: list[str], dev: str, space: InputSpace,
                   classes: tuple[str, ...]) -> Optional[tuple[torch.Tensor, int, str]]:
    file = st.file_uploader(f"PNG, JPEG, WebP or BMP, at most {MAX_UPLOAD_BYTES // 2**20} MB",
                            type=list(UPLOAD_EXTENSIONS), key="sb_upload")
    if file is None:
        st.info("Upload an image, or switch back to the gallery.")
        return None
    try:
        decoded = decode_upload(file.getvalue(), file.name, space=space)
    except UploadError as exc:
        st.error(str(exc), icon=":material/block:")
        return None
    for note in decoded.notes:
        st.caption(f"• {note}")
    label = _label_picker(decoded.tensor, f"sb_label_{space.name}_{decoded.sha256[:12]}", models, dev, classes,
                          "the upload")
    return decoded.tensor, label, f"upload {file.name}"


def _by_input_space(available: list[str]) -> dict[str, list[str]]:
    """The models by input space, in the zoo's order."""
    groups: dict[str, list[str]] = {}
    for name in available:
        groups.setdefault(card_input_space(compute.zoo_card(name)).name, []).append(name)
    return groups


def _model_pickers(values: dict, available: list[str]) -> tuple[list[str], InputSpace]:
    """Models A and B of one input space (chosen first when the models span several): a model B of
    another input space (from the URL, or left from before a switch) is replaced by one of A's."""
    if not available:
        st.error("The model zoo is empty: train the models with `mimi train` (see the README).")
        return [], input_space(DEFAULT_INPUT_SPACE)
    groups = _by_input_space(available)
    current_a = values.get("a") if values.get("a") in available else zoo.default_models(available)[0]
    chosen_space = card_input_space(compute.zoo_card(current_a)).name
    if len(groups) > 1:
        def first_models() -> dict:
            """A new dataset starts at its own default models A and B."""
            a, b = zoo.default_models(groups[st.session_state["sb_input_space"]])
            return {"a": a, "b": b}

        st.selectbox(
            "Dataset", list(groups), key=state.show("sb_input_space", chosen_space), on_change=state.commit(first_models),
            format_func=lambda n: f"{input_space(n).title} · {len(groups[n])} model{'s' * (len(groups[n]) > 1)}",
            help="Models A and B are compared on one image, so they share an input space: input size, "
                 "channels and classes.")
    names = groups[chosen_space]
    chosen = []
    for key, title in (("a", "Model A"), ("b", "Model B")):
        current = values.get(key) if values.get(key) in names else zoo.default_models(names)[key == "b"]
        if current is None:
            continue
        state.update(**{key: current})   # a model B of another input space is replaced here
        widget = state.show(f"sb_model_{key}", current)
        st.selectbox(title, names, key=widget, help=compute.zoo_card(current).get("description", ""),
                     on_change=state.commit(lambda key=key, widget=widget: {key: st.session_state[widget]}))
        chosen.append(current)
    return list(dict.fromkeys(chosen)), input_space(chosen_space)


STATUS_REFRESH_S = 2.0


@st.fragment(run_every=STATUS_REFRESH_S)
def _compute_status(dev: str) -> None:
    """The server's compute gate now, redrawn every STATUS_REFRESH_S seconds (other sessions' work
    starts and ends while this page stands still)."""
    status = compute.gate().status()
    st.caption(f"Device **{dev}** · torch threads {torch.get_num_threads()} · computations running "
               f"{status.running}/{status.slots}, queued {status.queued}, cached results {status.cached}")


def render() -> Optional[Selection]:
    """Draw the sidebar; the selection, or None when there is no usable image or model yet."""
    values = state.params()
    dev = compute.device()
    with st.sidebar:
        st.subheader("Models")
        problem = registry.problem()
        if problem:
            st.error(f"Your registered models are not listed: {problem}", icon=":material/error:")
        models, space = _model_pickers(values, compute.zoo_names())
        state.follow_input_space(space)
        classes = tuple(compute.zoo_card(models[0]).get("classes") or space.classes) if models else space.classes
        st.subheader("Image")
        st.segmented_control("Source", ["gallery", "upload"], key=state.show("sb_source", values["src"]),
                             required=True, label_visibility="collapsed",
                             format_func={"gallery": ":material/photo_library: Gallery",
                                          "upload": ":material/upload: Upload"}.get,
                             on_change=state.commit(lambda: {"src": st.session_state["sb_source"]}))
        if values["src"] == "upload":
            picked = _upload_picker(models, dev, space, classes)
        elif space.has_labelled_gallery:
            picked = _gallery_picker(values)
        else:
            picked = _natural_picker(values, space, models, dev, classes)
        if picked is not None:
            image, label, title = picked
            st.image(enlarge(image, preview_scale(image)),
                     caption=f"What the model sees: {image.shape[-2]}×{image.shape[-1]} "
                     f"{'grayscale' if image.shape[0] == 1 else 'colour'}, true class {classes[label]}",
                     width=preview_scale(image) * image.shape[-1], output_format="PNG")
        _compute_status(dev)
    for note in state.notices():
        st.warning(note)
    if picked is None or not models:
        return None
    image, label, title = picked
    return Selection(image, label, title, content_key(image), models, dev, space, classes)
