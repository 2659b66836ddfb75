"""Whether a face reading deserves trust: a verdict per reading, as reason codes with plain-language texts.

A reading is flagged, for each reason that applies, when its face is

- `small`: the detector's box is under MIN_FACE_PX pixels on its longer side, in the pixels analysed;
- `blurred`: the 48×48 crop's variance of the Laplacian is under MIN_SHARPNESS;
- `turned`: the nose tip lies more than MAX_YAW eye distances to the side of the eyes' midpoint (along the
  line through the eyes, so a tilted head is not taken for a turned one);
- `cut_off`: the face reaches the photo's edge (closer than EDGE_SLACK of its size) or past it: its detector
  box, or the extent its landmarks imply (`landmark_box`);
- `low_confidence`: the top class has a probability under MIN_CONFIDENCE (the probabilities the predictor
  reports; the figure beside it was measured on the shipped model's plain softmax).

The thresholds were measured with the shipped model on FER2013 PrivateTest faces (`scripts/bench_quality.py`,
`scripts/bench_crops.py framing`; figures beside each) and the sample photos. Face flags come from the
detection and the crop (`face_flags`); the confidence flag from the reading (`judged`). An empty verdict
means nothing stands out, not that the reading is right.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from vadcore.detect import DetectedFace
from vadcore.readings import FaceReading

SMALL, BLURRED, TURNED, CUT_OFF, LOW_CONFIDENCE = "small", "blurred", "turned", "cut_off", "low_confidence"
# Shrunk to k px and enlarged back, 1000 PrivateTest faces read 70.4% at 48 px, 64.7% at 32, 61.3% at 28 and
# 53.9% at 24: under 32 px a reading loses more than 6 points. The box is about the 48×48 frame (detect.py).
MIN_FACE_PX = 32
# Sharpness of those faces: 1st percentile 410, median 1976; 0.4% are under 200. Gaussian-blurred by σ = 1 px
# (accuracy 70.4% → 62.0%) 75% are under 200, by σ = 1.25 px 98.5%.
MIN_SHARPNESS = 200.0
# FER2013 faces through the detector (scripts/bench_crops.py framing): median |yaw| 0.06; the 7.7% over 0.3 are
# read at 33.3% accuracy, the rest at 70.6%.
MAX_YAW = 0.3
# libfacedetection keeps its box inside the photo or barely past it: the face in obama_partial_face.jpg is cut
# off at the left edge, yet its box ends exactly at that edge, and with a face cut through its cheek the box
# shrinks to what is left. So a box that reaches the edge counts, and so does the face's extent from its
# landmarks: on the 13 whole faces of the sample photos the box is 1.98-2.3 eye distances wide around the eyes'
# midpoint, and reaches 0.89-1.18 eye-to-mouth distances above the eyes and 0.67-0.89 below the mouth.
EDGE_SLACK = 0.01
FACE_HALF_WIDTH, FACE_ABOVE_EYES, FACE_BELOW_MOUTH = 1.0, 0.9, 0.65
# On calibrated probabilities (the shipped checkpoint's temperature, 1.402), ten-crop, 1000 PrivateTest faces drawn
# with seed 0: 7.2% have a top class under 35%, read at 27.8% accuracy (the rest at 75.2%); under 40% would flag
# 13.0% (read at 39.2%). With the raw softmax 40% flagged 7.9%.
MIN_CONFIDENCE = 0.35

# Each code's reason, in words for the person looking at the reading.
REASONS: dict[str, str] = {
    SMALL: f"face too small (under {MIN_FACE_PX} pixels)",
    BLURRED: "face blurred",
    TURNED: "face turned away from the camera",
    CUT_OFF: "face cut off at the photo's edge",
    LOW_CONFIDENCE: f"low confidence (top class under {MIN_CONFIDENCE:.0%})",
}
FLAGS: tuple[str, ...] = tuple(REASONS)


def sharpness(crop: np.ndarray) -> float:
    """Variance of the 4-neighbour Laplacian over a grey crop's inner pixels: low for a blurred face."""
    c = np.asarray(crop, dtype=np.float64)
    if c.ndim != 2 or min(c.shape) < 3:
        raise ValueError(f"expected an H×W grey crop of at least 3×3, got shape {c.shape}")
    laplacian = c[1:-1, :-2] + c[1:-1, 2:] + c[:-2, 1:-1] + c[2:, 1:-1] - 4 * c[1:-1, 1:-1]
    return float(laplacian.var())


