"""Phones' formats (HEIC, AVIF), files with several frames, and photos shrunk while they are decoded.

Every HEIC/AVIF file is written here: HEIC by pillow-heif (the test dependency that carries an encoder; the app
reads through pi-heif, its decode-only build), AVIF by Pillow. No downloaded fixtures.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vadcore.images import (
    ACCEPTED_FORMATS,
    AVIF_SUPPORTED,
    HEIF_SUPPORTED,
    MultiFrameImageError,
    _not_an_image_message,
    decode_photo,
    load_image,
)

try:
    import pillow_heif
except ImportError:  # pragma: no cover - a dev dependency
    pillow_heif = None
needs_heif = pytest.mark.skipif(
    not HEIF_SUPPORTED or pillow_heif is None, reason="needs pi-heif (to read) and pillow-heif (to write HEIC)"
)
needs_avif = pytest.mark.skipif(not AVIF_SUPPORTED, reason="this Pillow was built without AVIF")

ORIENTATION = 0x0112  # the EXIF tag


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    if fmt == "HEIF":  # written by pillow-heif's own API, which leaves pi-heif as Pillow's HEIF reader
        heif = pillow_heif.from_pillow(image)
        for more in options.pop("append_images", []):
            heif.add_from_pillow(more)
        options.pop("save_all", None)
        heif.save(buffer, **options)
    else:
        image.save(buffer, fmt, **options)
    return buffer.getvalue()


def gradient(width: int = 160, height: int = 96) -> Image.Image:
    """A smooth picture (lossy codecs keep it within a few levels), red rising left to right."""
    x = np.linspace(0, 255, width, dtype=np.float64)[None, :].repeat(height, 0)
    y = np.linspace(0, 255, height, dtype=np.float64)[:, None].repeat(width, 1)
    return Image.fromarray(np.stack([x, y, np.full_like(x, 90)], axis=2).astype(np.uint8))


def rotated_exif() -> bytes:
    exif = Image.Exif()
    exif[ORIENTATION] = 6  # stored sideways: turn 90° clockwise to view
    return exif.tobytes()


# ---------------------------------------------------------------- HEIC and AVIF


@needs_heif
def test_heic_is_read() -> None:
    assert "HEIF" in ACCEPTED_FORMATS and Image.OPEN["HEIF"][0].__module__.startswith("pi_heif")
    source = gradient()
    data = encode(source, "HEIF", quality=90)
    assert data[4:12] == b"ftypheic"
    array = load_image(data)
    assert array.shape == (96, 160, 3) and array.dtype == np.uint8
    assert np.abs(array.astype(int) - np.asarray(source, dtype=int)).mean() < 4


@needs_avif
def test_avif_is_read() -> None:
    assert "AVIF" in ACCEPTED_FORMATS
    source = gradient()
    data = encode(source, "AVIF", quality=90)
    assert data[4:12] == b"ftypavif"
    array = load_image(data)
    assert array.shape == (96, 160, 3)
    assert np.abs(array.astype(int) - np.asarray(source, dtype=int)).mean() < 4


@pytest.mark.parametrize("fmt", [pytest.param("HEIF", marks=needs_heif), pytest.param("AVIF", marks=needs_avif)])
def test_phone_formats_are_turned_upright_once(fmt: str) -> None:
    # A phone held upright writes the sensor's landscape pixels and an orientation; the photo comes out
    # portrait, turned once (pillow-heif applies it while reading, Pillow's AVIF reader leaves it to EXIF).
    source = gradient()
    photo = decode_photo(encode(source, fmt, quality=90, exif=rotated_exif()))
    assert photo.rgb.shape == (160, 96, 3) and photo.size == (96, 160)
    upright = np.asarray(source.transpose(Image.Transpose.ROTATE_270), dtype=int)
    assert np.abs(photo.rgb.astype(int) - upright).mean() < 4


@needs_heif
def test_heic_with_several_images_reads_the_primary_one() -> None:
    first, second = Image.new("RGB", (64, 48), (200, 30, 30)), Image.new("RGB", (64, 48), (30, 30, 200))
    data = encode(first, "HEIF", save_all=True, append_images=[second], quality=90)
    array = load_image(data)
    assert array.shape == (48, 64, 3) and array[..., 0].mean() > 150 > array[..., 2].mean()


@pytest.mark.parametrize(
    ("brand", "named"),
    [(b"heic", "HEIC photo (the iPhone's default)"), (b"avif", "AVIF photo"), (b"mif1", "HEIC photo")],
)
def test_an_unreadable_heic_or_avif_is_named_with_how_to_convert(brand: bytes, named: str) -> None:
    # What an installation without pillow-heif (or with a Pillow built without AVIF) answers.
    header = b"\x00\x00\x00\x18ftyp" + brand + b"\x00\x00\x00\x00" + brand + b"mif1"
    message = _not_an_image_message(header + bytes(64))
    assert named in message and "export it as JPEG" in message
    assert "not a photo" not in message


@needs_heif
def test_a_sample_photo_as_heic_gives_the_readings_of_its_jpeg(photos: Path, predictor) -> None:
    from vadcore.analysis import analyse_photo
    from vadcore.detect import FaceDetector, box_iou

    jpeg = (photos / "obama-240p.jpg").read_bytes()
    heic = encode(Image.open(io.BytesIO(jpeg)), "HEIF", quality=92)
    detector = FaceDetector()
    from_jpeg, from_heic = analyse_photo(jpeg, predictor, detector), analyse_photo(heic, predictor, detector)
    assert len(from_jpeg.readings) == len(from_heic.readings) >= 1
    for a, b in zip(from_jpeg.readings, from_heic.readings):
        assert a.box is not None and b.box is not None and box_iou(a.box, b.box) > 0.9
        assert a.label == b.label and abs(a.valence - b.valence) < 0.1


# ---------------------------------------------------------------- several frames


def frames(n: int = 3) -> list[Image.Image]:
    return [Image.new("RGB", (64, 48), (60 * i, 100, 30)) for i in range(n)]


MULTI_FRAME = ["GIF", "WEBP", "TIFF", "PNG"] + (["AVIF"] if AVIF_SUPPORTED else [])


@pytest.mark.parametrize("fmt", MULTI_FRAME)
def test_animations_and_multi_page_files_are_refused_with_their_frame_count(fmt: str) -> None:
    first, *rest = frames(3)
    data = encode(first, fmt, save_all=True, append_images=rest)
    with pytest.raises(MultiFrameImageError, match="holds 3 pictures") as caught:
        load_image(data)
    assert "JPEG or PNG" in str(caught.value)


@pytest.mark.parametrize("fmt", MULTI_FRAME)
def test_the_same_formats_with_one_frame_are_read(fmt: str) -> None:
    assert load_image(encode(frames(1)[0], fmt)).shape == (48, 64, 3)


def test_a_phone_multi_picture_jpeg_reads_its_primary_picture() -> None:
    # MPO: a JPEG with extra pictures (a second lens, a depth map) that phones and 3D cameras write.
    first, *rest = frames(2)
    data = encode(first, "MPO", save_all=True, append_images=rest, quality=95)
    assert Image.open(io.BytesIO(data)).n_frames == 2
    array = load_image(data)
    assert array.shape == (48, 64, 3) and abs(int(array[..., 0].mean()) - 0) < 8


# ---------------------------------------------------------------- shrunk while decoding


def test_a_photo_within_max_side_is_decoded_unchanged(photos: Path) -> None:
    for path in sorted(photos.iterdir()):
        photo = decode_photo(path, max_side=4096)
        assert np.array_equal(photo.rgb, load_image(path)), path.name
        assert photo.scale == (1.0, 1.0) and photo.size == (photo.rgb.shape[1], photo.rgb.shape[0])


@pytest.mark.parametrize(
    ("fmt", "size", "decoded"), [("JPEG", (2400, 1200), (600, 300)), ("PNG", (1000, 400), (600, 240))]
)
def test_a_large_photo_is_shrunk_to_max_side_and_remembers_its_size(fmt, size, decoded) -> None:
    # The JPEG goes through the decoder's own 1/4 scale (2400 → 600); the PNG is decoded, then resized.
    data = encode(gradient(*size), fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    photo = decode_photo(data, max_side=600)
    assert (photo.rgb.shape[1], photo.rgb.shape[0]) == decoded
    assert photo.size == size
    # A box found on the small copy maps back onto the photo's own pixels.
    sx, sy = photo.scale
    assert photo.to_photo_box((60, 30, 120, 60)) == (round(60 / sx), round(30 / sy), round(120 / sx), round(60 / sy))
    # Same picture as shrinking the full decode (the decoder's DCT scaling differs by a level or two).
    full = Image.fromarray(load_image(data)).resize(decoded, Image.Resampling.BILINEAR)
    assert np.abs(photo.rgb.astype(int) - np.asarray(full, dtype=int)).mean() < 3


def test_a_large_sideways_jpeg_is_shrunk_and_turned_upright() -> None:
    data = encode(gradient(2400, 1200), "JPEG", quality=95, exif=rotated_exif())
    photo = decode_photo(data, max_side=600)
    assert photo.rgb.shape == (600, 300, 3)  # portrait after the turn, longer side 600
    assert photo.size == (1200, 2400)


# ---------------------------------------------------------------- the analysis on shrunk photos


@pytest.fixture(scope="module")
def predictor():
    from vadcore.inference import EmotionPredictor
    from vadcore.settings import SHIPPED_CHECKPOINT

    if not SHIPPED_CHECKPOINT.exists():
        pytest.skip(f"model checkpoint {SHIPPED_CHECKPOINT} is absent")
    return EmotionPredictor(device="cpu")


@pytest.mark.slow
def test_readings_of_the_sample_photos_are_those_of_the_full_size_photo(photos: Path, predictor) -> None:
    # Every sample photo (at most 2204 px) is within ANALYSIS_MAX_SIDE, so it is read exactly as before.
    from vadcore.analysis import ANALYSIS_MAX_SIDE, analyse_photo
    from vadcore.detect import FaceDetector

    detector = FaceDetector()
    faces = 0
    for path in sorted(photos.iterdir()):
        assert max(Image.open(path).size) <= ANALYSIS_MAX_SIDE
        default, full = analyse_photo(path, predictor, detector), analyse_photo(path, predictor, detector, None)
        assert default.readings == full.readings, path.name
        faces += len(full.readings)
    assert faces >= 9


def test_a_photo_beyond_max_side_is_read_on_a_copy_with_boxes_in_its_own_pixels(photos: Path, predictor) -> None:
    from vadcore.analysis import PREVIEW_MAX_SIDE, analyse_photo, preview_jpeg
    from vadcore.detect import FaceDetector, box_iou

    detector = FaceDetector()
    big = encode(Image.open(photos / "obama_and_biden.jpg").resize((4000, 2856)), "JPEG", quality=92)
    full = analyse_photo(big, predictor, detector, max_side=None)
    shrunk = analyse_photo(big, predictor, detector, max_side=2000)
    assert shrunk.size == full.size == (4000, 2856) and max(shrunk.image.shape) == 2000
    assert len(shrunk.readings) == len(full.readings) >= 2
    for a, b in zip(full.readings, shrunk.readings):
        assert a.box is not None and b.box is not None and box_iou(a.box, b.box) > 0.9
        # The model's answer moves by about what re-sampling the photo moves it (≤ 0.07 on the samples).
        assert max(abs(a.valence - b.valence), abs(a.arousal - b.arousal), abs(a.dominance - b.dominance)) < 0.15

    preview = Image.open(io.BytesIO(preview_jpeg(shrunk)))
    assert preview.format == "JPEG" and max(preview.size) == PREVIEW_MAX_SIDE
    assert preview.size == (PREVIEW_MAX_SIDE, round(2856 * PREVIEW_MAX_SIDE / 4000))


def test_boxes_in_the_photo_pixels_are_drawn_in_place_on_a_shrunk_copy() -> None:
    from vadcore.analysis import annotate
    from vadcore.readings import FaceReading
    from vadcore.taxonomy import CLASS_COLOURS

    reading = FaceReading(
        "sad",
        {"sad": 0.9},
        -0.5,
        -0.2,
        -0.3,
        "test",
        box=(1000, 400, 400, 400),  # in a 4000×2000 photo
    )
    small = np.full((500, 1000, 3), 255, dtype=np.uint8)  # the same photo at a quarter
    drawn = np.asarray(annotate(small, [reading], photo_size=(4000, 2000)))
    colour = np.asarray(Image.new("RGB", (1, 1), CLASS_COLOURS["sad"]))[0, 0]
    assert (drawn[110, 250] == colour).all() and (drawn[110, 349] == colour).all()  # left and right edges
    assert (drawn[150, 300] == 255).all()  # inside the box: untouched
