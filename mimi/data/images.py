"""Image input: defensive decoding of image files into a model input, per input space (no Streamlit).

``decode_upload(data, name, space=...)`` accepts PNG, JPEG, WebP and BMP files of at most
``MAX_UPLOAD_BYTES`` and ``MAX_PIXELS``, and returns a :class:`DecodedImage`: the image as
the model sees it, a (C, size, size) float tensor in [0, 1], plus notes on every conversion
made. Anything else raises :class:`UploadError` with a message for the user, never a traceback.

Conversion: first frame of an animation; palette and alpha images composited over white;
CMYK via RGB; 16-bit and float images scaled by their value range. Then the input space's path
(:mod:`mimi.data.input_spaces`):

- ``pad-resize`` (Fashion-MNIST, and any ``channels``/``size`` given without a space): grayscale
  (for a 1-channel model), inverted when the border is brighter than the middle (Fashion-MNIST has
  light objects on a black background), padded to a square with the border colour and resized with
  an area filter (:func:`to_model_input`);
- ``resize-crop`` (CIFAR-10, ImageNet): the shorter side resized to ``space.resize`` px with
  PIL's antialiased bilinear filter, the centre ``size`` x ``size`` cropped
  (:func:`resize_center_crop`, torchvision's ``Resize`` + ``CenterCrop`` on a PIL image).

:func:`gallery_images` lists the shipped gallery of a space; natural photos (``assets/gallery-natural``,
public domain / CC0, see its README) serve the colour profiles.
"""

from __future__ import annotations

import hashlib
import io
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from mimi.data.datasets import ASSETS_DIR, DatasetMissing, ImageSet, gallery, load_gallery
from mimi.data.input_spaces import InputSpace, input_space

MAX_UPLOAD_BYTES = 5 * 1024 * 1024      # also server.maxUploadSize in .streamlit/config.toml
MAX_PIXELS = 25_000_000                 # width x height read from the header before decoding
MIN_SIDE = 8                            # smaller images carry no shape to classify
ACCEPTED_FORMATS = {"PNG": "PNG", "JPEG": "JPEG", "MPO": "JPEG", "WEBP": "WebP", "BMP": "BMP"}
UPLOAD_EXTENSIONS = ("png", "jpg", "jpeg", "webp", "bmp")


class UploadError(ValueError):
    """The upload cannot be used; the message says why and what to do."""


@dataclass
class DecodedImage:
    """An upload converted to the model input, with what was done to it."""

    tensor: torch.Tensor          # (C, size, size) float32 in [0, 1]
    original_size: tuple[int, int]  # (width, height)
    file_format: str
    notes: list[str] = field(default_factory=list)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.tensor.numpy().tobytes()).hexdigest()

    def preview(self, scale: int = 8) -> np.ndarray:
        """Exactly what the model sees, enlarged ``scale`` times without smoothing, as uint8 (H, W[, 3])."""
        return enlarge(self.tensor, scale)


def enlarge(image: torch.Tensor, scale: int = 1) -> np.ndarray:
    """A model input (C, H, W) in [0, 1] as uint8 pixels, (H, W) for grayscale or (H, W, 3) in colour,
    each pixel repeated ``scale`` x ``scale`` times (no smoothing)."""
    array = (image.detach().cpu().clamp(0, 1).numpy() * 255).round().astype(np.uint8)
    array = array[0] if array.shape[0] == 1 else array.transpose(1, 2, 0)
    return np.kron(array, np.ones((scale, scale) + (1,) * (array.ndim - 2), dtype=np.uint8))


def _open(data: bytes) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own limit follows
            image = Image.open(io.BytesIO(data))
    except (UnidentifiedImageError, Image.DecompressionBombError) as exc:
        if isinstance(exc, UnidentifiedImageError):
            raise UploadError("This file is not an image that mimi can read (its content is not PNG, JPEG, "
                              "WebP or BMP, whatever its name says).") from exc
        raise UploadError(f"This image is far too large to decode safely (limit {MAX_PIXELS / 1e6:.0f} "
                          f"megapixels).") from exc
    except Exception as exc:  # corrupt headers make PIL raise anything from SyntaxError to struct.error
        raise UploadError(f"This file could not be read as an image ({type(exc).__name__}).") from exc
    return image


