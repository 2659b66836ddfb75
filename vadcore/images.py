"""Turn an uploaded photo (bytes or a file path) into an upright H×W×3 uint8 RGB array.

Every refusal is an `ImageError` whose message a teacher can act on without knowing image formats.
HEIC/HEIF (iPhones' default) is read through pi-heif when it is installed; AVIF through Pillow's own
reader. Files with several frames (animations, multi-page scans) are refused, except the extra pictures a
phone stores beside the photo (MPO JPEGs, HEIF), where the primary picture is the photo.
"""

from __future__ import annotations

import hashlib
import io
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError, features

log = logging.getLogger(__name__)

# 64 megapixels: above the 48-50 MP of current phone cameras (8000×6000, 8160×6120). A JPEG that large is
# decoded at half scale for analysis; a 64 MP PNG, decoded whole, peaks at about 0.5 GB (0.7 GB with alpha).
MAX_PIXELS = 64_000_000
# A JPEG may be decoded by the decoder's own scaling to as little as this share of `max_side`: a 48 MP
# (8000-px) photo is then decoded at 4000 px (36 MB) instead of whole (144 MB) and shrunk to 4096.
JPEG_DRAFT_SLACK = 0.95
MIN_SIDE = 20  # pixels; a face needs at least this to be read (FER2013 crops are 48)

# pi-heif is pillow-heif's decode-only build (libheif + libde265, LGPL wheels); pillow-heif's wheels carry the
# x265 encoder and are GPLv2, and only the tests write HEIC. A dependency; without it HEIC uploads get a
# message that says how to convert them.
try:
    from pi_heif import register_heif_opener

    register_heif_opener(thumbnails=False)  # the embedded previews are never read
    HEIF_SUPPORTED = True
except ImportError:  # pragma: no cover - depends on the installation
    HEIF_SUPPORTED = False
    log.warning("pi-heif is not installed: HEIC photos will be refused with a message")
AVIF_SUPPORTED = bool(features.check("avif"))

