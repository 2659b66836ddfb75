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
from vadcore.labels import Box, layout_labels, overlaps
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


# A face's thumbnail: its box and this much around it on every side (a share of the box's longer side), so
# hair and chin help the user tell who it is.
THUMBNAIL_MARGIN = 0.25


def face_thumbnails(analysis: PhotoAnalysis, side: int = 128, quality: int = 80) -> list[bytes]:
    """One square JPEG of `side` pixels per reading, in the readings' order (face N is the Nth), cut from the
    unlabelled photo around the face's box; a reading without a box gets the whole photo. About 2-5 kB each."""
    image = Image.fromarray(analysis.image)
    thumbnails = []
    for reading in _scaled(analysis.readings, image.size, analysis.size):
        square = image if reading.box is None else image.crop(_square_around(reading.box, image.size))
        buffer = io.BytesIO()
        square.resize((side, side), Image.Resampling.BILINEAR).save(buffer, format="JPEG", quality=quality)
        thumbnails.append(buffer.getvalue())
    return thumbnails


def _square_around(box: tuple[int, int, int, int], image_size: tuple[int, int]) -> Box:
    """(left, top, right, bottom) of the square around the face `box` (x, y, w, h) with its margin, moved
    inside the image where it would stick out (a face at the edge stays whole, off centre), shrunk where the
    image is smaller than the square."""
    x, y, w, h = box
    edge = min(round(max(w, h) * (1 + 2 * THUMBNAIL_MARGIN)), *image_size)
    left = min(max(0, round(x + w / 2 - edge / 2)), image_size[0] - edge)
    top = min(max(0, round(y + h / 2 - edge / 2)), image_size[1] - edge)
    return left, top, left + edge, top + edge


@dataclass(frozen=True)
class PhotoLabel:
    """One face's label on the annotated photo: its text and where it is drawn (left, top, right, bottom)."""

    number: int  # the face's number, as in the readings table (1 = first reading)
    text: str
    box: Box
    face_box: tuple[int, int, int, int]  # x, y, w, h in the annotated image's pixels
    colour: str


LABEL_PADDING = 2  # pixels of label colour around its text


def label_font(image_size: tuple[int, int]) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=max(12, round(max(image_size) / 70)))


def plan_labels(
    image_size: tuple[int, int],
    readings: list[FaceReading],
    numbered: bool = True,
    photo_size: tuple[int, int] | None = None,
) -> list[PhotoLabel]:
    """Where `annotate` draws each face's label on an image of `image_size`: no two overlap, each lies inside.

    Where some label finds no free place at full length (a crowded photo), every face's number is placed
    first and each label then grows to its full reading where that fits; a face whose number finds no place
    either (it needs a photo all but covered by labels) goes unlabelled."""
    font = label_font(image_size)
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    faces = [(i, r, r.box) for i, r in enumerate(_scaled(readings, image_size, photo_size), 1) if r.box is not None]

    def size(text: str) -> tuple[int, int]:
        left, top, right, bottom = measure.multiline_textbbox((0, 0), text, font=font)
        return round(right - left) + 2 * LABEL_PADDING, round(bottom - top) + 2 * LABEL_PADDING

    texts = {
        i: (f"{i}. " if numbered else "")
        + f"{r.label} {r.confidence:.0%}\nV{r.valence:+.2f} A{r.arousal:+.2f} D{r.dominance:+.2f}"
        for i, r, _ in faces
    }
    boxes = [box for _, _, box in faces]
    placed = layout_labels(boxes, [size(texts[i]) for i, _, _ in faces], image_size)
    if numbered and None in placed:  # crowded: every face's number first, then as many readings as fit
        placed = layout_labels(boxes, [size(str(i)) for i, _, _ in faces], image_size)
        short = {i: str(i) for i, _, _ in faces}
        for k, (i, _, _) in enumerate(faces):
            others = [box for box in placed[:k] + placed[k + 1 :] if box is not None]
            (grown,) = layout_labels([boxes[k]], [size(texts[i])], image_size, others)
            if grown is not None:
                placed[k], short[i] = grown, texts[i]
        texts = short
    return [
        PhotoLabel(i, texts[i], label_box, face_box, CLASS_COLOURS[r.label])
        for (i, r, face_box), label_box in zip(faces, placed, strict=True)
        if label_box is not None
    ]


def annotate(
    image: np.ndarray, readings: list[FaceReading], numbered: bool = True, photo_size: tuple[int, int] | None = None
) -> Image.Image:
    """The photo with each face boxed and labelled (number, class, confidence and V/A/D), labels placed by
    `plan_labels`; a label placed away from its face is tied to it by a line.

    `photo_size` is the (width, height) the readings' boxes refer to, where `image` is a shrunk copy."""
    out = Image.fromarray(image).convert("RGB")
    draw = ImageDraw.Draw(out)
    width = max(2, round(max(out.size) / 400))
    for r in _scaled(readings, out.size, photo_size):
        if r.box is not None:
            x, y, w, h = r.box
            draw.rectangle([x, y, x + w, y + h], outline=CLASS_COLOURS[r.label], width=width)
    font = label_font(out.size)
    labels = plan_labels(out.size, readings, numbered, photo_size)
    for label in labels:
        (x, y, w, h), (left, top, right, bottom) = label.face_box, label.box
        near_x, near_y = min(max((left + right) // 2, x), x + w), min(max((top + bottom) // 2, y), y + h)
        if not overlaps((left - 8, top - 8, right + 8, bottom + 8), (x, y, x + w + 1, y + h + 1)):
            draw.line([((left + right) // 2, (top + bottom) // 2), (near_x, near_y)], fill=label.colour, width=1)
    for label in labels:
        left, top, right, bottom = label.box
        draw.rectangle([left, top, right - 1, bottom - 1], fill=label.colour)
        offset_x, offset_y, _, _ = draw.multiline_textbbox((0, 0), label.text, font=font)
        fill = "black" if label.colour == CLASS_COLOURS["happy"] else "white"
        draw.multiline_text(
            (left + LABEL_PADDING - offset_x, top + LABEL_PADDING - offset_y), label.text, fill=fill, font=font
        )
    return out


def _scaled(
    readings: list[FaceReading], image_size: tuple[int, int], photo_size: tuple[int, int] | None
) -> list[FaceReading]:
    """The readings with their boxes in the pixels of an image of `image_size` (a shrunk copy of the photo)."""
    if photo_size is None or photo_size == image_size:
        return readings
    sx, sy = image_size[0] / photo_size[0], image_size[1] / photo_size[1]
    return [
        replace(r, box=(round(r.box[0] * sx), round(r.box[1] * sy), round(r.box[2] * sx), round(r.box[3] * sy)))
        if r.box is not None
        else r
        for r in readings
    ]