def _to_float_array(image: Image.Image, notes: list[str]) -> np.ndarray:
    """Decode to (H, W, 3) float in [0, 1], compositing alpha over white."""
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        raw = np.asarray(image, dtype=np.float64)
        top = 65535.0 if mode.startswith("I;16") or raw.max(initial=0) > 255 else 255.0
        if mode == "F":
            lo, hi = float(np.nanmin(raw)), float(np.nanmax(raw))
            gray = (raw - lo) / (hi - lo) if hi > lo else np.zeros_like(raw)
            notes.append("Floating-point image: scaled from its value range to [0, 1].")
        else:
            gray = np.clip(raw, 0, top) / top
            notes.append(f"{16 if top > 255 else 32}-bit image: scaled to [0, 1].")
        gray = np.nan_to_num(gray)
        return np.repeat(gray[..., None], 3, axis=2)
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
        notes.append("Palette image: converted to colours.")
    elif mode == "CMYK":
        image = image.convert("RGB")
        notes.append("CMYK image: converted to RGB.")
    if image.mode in ("RGBA", "LA", "La", "RGBa", "PA"):
        rgba = np.asarray(image.convert("RGBA"), dtype=np.float64) / 255
        alpha = rgba[..., 3:4]
        if alpha.min() < 1:
            notes.append("Transparent areas were filled with white.")
        return rgba[..., :3] * alpha + (1 - alpha)
    return np.asarray(image.convert("RGB"), dtype=np.float64) / 255


