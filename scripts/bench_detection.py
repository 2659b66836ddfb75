"""Time face detection on the sample photos and count the faces found.

Compares the project's detector (libfacedetection via yuface) with OpenCV's Haar cascade when an
OpenCV that ships its cascades (4.x) is importable, e.g. `PYTHONPATH=/tmp/cv4` after
`pip install --target /tmp/cv4 opencv-python-headless==4.10.0.84`. Both see the same image, shrunk to
the detector's DETECTION_MAX_SIDE. A Haar face counts as correct when it overlaps a face the chosen
detector found (IoU ≥ 0.3); those were checked by eye on these photos.

    nice -n 19 python scripts/bench_detection.py [--photos DIR] [--repeats N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from vadcore.detect import DETECTION_MAX_SIDE, FaceDetector, box_iou
from vadcore.images import load_image
from vadcore.settings import get_settings

Box = tuple[int, int, int, int]

# Faces a person sees in each photo (../shared/data/README.md).
EXPECTED_FACES = {
    "two_people.jpg": 2,
    "obama_and_biden.jpg": 3,
    "kit_with_rose.jpg": 2,
}
PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png"}


def haar_detector() -> Callable[[np.ndarray], list[Box]] | None:
    """OpenCV's frontal-face Haar cascade with its usual settings, or None when OpenCV lacks cascades."""
    try:
        import cv2
    except ImportError:
        return None
    path = Path(getattr(getattr(cv2, "data", None), "haarcascades", "")) / "haarcascade_frontalface_default.xml"
    if not path.is_file():
        return None
    cascade = cv2.CascadeClassifier(str(path))

    def detect(rgb: np.ndarray) -> list[Box]:
        # Same shrinking as FaceDetector, so both detectors see the same pixels.
        scale = min(1.0, DETECTION_MAX_SIDE / max(rgb.shape[:2]))
        image = Image.fromarray(rgb).convert("L")
        if scale < 1.0:
            image = image.resize((round(image.width * scale), round(image.height * scale)), Image.BILINEAR)
        found = cascade.detectMultiScale(np.asarray(image), scaleFactor=1.1, minNeighbors=5, minSize=(30, 30))
        return [tuple(round(v / scale) for v in box) for box in found]

    return detect


def timed(detect: Callable[[np.ndarray], list], image: np.ndarray, repeats: int) -> tuple[list, float]:
    """Result and median wall time in milliseconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = detect(image)
        times.append(time.perf_counter() - start)
    return result, statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=Path, default=get_settings().data_dir / "photos")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    photos = sorted(p for p in args.photos.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES)
    if not photos:
        sys.exit(f"no photos in {args.photos}")
    detector = FaceDetector()
    haar = haar_detector()
    if haar is None:
        print("OpenCV Haar cascade not available: timing the chosen detector only.")

    header = f"{'photo':24} {'size':>10} {'expected':>8} {'yuface':>6} {'ms':>7}"
    print(header + (f" {'haar':>5} {'correct':>7} {'ms':>7} {'haar/yuface':>11}" if haar else ""))
    yuface_total = haar_total = 0.0
    for path in photos:
        image = load_image(path)
        faces, ms = timed(lambda im: detector.detect(im), image, args.repeats)
        yuface_total += ms
        size = f"{image.shape[1]}×{image.shape[0]}"
        line = f"{path.name:24} {size:>10} {EXPECTED_FACES.get(path.name, 1):>8} {len(faces):>6} {ms:>7.1f}"
        if haar:
            boxes, haar_ms = timed(haar, image, args.repeats)
            haar_total += haar_ms
            correct = sum(any(box_iou(box, face.box) >= 0.3 for face in faces) for box in boxes)
            line += f" {len(boxes):>5} {correct:>7} {haar_ms:>7.1f} {haar_ms / ms:>11.2f}"
        print(line)
    summary = f"total: yuface {yuface_total:.0f} ms"
    if haar:
        summary += f", haar {haar_total:.0f} ms, haar/yuface {haar_total / yuface_total:.2f}"
    print(summary + f" (median of {args.repeats} runs per photo, longer side shrunk to {DETECTION_MAX_SIDE})")


if __name__ == "__main__":
    main()
