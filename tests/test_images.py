"""load_image on real photos, unusual colour modes, EXIF orientation and every kind of bad upload."""

from __future__ import annotations

import hashlib
import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vadcore.analysis import ANALYSIS_MAX_SIDE
from vadcore.images import (
    MAX_PIXELS,
    CorruptImageError,
    EmptyImageError,
    ImageError,
    ImageTooLargeError,
    ImageTooSmallError,
    NotAnImageError,
    decode_photo,
    image_checksum,
    load_image,
)


def palette_image() -> Image.Image:
    image = Image.new("P", (30, 30), 1)
    image.putpalette([0, 0, 0, 10, 200, 30])
    return image


def encode(image: Image.Image, fmt: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def test_every_sample_photo_loads_as_rgb(photos: Path) -> None:
    for path in sorted(photos.iterdir()):
        array = load_image(path)
        width, height = Image.open(path).size
        assert array.shape == (height, width, 3), path.name
        assert array.dtype == np.uint8


def test_bytes_str_and_path_give_the_same_pixels(photos: Path) -> None:
    path = photos / "obama-240p.jpg"
    from_path = load_image(path)
    assert np.array_equal(from_path, load_image(str(path)))
    assert np.array_equal(from_path, load_image(path.read_bytes()))


def test_rgba_photo_is_composited_on_white(photos: Path) -> None:
    with Image.open(photos / "32bit.png") as rgba:
        alpha = np.asarray(rgba.getchannel("A"))
    array = load_image(photos / "32bit.png")
    if (alpha == 0).any():
        assert (array[alpha == 0] == 255).all()
    half_transparent_red = Image.new("RGBA", (30, 30), (255, 0, 0, 128))
    assert load_image(encode(half_transparent_red))[0, 0].tolist() == [255, 127, 127]


@pytest.mark.parametrize(
    ("image", "fmt", "expected"),
    [
        (Image.new("L", (30, 30), 100), "PNG", [100, 100, 100]),
        (Image.new("1", (30, 30), 1), "PNG", [255, 255, 255]),
        (palette_image(), "GIF", [10, 200, 30]),
        (Image.new("LA", (30, 30), (0, 0)), "PNG", [255, 255, 255]),
        (Image.new("CMYK", (30, 30), (0, 255, 255, 0)), "JPEG", [255, 0, 0]),
        (Image.new("CMYK", (30, 30), (0, 0, 0, 255)), "TIFF", [0, 0, 0]),
    ],
    ids=["grey", "1-bit", "palette", "grey+alpha", "cmyk-jpeg", "cmyk-tiff"],
)
def test_colour_modes_become_rgb(image: Image.Image, fmt: str, expected: list[int]) -> None:
    array = load_image(encode(image, fmt))
    assert array.shape == (30, 30, 3) and array.dtype == np.uint8
    assert np.abs(array[15, 15].astype(int) - expected).max() <= 3


def test_16_bit_grey_is_rescaled_not_clipped() -> None:
    levels = np.array([[0, 257 * 100, 65535]] * 30, dtype=np.uint16).repeat(10, axis=1)
    array = load_image(encode(Image.fromarray(levels)))
    assert array[0, [0, 10, 20], 0].tolist() == [0, 100, 255]


def test_exif_orientation_is_applied() -> None:
    upright = Image.new("RGB", (40, 60), (255, 255, 255))
    upright.paste((255, 0, 0), (0, 0, 10, 10))  # red marker in the top-left corner
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # as a sideways camera would store it
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    array = load_image(encode(stored, "JPEG", exif=exif, quality=95))
    assert array.shape == (60, 40, 3)
    assert array[2, 2, 0] > 200 and array[2, 2, 1] < 60  # marker is back in the top-left
    assert array[57, 37].min() > 200


def test_checksum_is_sha256_of_the_bytes() -> None:
    assert image_checksum(b"") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert image_checksum(b"photo") == hashlib.sha256(b"photo").hexdigest()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares its size but holds no pixels: costs nothing to build, a bomb if decoded."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


def test_empty_file() -> None:
    with pytest.raises(EmptyImageError, match="empty"):
        load_image(b"")


def test_text_file_is_not_an_image(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("Class 4B seating plan\n")
    with pytest.raises(NotAnImageError, match="not a photo") as caught:
        load_image(notes)
    assert "JPEG" in str(caught.value)


def test_pdf_is_named_as_such() -> None:
    with pytest.raises(NotAnImageError, match="PDF document"):
        load_image(b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n")


def test_truncated_jpeg(photos: Path) -> None:
    data = (photos / "obama-240p.jpg").read_bytes()
    with pytest.raises(CorruptImageError, match="damaged or incomplete"):
        load_image(data[: len(data) // 3])


def test_garbage_after_a_jpeg_signature() -> None:
    with pytest.raises(ImageError):
        load_image(b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4)


def test_71_megapixel_header_is_refused_before_decoding() -> None:
    with pytest.raises(ImageTooLargeError, match="too large") as caught:
        load_image(png_header_only(8400, 8400))
    assert "71 megapixels" in str(caught.value) and "64 megapixels" in str(caught.value)


@pytest.mark.slow
def test_48_megapixel_phone_jpeg_is_accepted_and_decoded_at_half_scale(photos: Path) -> None:
    source = Image.open(photos / "obama_and_biden.jpg").convert("RGB")
    photo = encode(source.resize((8000, 6000), Image.Resampling.BILINEAR), "JPEG", quality=85)
    decoded = decode_photo(photo, max_side=ANALYSIS_MAX_SIDE)
    assert decoded.size == (8000, 6000)
    assert decoded.rgb.shape == (3000, 4000, 3)  # the decoder's 1/2 scale: 36 MB instead of 144 MB
    expected = np.asarray(source.resize((4000, 3000), Image.Resampling.BILINEAR), dtype=np.int16)
    assert np.abs(decoded.rgb.astype(np.int16) - expected).mean() < 4  # the same picture, not just a size
    assert decoded.to_photo_box((1000, 500, 100, 120)) == (2000, 1000, 200, 240)


def test_real_66_megapixel_image_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "huge.png"
    Image.new("1", (8100, 8100), 1).save(path)  # 1-bit keeps the file and memory small
    assert 8100 * 8100 > MAX_PIXELS
    with pytest.raises(ImageTooLargeError):
        load_image(path)


def test_decompression_bomb_beyond_pillow_limit() -> None:
    with pytest.raises(ImageTooLargeError):
        load_image(png_header_only(20000, 20000))


def test_tiny_image() -> None:
    with pytest.raises(ImageTooSmallError, match="too small"):
        load_image(encode(Image.new("RGB", (10, 300))))


def test_errors_are_value_errors_with_plain_messages() -> None:
    for bad in (b"", b"hello", png_header_only(9000, 9000)):
        with pytest.raises(ValueError) as caught:
            load_image(bad)
        message = str(caught.value)
        assert message.endswith(".") and "PIL" not in message and "BytesIO" not in message
