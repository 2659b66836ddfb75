"""Turn an uploaded photo (bytes or a file path) into an upright H×W×3 uint8 RGB array.

Every refusal is an `ImageError` whose message a teacher can act on without knowing image formats.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

MAX_PIXELS = 40_000_000  # 40 megapixels: above any phone camera, far below what exhausts memory
MIN_SIDE = 20  # pixels; a face needs at least this to be read (FER2013 crops are 48)

# Only raster formats we can read safely: Pillow's EPS reader would run Ghostscript, for example.
# (Multi-picture JPEGs from phone cameras open through the JPEG reader.)
ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "GIF", "TIFF")


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


def image_checksum(data: bytes) -> str:
    """SHA-256 of the file's bytes, hex: identifies the same upload seen twice."""
    return hashlib.sha256(data).hexdigest()


def load_image(source: bytes | str | Path, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Decode a photo to an upright RGB array (H×W×3 uint8), applying its EXIF orientation."""
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    if not data:
        raise EmptyImageError("The file is empty (0 bytes). Please choose the photo again.")
    image = _open(data)
    _check_size(image.size, max_pixels)
    try:
        image.load()
        image = ImageOps.exif_transpose(image)
        rgb = _to_rgb(image)
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise CorruptImageError(
            "The photo is damaged or incomplete (perhaps the upload was cut off), so it cannot be read. "
            "Please try the original file again."
        ) from error
    return rgb


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
    kind = "a PDF document" if data.startswith(b"%PDF") else "not a photo"
    return f"This file is {kind}, so there are no faces to read. Please upload a photo ({', '.join(ACCEPTED_FORMATS)})."


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
