"""Defensive decoding of uploaded images into a model input (no Streamlit here).

``decode_upload(data, name)`` accepts PNG, JPEG, WebP and BMP files of at most
``MAX_UPLOAD_BYTES`` and ``MAX_PIXELS``, and returns a :class:`DecodedImage`: the image as
the model sees it, a (C, size, size) float tensor in [0, 1], plus notes on every conversion
made. Anything else raises :class:`UploadError` with a message for the user, never a traceback.

Conversion: first frame of an animation; palette and alpha images composited over white;
CMYK via RGB; 16-bit and float images scaled by their value range; then grayscale (for a
1-channel model), inverted when the border is brighter than the middle (Fashion-MNIST has light
objects on a black background), padded to a square with the border colour and resized with
an area filter.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

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
        array = (self.tensor.clamp(0, 1).numpy() * 255).round().astype(np.uint8)
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


def decode_upload(data: bytes, name: str = "upload", channels: int = 1, size: int = 28) -> DecodedImage:
    """Decode an uploaded file into the model input; raises :class:`UploadError` with a user message."""
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
        image.draft("RGB", (max(size * 8, 1), max(size * 8, 1)))  # JPEG decodes at 1/2..1/8 scale
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
    tensor = to_model_input(rgb, channels, size, notes)
    return DecodedImage(tensor, (width, height), fmt, notes)