def to_model_input(rgb: np.ndarray, channels: int = 1, size: int = 28,
                   notes: list[str] | None = None) -> torch.Tensor:
    """(H, W, 3) in [0, 1] -> (channels, size, size): grayscale, auto-invert, pad to square, area resize."""
    notes = notes if notes is not None else []
    image = rgb if channels == 3 else rgb @ np.array([0.299, 0.587, 0.114])[:, None]
    height, width = image.shape[:2]
    border = np.concatenate([image[0].reshape(-1), image[-1].reshape(-1),
                             image[:, 0].reshape(-1), image[:, -1].reshape(-1)])
    middle = image[height // 4: height - height // 4, width // 4: width - width // 4]
    if channels == 1 and border.mean() > 0.5 and border.mean() > middle.mean():
        image = 1 - image
        notes.append("Inverted: the background was light; Fashion-MNIST shows light objects on black.")
        border = 1 - border
    side = max(height, width)
    fill = float(np.median(border))
    square = np.full((side, side, image.shape[2]), fill)
    top, left = (side - height) // 2, (side - width) // 2
    square[top:top + height, left:left + width] = image
    if height != width:
        notes.append(f"Padded to a square ({side}x{side}) with the background colour.")
    pil = Image.fromarray((square * 255).round().astype(np.uint8).squeeze(2) if channels == 1
                          else (square * 255).round().astype(np.uint8))
    pil = pil.resize((size, size), Image.Resampling.BOX if side >= size else Image.Resampling.NEAREST)
    array = np.asarray(pil, dtype=np.float32) / 255
    array = array[None] if channels == 1 else array.transpose(2, 0, 1)
    if side != size:
        notes.append(f"Resized from {side}x{side} to {size}x{size} pixels.")
    return torch.from_numpy(np.ascontiguousarray(array))


def resize_center_crop(rgb: np.ndarray, resize: int, size: int, channels: int = 3,
                       notes: list[str] | None = None) -> torch.Tensor:
    """(H, W, 3) in [0, 1] -> (channels, size, size): shorter side to ``resize`` px (the longer one to
    floor(resize * long / short)), bilinear with PIL's antialiasing, then the centre ``size`` x ``size``
    (top = round((h - size) / 2), as torchvision's ``CenterCrop``)."""
    notes = notes if notes is not None else []
    height, width = rgb.shape[:2]
    short, long = min(height, width), max(height, width)
    new_short, new_long = resize, int(resize * long / short)
    new_w, new_h = (new_short, new_long) if width <= height else (new_long, new_short)
    pil = Image.fromarray((np.clip(rgb, 0, 1) * 255).round().astype(np.uint8))
    if (new_w, new_h) != (width, height):
        pil = pil.resize((new_w, new_h), Image.Resampling.BILINEAR)
        notes.append(f"Resized from {width}x{height} to {new_w}x{new_h} pixels (shorter side {resize}).")
    top, left = int(round((new_h - size) / 2.0)), int(round((new_w - size) / 2.0))
    if (new_w, new_h) != (size, size):
        pil = pil.crop((left, top, left + size, top + size))
        notes.append(f"Centre {size}x{size} cropped: the model sees only this square.")
    if channels == 1:
        pil = pil.convert("L")
    array = np.asarray(pil, dtype=np.float32) / 255
    array = array[None] if channels == 1 else array.transpose(2, 0, 1)
    return torch.from_numpy(np.ascontiguousarray(array))


def prepare(rgb: np.ndarray, space: "InputSpace", notes: list[str] | None = None) -> torch.Tensor:
    """(H, W, 3) in [0, 1] -> the input space's input (C, size, size), by its preprocessing path."""
    if space.preprocess == "resize-crop":
        return resize_center_crop(rgb, space.resize, space.size, space.channels, notes)
    return to_model_input(rgb, space.channels, space.size, notes)


def decode_upload(data: bytes, name: str = "upload", channels: int = 1, size: int = 28, *,
                  space: "InputSpace | str | None" = None) -> DecodedImage:
    """Decode an uploaded file into the model input; raises :class:`UploadError` with a user message.

    With ``space`` (a :class:`~mimi.data.input_spaces.InputSpace` or its name) the input is that
    input space's; otherwise (``channels``, ``size``) by the pad-resize path."""
    if isinstance(space, str):
        space = input_space(space)
    if space is not None:
        channels, size = space.channels, space.size
    draft = space.resize if space is not None else size
    if len(data) > MAX_UPLOAD_BYTES:
        raise UploadError(f"{name} is {len(data) / 2**20:.1f} MB; the limit is {MAX_UPLOAD_BYTES / 2**20:.0f} MB.")
    if not data:
        raise UploadError(f"{name} is empty.")
    image = _open(data)
    fmt = ACCEPTED_FORMATS.get(image.format or "")
    if fmt is None:
        raise UploadError(f"{name} is a {image.format or 'unknown'} file; upload PNG, JPEG, WebP or BMP.")
    width, height = image.size
    if width * height > MAX_PIXELS:
        if fmt != "JPEG":
            raise UploadError(f"{name} is {width}x{height} pixels ({width * height / 1e6:.0f} megapixels); the limit is "
                              f"{MAX_PIXELS / 1e6:.0f} megapixels. Shrink it first: the model only sees {size}x{size}.")
        image.draft("RGB", (max(draft * 8, 1), max(draft * 8, 1)))  # JPEG decodes at 1/2..1/8 scale
        if image.size[0] * image.size[1] > MAX_PIXELS:
            raise UploadError(f"{name} is {width}x{height} pixels; too large even at reduced scale.")
    if min(width, height) < MIN_SIDE:
        raise UploadError(f"{name} is only {width}x{height} pixels; upload an image of at least "
                          f"{MIN_SIDE}x{MIN_SIDE} pixels.")
    notes: list[str] = []
    if getattr(image, "n_frames", 1) > 1:
        image.seek(0)
        notes.append(f"Animated image: the first of its {image.n_frames} frames is used.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image.load()
            image = ImageOps.exif_transpose(image) or image
            rgb = _to_float_array(image, notes)
    except UploadError:
        raise
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise UploadError(f"{name} is truncated or corrupted and cannot be decoded ({str(exc)[:80]}).") from exc
    except Image.DecompressionBombWarning as exc:
        raise UploadError(f"{name} is too large to decode safely.") from exc
    tensor = prepare(rgb, space, notes) if space is not None else to_model_input(rgb, channels, size, notes)
    return DecodedImage(tensor, (width, height), fmt, notes)


# --------------------------------------------------------------------------- galleries
@dataclass(frozen=True)
class GalleryEntry:
    """One shipped gallery image as an input space's model sees it, with its true class when known."""

    image: torch.Tensor          # (C, size, size) in [0, 1]
    label: Optional[int]         # None: no class of the space fits; pages preset the model's prediction
    title: str


def gallery_images(space: "InputSpace | str", assets_dir: Path | None = None) -> list[GalleryEntry]:
    """The input space's gallery: Fashion-MNIST's 100 test images, or the natural photos of
    ``assets/gallery-natural`` (stored at 224x224, ImageNet's input: used as they are at that size, else
    brought to the input space's input by its preprocessing), labelled with the class its ``manifest.json`` gives for the space (if any)."""
    space = input_space(space) if isinstance(space, str) else space
    assets_dir = Path(assets_dir or ASSETS_DIR)
    if space.has_labelled_gallery:
        images, items = load_gallery(assets_dir), gallery(assets_dir)
        return [GalleryEntry(images.images[k], item.label, f"gallery #{k} ({item.class_name})")
                for k, item in enumerate(items)]
    folder = assets_dir / space.gallery
    manifest = json.loads((folder / "manifest.json").read_text())
    result = []
    for item in manifest["images"]:
        rgb = np.asarray(Image.open(folder / item["file"]).convert("RGB"), dtype=np.float64) / 255
        stored_input = rgb.shape[:2] == (space.size, space.size) and space.channels == 3
        image = torch.from_numpy(rgb.transpose(2, 0, 1).astype(np.float32)) if stored_input else prepare(rgb, space)
        result.append(GalleryEntry(image, item.get("labels", {}).get(space.name), item["title"]))
    return result


# --------------------------------------------------------------------------- local image folders
WNID_FILES = ("wnids.txt", "LOC_synset_mapping.txt")
IMAGE_SUFFIXES = {"." + e for e in UPLOAD_EXTENSIONS}


def _folder_classes(root: Path, folders: list[str], space: "InputSpace") -> dict[str, int]:
    """Class index of each class folder: an integer name is the index, a class name of the space its
    position; ImageNet wnids (n01440764, …) are ranked in the list of ``wnids.txt`` or
    ``LOC_synset_mapping.txt`` (first word per line, in index order) in ``root``, or among all 1000
    folders when every class has one (the standard index is the sorted order of the wnids)."""
    wnids = None
    for name in WNID_FILES:
        if (root / name).is_file():
            wnids = [line.split()[0] for line in (root / name).read_text().splitlines() if line.strip()]
            break
    if wnids is None and len(folders) == len(space.classes) and all(f.startswith("n") for f in folders):
        wnids = sorted(folders)
    names = {name: k for k, name in enumerate(space.classes)}
    mapping = {}
    for folder in folders:
        if folder.isdigit():
            mapping[folder] = int(folder)
        elif wnids is not None and folder in wnids:
            mapping[folder] = wnids.index(folder)
        elif folder in names:
            mapping[folder] = names[folder]
        else:
            raise ValueError(f"class folder {root / folder} is not a class index (0..{len(space.classes) - 1}), a "
                             f"{space.title} class name or a known wnid; wnids need {' or '.join(WNID_FILES)} in "
                             f"{root} (one wnid per line, in class order) or all {len(space.classes)} class folders")
        if not 0 <= mapping[folder] < len(space.classes):
            raise ValueError(f"class folder {root / folder}: index {mapping[folder]} is not in "
                             f"0..{len(space.classes) - 1}")
    return mapping


def load_image_folder(root: str | Path, space: "InputSpace", limit: Optional[int] = None):
    """A local labelled image folder (torchvision's ImageFolder layout: ``root/<class>/<image>``) as an
    :class:`mimi.data.datasets.ImageSet` of the input space's inputs, each file decoded by :func:`decode_upload`.

    Images are taken class by class in turn (the first file of every class, then the second, …), so
    ``limit`` keeps the classes balanced; they are held in memory as float32 (0.6 MB each at 224 px)."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetMissing(f"image folder {root} does not exist")
    folders = sorted(p.name for p in root.iterdir() if p.is_dir())
    if not folders:
        raise DatasetMissing(f"{root} has no class folders (expected {root}/<class>/<image files>)")
    mapping = _folder_classes(root, folders, space)
    files = {f: sorted(p for p in (root / f).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) for f in folders}
    order = [(f, files[f][k]) for k in range(max(map(len, files.values()))) for f in folders if k < len(files[f])]
    order = order[:limit] if limit else order
    if not order:
        raise DatasetMissing(f"{root}: the class folders hold no {', '.join(sorted(IMAGE_SUFFIXES))} files")
    images = []
    for folder, path in order:
        try:
            images.append(decode_upload(path.read_bytes(), str(path), space=space).tensor)
        except UploadError as exc:
            raise ValueError(f"cannot use {path}: {exc}") from exc
    labels = torch.tensor([mapping[folder] for folder, _ in order])
    return ImageSet(torch.stack(images), labels, tuple(space.classes))
