"""The sidebar every page shares: the image (gallery or upload), models A and B, device and compute status."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import streamlit as st
import torch

from mimi.data import FMNIST_CLASSES
from mimi.games import predict
from mimi.ui import compute, state
from mimi.ui.gate import content_key
from mimi.ui.uploads import MAX_UPLOAD_BYTES, UPLOAD_EXTENSIONS, UploadError, decode_upload

PER_CLASS = 10
PREVIEW_SCALE = 6


@dataclass
class Selection:
    """What the pages work on: one image (C, H, W) in [0, 1], its label, and the models to compare."""

    image: torch.Tensor
    label: int
    title: str
    image_key: str          # content hash of the image tensor
    models: list[str]       # model A then B (one entry if the zoo has a single model)
    device: str

    @property
    def classes(self) -> tuple[str, ...]:
        return FMNIST_CLASSES


def _enlarge(image: torch.Tensor, scale: int = PREVIEW_SCALE) -> np.ndarray:
    array = (image.clamp(0, 1).numpy()[0] * 255).round().astype(np.uint8)
    return np.kron(array, np.ones((scale, scale), dtype=np.uint8))


def _gallery_picker(values: dict) -> tuple[torch.Tensor, int, str]:
    images = compute.gallery()
    index = int(values["img"])
    klass = st.selectbox("Class", range(len(FMNIST_CLASSES)), index=index // PER_CLASS,
                         format_func=lambda c: FMNIST_CLASSES[c], key="sb_class")
    start = klass * PER_CLASS
    st.image([_enlarge(images.images[start + k], 2) for k in range(PER_CLASS)],
             caption=[str(k + 1) for k in range(PER_CLASS)], width=40, output_format="PNG")
    current = index - start + 1 if start <= index < start + PER_CLASS else 1
    pick = st.pills("Image of this class", list(range(1, PER_CLASS + 1)), default=current, key="sb_pick",
                    required=True)
    index = start + int(pick or 1) - 1
    state.update(img=index)
    label = int(images.labels[index])
    return images.images[index], label, f"gallery #{index} ({FMNIST_CLASSES[label]})"


def _upload_picker(models: list[str], dev: str) -> Optional[tuple[torch.Tensor, int, str]]:
    file = st.file_uploader(f"PNG, JPEG, WebP or BMP, at most {MAX_UPLOAD_BYTES // 2**20} MB",
                            type=list(UPLOAD_EXTENSIONS), key="sb_upload")
    if file is None:
        st.info("Upload an image, or switch back to the gallery.")
        return None
    try:
        decoded = decode_upload(file.getvalue(), file.name)
    except UploadError as exc:
        st.error(str(exc), icon=":material/block:")
        return None
    for note in decoded.notes:
        st.caption(f"• {note}")
    predicted = 0
    if models:
        try:
            net, _ = compute.model(models[0], dev, str(compute.zoo_dir()))
            predicted = int(predict(net, decoded.tensor[None])[0][0])
        except ValueError as exc:  # corrupt weights: the pages say so; the class preset stays 0
            st.caption(f"No prediction preset: {exc}")
    label = st.selectbox("True class of the upload", range(len(FMNIST_CLASSES)), index=predicted,
                         format_func=lambda c: FMNIST_CLASSES[c], key=f"sb_label_{decoded.sha256[:12]}",
                         help="The attack pushes the model away from this class. Preset: model A's prediction.")
    return decoded.tensor, int(label), f"upload {file.name}"


def _model_pickers(values: dict, available: list[str]) -> list[str]:
    if not available:
        st.error("The model zoo is empty: train the models with `mimi train` (see the README).")
        return []
    chosen = []
    for key, title in (("a", "Model A"), ("b", "Model B")):
        current = values.get(key) if values.get(key) in available else state.default_models(available)[key == "b"]
        if current is None:
            continue
        choice = st.selectbox(title, available, index=available.index(current), key=f"sb_model_{key}",
                              help=compute.zoo_card(current).get("description", ""))
        state.update(**{key: choice})
        chosen.append(choice)
    return list(dict.fromkeys(chosen))


def render() -> Optional[Selection]:
    """Draw the sidebar; the selection, or None when there is no usable image or model yet."""
    values = state.params()
    dev = compute.device()
    with st.sidebar:
        st.subheader("Models")
        models = _model_pickers(values, compute.zoo_names())
        st.subheader("Image")
        source = st.segmented_control("Source", ["gallery", "upload"], default=values["src"], key="sb_source",
                                      required=True, label_visibility="collapsed",
                                      format_func={"gallery": ":material/photo_library: Gallery",
                                                   "upload": ":material/upload: Upload"}.get)
        state.update(src=source or "gallery")
        picked = _gallery_picker(values) if values["src"] == "gallery" else _upload_picker(models, dev)
        if picked is not None:
            image, label, title = picked
            st.image(_enlarge(image), caption=f"What the model sees: {image.shape[-2]}×{image.shape[-1]} "
                     f"grayscale, true class {FMNIST_CLASSES[label]}", width=PREVIEW_SCALE * image.shape[-1],
                     output_format="PNG")
        status = compute.gate().status()
        st.caption(f"Device **{dev}** · torch threads {torch.get_num_threads()} · computations running "
                   f"{status.running}/{status.slots}, queued {status.queued}, cached results {status.cached}")
    for note in state.url_notes():
        st.warning(note)
    if picked is None or not models:
        return None
    image, label, title = picked
    return Selection(image, label, title, content_key(image), models, dev)
