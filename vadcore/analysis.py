"""A whole photo in, one reading per face out: load → detect → crop → predict."""

from __future__ import annotations

import io
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from vadcore.detect import FaceDetector, crop_faces
from vadcore.images import decode_photo, image_checksum
from vadcore.inference import EmotionPredictor
from vadcore.quality import judge_all
from vadcore.readings import FaceReading
from vadcore.taxonomy import CLASS_COLOURS

# Photos are analysed at most this size (longer side, pixels); larger ones are shrunk while decoding. The
# detector looks at DETECTION_MAX_SIDE (960) and finds faces down to about 1/100 of the longer side; at
# 4096 such a face is still about 41 px, close to the 48-px crop the model reads, so every face it can find
# keeps its detail. A 12-megapixel phone photo (4032×3024) is read at full size; a 40-megapixel one costs
# a third of its full-size memory (a JPEG less still: it is decoded at half scale).
ANALYSIS_MAX_SIDE = 4096
# The annotated photo a page shows and keeps: enough for a screen, about 0.1–0.3 MB as a JPEG.
PREVIEW_MAX_SIDE = 1280


@dataclass
class PhotoAnalysis:
    image: np.ndarray  # H×W×3 RGB, EXIF-upright, shrunk to ANALYSIS_MAX_SIDE where larger
    readings: list[FaceReading]  # left to right; boxes in pixels of the upright photo itself (`size`)
    checksum: str  # sha256 of the uploaded bytes
    faces: np.ndarray  # (N, 48, 48) grey crops the model read
    size: tuple[int, int]  # (width, height) of the upright photo, which `image` may be a shrunk copy of

    @property
    def has_faces(self) -> bool:
        return bool(self.readings)


def analyse_photo(
    source: bytes | str | Path,
    predictor: EmotionPredictor,
    detector: FaceDetector | None = None,
    max_side: int | None = ANALYSIS_MAX_SIDE,
) -> PhotoAnalysis:
    """Read every face in a photo. Raises `vadcore.images.ImageError` (clear message) on bad input.

    A photo whose longer side exceeds `max_side` is analysed on a copy shrunk to it (None: never)."""
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    photo = decode_photo(data, max_side=max_side)
    image = photo.rgb
    detected = (detector or FaceDetector()).detect(image)
    crops = crop_faces(image, detected)
    readings = (
        judge_all(
            predictor.predict(
                crops,
                boxes=[photo.to_photo_box(f.box) for f in detected],
                detection_scores=[f.score for f in detected],
            ),
            detected,
            crops,
        )
        if detected
        else []
    )
    return PhotoAnalysis(image, readings, image_checksum(data), crops, photo.size)


def preview_jpeg(analysis: PhotoAnalysis, max_side: int = PREVIEW_MAX_SIDE, quality: int = 85) -> bytes:
    """The annotated photo, its longer side at most `max_side`, as JPEG bytes: what a page keeps and shows
    instead of the decoded pixels (a 12-megapixel photo is 36 MB decoded, this about 0.2 MB)."""
    small = Image.fromarray(analysis.image)
    if max(small.size) > max_side:
        scale = max_side / max(small.size)
        small = small.resize(
            (max(1, round(small.width * scale)), max(1, round(small.height * scale))), Image.Resampling.BILINEAR
        )
    out = annotate(np.asarray(small), analysis.readings, photo_size=analysis.size)
    buffer = io.BytesIO()
    out.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def annotate(
    image: np.ndarray, readings: list[FaceReading], numbered: bool = True, photo_size: tuple[int, int] | None = None
) -> Image.Image:
    """The photo with each face boxed and labelled: number, class, confidence and V/A/D.

    `photo_size` is the (width, height) the readings' boxes refer to, where `image` is a shrunk copy."""
    out = Image.fromarray(image).convert("RGB")
    if photo_size is not None and photo_size != out.size:
        sx, sy = out.width / photo_size[0], out.height / photo_size[1]
        readings = [
            replace(r, box=(round(r.box[0] * sx), round(r.box[1] * sy), round(r.box[2] * sx), round(r.box[3] * sy)))
            if r.box is not None
            else r
            for r in readings
        ]
    draw = ImageDraw.Draw(out)
    width = max(2, round(max(out.size) / 400))
    font = ImageFont.load_default(size=max(12, round(max(out.size) / 70)))
    for i, r in enumerate(readings, 1):
        if r.box is None:
            continue
        x, y, w, h = r.box
        colour = CLASS_COLOURS[r.label]
        draw.rectangle([x, y, x + w, y + h], outline=colour, width=width)
        text = (
            f"{i}. " if numbered else ""
        ) + f"{r.label} {r.confidence:.0%}\nV{r.valence:+.2f} A{r.arousal:+.2f} D{r.dominance:+.2f}"
        left, top, right, bottom = draw.multiline_textbbox((x, y + h + 2), text, font=font)
        if bottom > out.height:  # no room below the face: put the label above it
            top_y = max(0, y - (bottom - top) - 4)
            left, top, right, bottom = draw.multiline_textbbox((x, top_y), text, font=font)
        draw.rectangle([left - 2, top - 2, right + 2, bottom + 2], fill=colour)
        draw.multiline_text((left, top), text, fill="white" if r.label != "happy" else "black", font=font)
    return out
