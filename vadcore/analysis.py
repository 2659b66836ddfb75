"""A whole photo in, one reading per face out: load → detect → crop → predict."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from vadcore.detect import FaceDetector, crop_faces
from vadcore.images import image_checksum, load_image
from vadcore.inference import EmotionPredictor
from vadcore.readings import FaceReading
from vadcore.taxonomy import CLASS_COLOURS


@dataclass
class PhotoAnalysis:
    image: np.ndarray  # H×W×3 RGB, EXIF-upright: the frame the boxes refer to
    readings: list[FaceReading]  # left to right
    checksum: str  # sha256 of the uploaded bytes
    faces: np.ndarray  # (N, 48, 48) grey crops the model read

    @property
    def has_faces(self) -> bool:
        return bool(self.readings)


def analyse_photo(
    source: bytes | str | Path, predictor: EmotionPredictor, detector: FaceDetector | None = None
) -> PhotoAnalysis:
    """Read every face in a photo. Raises `vadcore.images.ImageError` (clear message) on bad input."""
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    image = load_image(data)
    detected = (detector or FaceDetector()).detect(image)
    crops = crop_faces(image, detected)
    readings = (
        predictor.predict(crops, boxes=[f.box for f in detected], detection_scores=[f.score for f in detected])
        if detected
        else []
    )
    return PhotoAnalysis(image, readings, image_checksum(data), crops)


def annotate(image: np.ndarray, readings: list[FaceReading], numbered: bool = True) -> Image.Image:
    """The photo with each face boxed and labelled: number, class, confidence and V/A/D."""
    out = Image.fromarray(image).convert("RGB")
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
