"""Find faces in an RGB photo and cut them out framed like FER2013 faces.

Detector: libfacedetection's CNN through the `yuface` wheel (weights compiled in, nothing downloaded).
See docs/face_detection.md for the comparison with OpenCV's Haar cascade that chose it.
"""

from __future__ import annotations

import math
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
# FER2013 faces are tight: forehead partly cut, chin near the bottom edge. Measured by running 400 PrivateTest
# faces, upscaled 4× and padded with their mean grey, through this detector (`scripts/bench_crops.py framing`):
# the 48×48 frame is 0.995× the longer side of the detector's box (median; quartiles 0.90–1.12; 390 of 400
# found), centred on the box within 1% of its side. So the crop is the box's own square, no margin added.
CROP_MARGIN = 1.0
CROP_SIZE = 48
# What fills a crop where it leaves the photo: the photo mirrored at its edge, or the mean grey of the part inside.
# Repeating the edge pixels ("edge", the former choice) paints streaks that no FER2013 face has.
PADDINGS = ("reflect", "mean", "edge")

# libfacedetection does not document thread safety, and the app may detect from several threads.
_DETECT_LOCK = threading.Lock()


@dataclass(frozen=True)
class DetectedFace:
    """A face: `box` is (x, y, width, height) in pixels of the image given, clipped to it.

    `landmarks` are libfacedetection's five points (two eyes, nose tip, two mouth corners) as (x, y)
    pixels of the same image; they are not clipped. `full_box` is the detector's box before clipping (it
    may reach past the image: a face cut off at the photo's edge), and `image_size` the (width, height) of
    the image; None where they are not known.
    """

    box: tuple[int, int, int, int]
    score: float
    landmarks: tuple[tuple[int, int], ...] | None = None
    full_box: tuple[int, int, int, int] | None = None
    image_size: tuple[int, int] | None = None


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
            x0, y0, x1, y1 = (round(float(v)) for v in np.r_[row[1:3], row[1:3] + row[3:5]] / scale)
            x, y, w, h = x0, y0, x1 - x0, y1 - y0  # rounded as `_clip_box` rounds: equal to `box` when inside
            landmarks = tuple((int(x), int(y)) for x, y in points)
            faces.append(DetectedFace(box, score, landmarks, (x, y, w, h), (width, height)))
        return sorted(faces, key=lambda face: face.box[0])


def box_iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """Intersection over union of two (x, y, width, height) boxes: 1 for the same box, 0 for disjoint ones."""
    width = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    height = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    overlap = max(0, width) * max(0, height)
    union = a[2] * a[3] + b[2] * b[3] - overlap
    return overlap / union if union > 0 else 0.0


def crop_face(
    image: np.ndarray,
    face: DetectedFace | tuple[int, int, int, int],
    size: int = CROP_SIZE,
    *,
    margin: float = CROP_MARGIN,
    level: bool = True,
    padding: str = "reflect",
) -> np.ndarray:
    """A size×size uint8 grey crop framed like a FER2013 face: the square of side `margin` × the longer side
    of the face's box, around the box's centre (the detector's unclipped box where the face is cut off).

    With `level` and a face's eye landmarks, the square turns with the eyes, so that they are level in the
    crop (FER2013 faces are mostly upright). Where the square leaves the photo it is filled by `padding`
    (PADDINGS); a black border would look like a feature to a model trained on FER2013, which has none.
    """
    if padding not in PADDINGS:
        raise ValueError(f"padding must be one of {PADDINGS}")
    grey = _as_grey(image)
    if isinstance(face, DetectedFace):
        box, landmarks = face.full_box or face.box, face.landmarks
    else:
        box, landmarks = face, None
    x, y, w, h = box
    side = max(1.0, margin * max(w, h))
    cx, cy = x + w / 2, y + h / 2
    angle = roll_degrees(landmarks) if level and landmarks else 0.0
    # The window that holds the square turned by `angle`, in whole pixels around the centre.
    turn = math.radians(angle)
    reach = math.ceil(side / 2 * (abs(math.cos(turn)) + abs(math.sin(turn)))) + 1
    left, top = math.floor(cx) - reach, math.floor(cy) - reach
    window = _window(grey, left, top, 2 * reach + 1, padding, box)
    picture = Image.fromarray(window)
    centre = (cx - left, cy - top)
    if angle:
        picture = picture.rotate(angle, Image.Resampling.BILINEAR, center=centre)
    square = (centre[0] - side / 2, centre[1] - side / 2, centre[0] + side / 2, centre[1] + side / 2)
    # `box` resizes the square alone, with Pillow's antialiasing: a large face is averaged, not sampled.
    return np.asarray(picture.resize((size, size), Image.Resampling.BILINEAR, box=square), dtype=np.uint8)


def roll_degrees(landmarks: tuple[tuple[int, int], ...]) -> float:
    """How far the line through the eyes (the first two landmarks) tilts from level, in degrees, positive
    when the eye on the photo's right is lower; rotating the photo by it (counter-clockwise) levels them."""
    (lx, ly), (rx, ry) = sorted(landmarks[:2])
    return math.degrees(math.atan2(ry - ly, rx - lx))


def crop_faces(image: np.ndarray, faces: list[DetectedFace], size: int = CROP_SIZE) -> np.ndarray:
    """N×size×size uint8 grey crops (`crop_face`), one per face, in the order given."""
    grey = _as_grey(image)
    crops = [crop_face(grey, face, size) for face in faces]
    return np.stack(crops) if crops else np.zeros((0, size, size), dtype=np.uint8)


def _window(
    grey: np.ndarray, left: int, top: int, side: int, padding: str, box: tuple[int, int, int, int]
) -> np.ndarray:
    """grey[top : top + side, left : left + side], filled by `padding` where it leaves the image."""
    rows, cols = grey.shape
    inside = grey[max(0, top) : min(rows, top + side), max(0, left) : min(cols, left + side)]
    if inside.size == 0:
        raise ValueError(f"box {box} lies outside the {cols}×{rows} image")
    pad = ((max(0, -top), max(0, top + side - rows)), (max(0, -left), max(0, left + side - cols)))
    if padding == "mean":
        return np.pad(inside, pad, mode="constant", constant_values=round(float(inside.mean())))
    return np.pad(inside, pad, mode="reflect" if padding == "reflect" else "edge")


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