# Only raster formats we can read safely: Pillow's EPS reader would run Ghostscript, for example.
# (Multi-picture JPEGs from phone cameras open through the JPEG reader.)
ACCEPTED_FORMATS = (
    ("JPEG", "PNG", "WEBP", "BMP", "GIF", "TIFF")
    + (("HEIF",) if HEIF_SUPPORTED else ())
    + (("AVIF",) if AVIF_SUPPORTED else ())
)
# Formats whose extra frames belong to one photo (a depth map, a second lens, a burst's others): the
# primary picture, the one a phone's gallery shows, is read. Any other file with several frames is refused.
PRIMARY_PICTURE_FORMATS = ("MPO", "HEIF")
# ISO base media "ftyp" brands, to name a HEIC or AVIF file that cannot be read here.
_HEIF_BRANDS = (b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1")
_AVIF_BRANDS = (b"avif", b"avis")


class ImageError(ValueError):
    """A photo that cannot be read; the message is meant for the person who uploaded it."""


class EmptyImageError(ImageError):
    pass


class NotAnImageError(ImageError):
    pass


class CorruptImageError(ImageError):
    pass


class ImageTooLargeError(ImageError):
    pass


class ImageTooSmallError(ImageError):
    pass


class MultiFrameImageError(ImageError):
    """An animation or a multi-page file: which frame holds the photo is the uploader's choice."""


@dataclass(frozen=True)
class DecodedPhoto:
    """A decoded photo, perhaps shrunk while decoding; `size` is the upright photo's own (width, height)."""

    rgb: np.ndarray  # H×W×3 uint8, upright
    size: tuple[int, int]

    @property
    def scale(self) -> tuple[float, float]:
        """(x, y) factors from the photo's own pixels to `rgb`'s: 1.0 where it was not shrunk."""
        return self.rgb.shape[1] / self.size[0], self.rgb.shape[0] / self.size[1]

    def to_photo_box(self, box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
        """A box (x, y, width, height) in `rgb`'s pixels, in the photo's own pixels."""
        sx, sy = self.scale
        if (sx, sy) == (1.0, 1.0):
            return box
        x, y, w, h = box
        return (round(x / sx), round(y / sy), max(1, round(w / sx)), max(1, round(h / sy)))


def image_checksum(data: bytes) -> str:
    """SHA-256 of the file's bytes, hex: identifies the same upload seen twice."""
    return hashlib.sha256(data).hexdigest()


def load_image(source: bytes | str | Path, max_pixels: int = MAX_PIXELS, max_side: int | None = None) -> np.ndarray:
    """Decode a photo to an upright RGB array (H×W×3 uint8), applying its EXIF orientation.

    With `max_side`, a photo whose longer side exceeds it comes back shrunk to that longer side."""
    return decode_photo(source, max_pixels, max_side).rgb


def decode_photo(source: bytes | str | Path, max_pixels: int = MAX_PIXELS, max_side: int | None = None) -> DecodedPhoto:
    """`load_image` that also says the photo's own size, so boxes found on a shrunk copy can be mapped back.

    A JPEG at least about twice `max_side` is decoded at 1/2, 1/4 or 1/8 scale by the decoder itself (never
    below `JPEG_DRAFT_SLACK` × `max_side`), so a 48-megapixel JPEG costs a quarter of its full-size memory;
    other formats are decoded whole, then shrunk before any colour conversion."""
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    if not data:
        raise EmptyImageError("The file is empty (0 bytes). Please choose the photo again.")
    image = _open(data)
    _check_size(image.size, max_pixels)
    _check_frames(image)
    try:
        full = image.size
        if max_side is not None and image.format in ("JPEG", "MPO"):
            image.draft(None, _fit(full, math.floor(max_side * JPEG_DRAFT_SLACK)))
        decoded = image.size
        image.load()
        ImageOps.exif_transpose(image, in_place=True)  # in place: a copy would double the peak
        if image.size != decoded:  # rotated a quarter turn: the photo's own size turns with it
            full = (full[1], full[0])
        rgb = _to_rgb(_shrink(image, max_side) if image.mode in _RESIZABLE_MODES else image)
        if max_side is not None and max(rgb.shape[:2]) > max_side:
            rgb = np.asarray(_shrink(Image.fromarray(rgb), max_side))
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise CorruptImageError(
            "The photo is damaged or incomplete (perhaps the upload was cut off), so it cannot be read. "
            "Please try the original file again."
        ) from error
    return DecodedPhoto(rgb, full)


# Modes Pillow resizes with a smooth filter (others, e.g. palettes, are converted to RGB first).
_RESIZABLE_MODES = ("RGB", "RGBA", "L", "LA")


def _fit(size: tuple[int, int], max_side: int) -> tuple[int, int]:
    """`size` scaled so that its longer side is `max_side` (never enlarged)."""
    width, height = size
    scale = min(1.0, max_side / max(width, height))
    return max(1, math.ceil(width * scale)), max(1, math.ceil(height * scale))


def _shrink(image: Image.Image, max_side: int | None) -> Image.Image:
    if max_side is None or max(image.size) <= max_side:
        return image
    # Bilinear with Pillow's antialiasing, the filter the face crops are made with (vadcore.detect).
    return image.resize(_fit(image.size, max_side), Image.Resampling.BILINEAR)


def _check_frames(image: Image.Image) -> None:
    if image.format in PRIMARY_PICTURE_FORMATS:
        return
    frames = getattr(image, "n_frames", 1)
    if frames > 1:
        raise MultiFrameImageError(
            f"This file holds {frames} pictures (an animation or a multi-page document), and VAD Lens reads "
            "one photo at a time. Please save the picture you want as a JPEG or PNG and upload that."
        )


def _open(data: bytes) -> Image.Image:
    """Read only the header, so the size can be checked before any pixels are decoded."""
    try:
        return Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    except Image.DecompressionBombError as error:
        # Pillow's own guard (over ~179 MP) fires while reading the header.
        raise ImageTooLargeError(_too_large_message()) from error
    except UnidentifiedImageError as error:
        raise NotAnImageError(_not_an_image_message(data)) from error
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise CorruptImageError(
            "The photo is damaged, so it cannot be read. Please try the original file again."
        ) from error


def _check_size(size: tuple[int, int], max_pixels: int) -> None:
    width, height = size
    if width * height > max_pixels:
        raise ImageTooLargeError(_too_large_message(width, height, max_pixels))
    if min(width, height) < MIN_SIDE:
        raise ImageTooSmallError(
            f"The photo is only {width}×{height} pixels, too small to see a face. "
            f"Please use a photo at least {MIN_SIDE} pixels on each side."
        )


def _too_large_message(width: int | None = None, height: int | None = None, max_pixels: int = MAX_PIXELS) -> str:
    size = f" ({width}×{height} pixels, {width * height / 1e6:.0f} megapixels)" if width and height else ""
    return (
        f"The photo is too large{size}. The limit is {max_pixels / 1e6:.0f} megapixels; "
        "please resize it or send a smaller copy."
    )


def _not_an_image_message(data: bytes) -> str:
    accepted = ", ".join(ACCEPTED_FORMATS)
    if data[4:8] == b"ftyp":  # an ISO media file: a HEIC or AVIF photo this installation cannot read
        brands = data[8:12] + data[16:64]
        if any(b in brands for b in _AVIF_BRANDS):
            return (
                "This is an AVIF photo (the default of some Android phones and browsers), which this installation "
                "cannot read. Please export it as JPEG (most photo viewers: Save as / Export) and upload that "
                f"({accepted})."
            )
        if any(b in brands for b in _HEIF_BRANDS):
            return (
                "This is a HEIC photo (the iPhone's default), which this installation cannot read. Please export it "
                "as JPEG (on the iPhone: Settings › Camera › Formats › Most Compatible, or share it by e-mail, which "
                f"converts it) and upload that ({accepted})."
            )
    kind = "a PDF document" if data.startswith(b"%PDF") else "not a photo"
    return f"This file is {kind}, so there are no faces to read. Please upload a photo ({accepted})."


def _to_rgb(image: Image.Image) -> np.ndarray:
    if image.mode in ("I", "I;16", "I;16B", "I;16L"):
        # 16-bit grey: Pillow's convert("L") would clip at 255 instead of rescaling.
        grey = (np.clip(np.asarray(image, dtype=np.int64), 0, 65535) // 257).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        # Transparent areas become white, as a viewer would show them, not black.
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return np.asarray(image.convert("RGB"), dtype=np.uint8)
