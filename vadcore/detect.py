"""Find faces in an RGB photo and cut them out framed like FER2013 faces.

Detector: libfacedetection's CNN through the `yuface` wheel (weights compiled in, nothing downloaded).
See docs/face_detection.md for the comparison with OpenCV's Haar cascade that chose it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import yuface
from PIL import Image

# Photos are shrunk so their longer side is at most this before detection. On the sample photos 960
# finds every face, drops the low-score false positives seen at full size and is 8-11× faster on
# 2-4 megapixel photos; a face still needs about 10 px after shrinking (≈ 1/100 of the photo's longer side).
DETECTION_MAX_SIDE = 960
# Real faces in the sample photos score ≥ 0.88; the false positives seen (a hand, a chandelier, a sleeve) ≤ 0.62.
MIN_SCORE = 0.7
# FER2013 faces are tight: forehead partly cut, chin near the bottom edge. 1.1 × the detector's box matches them.
CROP_MARGIN = 1.1
CROP_SIZE = 48

# libfacedetection does not document thread safety, and the app may detect from several threads.
_DETECT_LOCK = threading.Lock()


@dataclass(frozen=True)
class DetectedFace:
    """A face: `box` is (x, y, width, height) in pixels of the image given, clipped to it.

    `landmarks` are libfacedetection's five points (two eyes, nose tip, two mouth corners) as (x, y)
    pixels of the same image; they are not clipped.
    """

    box: tuple[int, int, int, int]
    score: float
    landmarks: tuple[tuple[int, int], ...] | None = None


class FaceDetector:
    def __init__(self, min_score: float = MIN_SCORE, max_side: int = DETECTION_MAX_SIDE) -> None:
        self.min_score = min_score
        self.max_side = max_side

    def detect(self, image: np.ndarray) -> list[DetectedFace]:
        """Faces in an H×W×3 uint8 RGB (or H×W grey) image, sorted left to right."""
        rgb = _as_rgb(image)
        height, width = rgb.shape[:2]
        scale = min(1.0, self.max_side / max(height, width))
        small = rgb if scale == 1.0 else _resize(rgb, scale)
        bgr = np.ascontiguousarray(small[:, :, ::-1])
        with _DETECT_LOCK:
            # Rows: score (0-100), x, y, w, h, 5 landmark (x, y) pairs, one unused column.
            rows = yuface.c_detect(bgr).astype(np.float64)
        faces = []
        for row in rows:
            score = float(row[0]) / 100.0
            if score < self.min_score:
                continue
            box = _clip_box(row[1:5] / scale, width, height)
            if box is None:
                continue
            points = np.rint(row[5:15] / scale).astype(int).reshape(5, 2)
            faces.append(DetectedFace(box, score, tuple((int(x), int(y)) for x, y in points)))
        return sorted(faces, key=lambda face: face.box[0])


def box_iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """Intersection over union of two (x, y, width, height) boxes: 1 for the same box, 0 for disjoint ones."""
    width = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    height = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    overlap = max(0, width) * max(0, height)
    union = a[2] * a[3] + b[2] * b[3] - overlap
    return overlap / union if union > 0 else 0.0


def crop_face(image: np.ndarray, box: tuple[int, int, int, int], size: int = CROP_SIZE) -> np.ndarray:
    """A size×size uint8 grey crop: the square of side CROP_MARGIN × max(w, h) around the box's centre.

    Where the square leaves the photo, edge pixels are repeated (a black border would look like a
    feature to a model trained on FER2013, which has none).
    """
    grey = _as_grey(image)
    x, y, w, h = box
    side = max(1, round(CROP_MARGIN * max(w, h)))
    left = round(x + w / 2 - side / 2)
    top = round(y + h / 2 - side / 2)
    rows, cols = grey.shape
    inside = grey[max(0, top) : min(rows, top + side), max(0, left) : min(cols, left + side)]
    if inside.size == 0:
        raise ValueError(f"box {box} lies outside the {cols}×{rows} image")
    padding = ((max(0, -top), max(0, top + side - rows)), (max(0, -left), max(0, left + side - cols)))
    square = np.pad(inside, padding, mode="edge")
    return np.asarray(Image.fromarray(square).resize((size, size), Image.Resampling.BILINEAR), dtype=np.uint8)


def crop_faces(image: np.ndarray, faces: list[DetectedFace], size: int = CROP_SIZE) -> np.ndarray:
    """N×size×size uint8 grey crops, one per face, in the order given."""
    grey = _as_grey(image)
    crops = [crop_face(grey, face.box, size) for face in faces]
    return np.stack(crops) if crops else np.zeros((0, size, size), dtype=np.uint8)


def _clip_box(box: np.ndarray, width: int, height: int) -> tuple[int, int, int, int] | None:
    x0, y0, w, h = box
    left, top = max(0, round(x0)), max(0, round(y0))
    right, bottom = min(width, round(x0 + w)), min(height, round(y0 + h))
    if right <= left or bottom <= top:
        return None
    return (left, top, right - left, bottom - top)


def _resize(rgb: np.ndarray, scale: float) -> np.ndarray:
    height, width = rgb.shape[:2]
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.BILINEAR))


def _as_rgb(image: np.ndarray) -> np.ndarray:
    if image.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got {image.dtype}")
    if image.ndim == 2:
        return np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim == 3 and image.shape[2] == 3:
        return image
    raise ValueError(f"expected an H×W×3 RGB or H×W grey image, got shape {image.shape}")


def _as_grey(image: np.ndarray) -> np.ndarray:
    """Grey as Pillow's "L" (ITU-R 601 luma), the usual conversion for FER-style data."""
    if image.ndim == 2 and image.dtype == np.uint8:
        return image
    return np.asarray(Image.fromarray(_as_rgb(image)).convert("L"))