def yaw_ratio(landmarks: Sequence[tuple[int, int]]) -> float:
    """How far the nose tip (third landmark) sits to the side of the eyes' midpoint, along the line through
    the eyes, in eye distances: about 0 for a frontal face, ±0.3 at roughly 30° of yaw (a nose tip about
    0.55 eye distances in front of the eyes). Positive towards the eye on the photo's right."""
    (lx, ly), (rx, ry) = sorted(landmarks[:2])
    nx, ny = landmarks[2]
    ex, ey = rx - lx, ry - ly
    distance = math.hypot(ex, ey)
    if distance == 0:
        return math.inf
    return ((nx - (lx + rx) / 2) * ex + (ny - (ly + ry) / 2) * ey) / distance**2


def landmark_box(landmarks: Sequence[tuple[int, int]]) -> tuple[float, float, float, float]:
    """(left, top, right, bottom) of the face its five landmarks imply, at least: FACE_HALF_WIDTH eye distances
    each side of the eyes' midpoint, from FACE_ABOVE_EYES eye-to-mouth distances above the eyes to
    FACE_BELOW_MOUTH below the mouth. A face cut by the photo's edge keeps its landmarks there."""
    (lx, ly), (rx, ry) = sorted(landmarks[:2])
    eyes_y, mouth_y = (ly + ry) / 2, (landmarks[3][1] + landmarks[4][1]) / 2
    middle, half, tall = (lx + rx) / 2, FACE_HALF_WIDTH * math.hypot(rx - lx, ry - ly), mouth_y - eyes_y
    return middle - half, eyes_y - FACE_ABOVE_EYES * tall, middle + half, mouth_y + FACE_BELOW_MOUTH * tall


def reaches_edge(face: DetectedFace) -> bool:
    """Whether the face reaches the edge of the image it was found in (or past it): its detector box, or the
    extent its landmarks imply. False where the image's size is not known."""
    if face.image_size is None:
        return False
    x, y, w, h = face.full_box or face.box
    left, top, right, bottom = float(x), float(y), float(x + w), float(y + h)
    if face.landmarks is not None:
        lm_left, lm_top, lm_right, lm_bottom = landmark_box(face.landmarks)
        left, top, right, bottom = min(left, lm_left), min(top, lm_top), max(right, lm_right), max(bottom, lm_bottom)
    width, height = face.image_size
    return min(left, top, width - right, height - bottom) < EDGE_SLACK * max(w, h)


def face_flags(face: DetectedFace, crop: np.ndarray) -> tuple[str, ...]:
    """The reasons, from the detection and its 48×48 crop, to distrust a reading of this face."""
    box = face.full_box or face.box
    flags = []
    if max(box[2], box[3]) < MIN_FACE_PX:
        flags.append(SMALL)
    if sharpness(crop) < MIN_SHARPNESS:
        flags.append(BLURRED)
    if face.landmarks is not None and abs(yaw_ratio(face.landmarks)) > MAX_YAW:
        flags.append(TURNED)
    if reaches_edge(face):
        flags.append(CUT_OFF)
    return tuple(flags)


def judged(reading: FaceReading, flags: Sequence[str] = ()) -> FaceReading:
    """`reading` carrying its verdict: the face's `flags` (from `face_flags`) and low confidence, in FLAGS order."""
    found = set(flags) | ({LOW_CONFIDENCE} if reading.confidence < MIN_CONFIDENCE else set())
    unknown = found - set(FLAGS)
    if unknown:
        raise ValueError(f"unknown quality flags {sorted(unknown)}")
    return replace(reading, quality_flags=tuple(f for f in FLAGS if f in found))


def judge_all(readings: Sequence[FaceReading], faces: Sequence[DetectedFace], crops: np.ndarray) -> list[FaceReading]:
    """Each reading of a detected face with its verdict (readings, faces and crops in the same order)."""
    if not len(readings) == len(faces) == len(crops):
        raise ValueError("one face and one crop per reading")
    return [judged(r, face_flags(f, c)) for r, f, c in zip(readings, faces, crops)]


def describe(flags: Sequence[str] | str) -> str:
    """The verdict in words ("" when nothing stands out); `flags` as codes or as stored, comma-separated."""
    codes = [f for f in flags.split(",") if f] if isinstance(flags, str) else list(flags)
    return "; ".join(REASONS.get(code, code) for code in codes)
