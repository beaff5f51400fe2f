"""The upload decoder on crafted good and bad files: a conversion or an UploadError, never a traceback."""

from __future__ import annotations

import io
import struct
import time
import zlib

import numpy as np
import pytest
from PIL import Image

from mimi.data.images import MAX_UPLOAD_BYTES, UploadError, decode_upload


def encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def shirt(size: int = 56, dark_on_light: bool = True) -> Image.Image:
    """A filled rectangle in the middle: dark on white (like a photo) or light on black."""
    array = np.full((size, size), 255 if dark_on_light else 0, dtype=np.uint8)
    array[size // 4: 3 * size // 4, size // 4: 3 * size // 4] = 20 if dark_on_light else 230
    return Image.fromarray(array)


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def test_light_on_black_png_is_kept_and_resized_exactly():
    decoded = decode_upload(encode(shirt(56, dark_on_light=False), "PNG"), "shirt.png")
    x = decoded.tensor
    assert x.shape == (1, 28, 28) and x.dtype.__str__() == "torch.float32"
    assert float(x[0, 14, 14]) == pytest.approx(230 / 255, abs=1e-6)   # 2x2 box average of equal pixels
    assert float(x[0, 0, 0]) == 0.0
    assert decoded.file_format == "PNG"
    assert not any("Inverted" in note for note in decoded.notes)
    assert decoded.preview(4).shape == (112, 112)


def test_dark_on_white_photo_is_inverted_to_fashion_mnist_polarity():
    decoded = decode_upload(encode(shirt(56, dark_on_light=True), "JPEG", quality=95), "photo.jpg")
    assert any("Inverted" in note for note in decoded.notes)
    assert float(decoded.tensor[0, 14, 14]) > 0.8 and float(decoded.tensor[0, 1, 1]) < 0.1


def test_non_square_is_padded_with_the_background():
    array = np.zeros((20, 60), dtype=np.uint8)
    array[5:15, 20:40] = 255
    decoded = decode_upload(encode(Image.fromarray(array), "BMP"), "wide.bmp")
    assert decoded.tensor.shape == (1, 28, 28)
    assert float(decoded.tensor[0, :5].max()) == 0.0            # padding rows are background
    assert any("Padded" in note for note in decoded.notes)


@pytest.mark.parametrize("payload, message", [
    (b"this is not an image at all" * 10, "not an image"),
    (b"", "empty"),
    (b"%PDF-1.4 fake" + bytes(100), "not an image"),
])
def test_non_images_renamed_png_are_refused(payload, message):
    with pytest.raises(UploadError, match=message):
        decode_upload(payload, "fake.png")


def test_truncated_png_is_refused_with_a_message():
    data = encode(Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8)), "PNG")
    with pytest.raises(UploadError, match="truncated or corrupted"):
        decode_upload(data[: len(data) // 2], "cut.png")


def test_decompression_bomb_header_is_refused_before_decoding():
    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0)
    data = (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header)
            + png_chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + png_chunk(b"IEND", b""))
    start = time.perf_counter()
    with pytest.raises(UploadError, match="too large|megapixels"):
        decode_upload(data, "bomb.png")
    assert time.perf_counter() - start < 1.0


def test_huge_png_is_refused_and_huge_jpeg_is_decoded_at_reduced_scale():
    big = Image.new("L", (10000, 10000), 0)
    with pytest.raises(UploadError, match="10000x10000"):
        decode_upload(encode(big, "PNG"), "big.png")
    decoded = decode_upload(encode(big, "JPEG", quality=50), "big.jpg")
    assert decoded.tensor.shape == (1, 28, 28) and decoded.original_size == (10000, 10000)


def test_oversized_file_is_refused():
    with pytest.raises(UploadError, match="limit"):
        decode_upload(b"\x89PNG" + bytes(MAX_UPLOAD_BYTES), "huge.png")


def test_tiny_images_are_refused():
    with pytest.raises(UploadError, match="1x1"):
        decode_upload(encode(Image.new("L", (1, 1), 255), "PNG"), "dot.png")


def test_cmyk_jpeg_is_converted():
    rgb = shirt(40, dark_on_light=False).convert("RGB")
    decoded = decode_upload(encode(rgb.convert("CMYK"), "JPEG", quality=95), "cmyk.jpg")
    assert decoded.tensor.shape == (1, 28, 28)
    assert float(decoded.tensor[0, 14, 14]) > 0.7 and float(decoded.tensor[0, 0, 0]) < 0.1


def test_16_bit_png_is_scaled_by_its_range():
    array = np.zeros((28, 28), dtype=np.uint16)
    array[7:21, 7:21] = 65535
    decoded = decode_upload(encode(Image.fromarray(array), "PNG"), "deep.png")
    assert float(decoded.tensor[0, 14, 14]) == pytest.approx(1.0)
    assert float(decoded.tensor[0, 0, 0]) == 0.0
    assert any("16-bit" in note for note in decoded.notes)


def test_alpha_is_composited_over_white_then_inverted():
    rgba = np.zeros((32, 32, 4), dtype=np.uint8)
    rgba[8:24, 8:24] = (0, 0, 0, 255)                          # opaque black square, transparent elsewhere
    decoded = decode_upload(encode(Image.fromarray(rgba, "RGBA"), "PNG"), "alpha.png")
    assert any("Transparent" in note for note in decoded.notes)
    assert any("Inverted" in note for note in decoded.notes)
    assert float(decoded.tensor[0, 14, 14]) == pytest.approx(1.0) and float(decoded.tensor[0, 0, 0]) == 0.0


def test_palette_image_with_transparency():
    image = shirt(32, dark_on_light=False).convert("P")
    image.info["transparency"] = 0
    decoded = decode_upload(encode(image, "PNG", transparency=0), "palette.png")
    assert any("Palette" in note for note in decoded.notes)
    assert decoded.tensor.shape == (1, 28, 28)


def test_animated_webp_uses_the_first_frame():
    frames = [shirt(32, dark_on_light=False), Image.new("L", (32, 32), 255)]
    data = encode(frames[0], "WEBP", save_all=True, append_images=frames[1:], lossless=True)
    decoded = decode_upload(data, "anim.webp")
    assert any("first of its 2 frames" in note for note in decoded.notes)
    assert float(decoded.tensor[0, 0, 0]) < 0.05                 # frame 0 has a black border


def test_gif_is_refused_by_format_not_by_name():
    with pytest.raises(UploadError, match="GIF"):
        decode_upload(encode(shirt(32), "GIF"), "looks.png")


def test_three_channel_model_input():
    decoded = decode_upload(encode(shirt(64, dark_on_light=False).convert("RGB"), "PNG"), "rgb.png",
                            channels=3, size=32)
    assert decoded.tensor.shape == (3, 32, 32)
    assert decoded.preview(2).shape == (64, 64, 3)
