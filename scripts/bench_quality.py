"""Measure the thresholds of the quality verdict (vadcore/quality.py) on FER2013 PrivateTest faces.

- face size: the model's accuracy when each face is shrunk to k pixels and enlarged back to 48 (what a
  k-pixel face in a photo becomes), for k from 48 down to 12;
- blur: the crops' sharpness (variance of the Laplacian) on the faces as they are and Gaussian-blurred,
  the share of each under MIN_SHARPNESS, and the model's accuracy on each;
- confidence: the model's accuracy on faces whose top class is under MIN_CONFIDENCE and on the rest.

The yaw and framing measurements need the detector and are in scripts/bench_crops.py.

    nice -n 19 python scripts/bench_quality.py [--data DIR] [--checkpoint PT] [--faces 1000]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from vadcore.data import fer_csv_path, load_fer2013_cached
from vadcore.inference import EmotionPredictor, predict_arrays
from vadcore.quality import MIN_CONFIDENCE, MIN_SHARPNESS, sharpness
from vadcore.settings import get_settings

SIZES = (48, 40, 32, 28, 24, 20, 16, 12)
BLURS = (0.0, 0.5, 0.75, 1.0, 1.25, 1.5)  # Gaussian sigma in pixels of the 48×48 face


def resized(faces: np.ndarray, k: int) -> np.ndarray:
    """Each face shrunk to k×k and enlarged back to 48×48 (bilinear, as the crops are made)."""
    out = [
        Image.fromarray(f).resize((k, k), Image.Resampling.BILINEAR).resize((48, 48), Image.Resampling.BILINEAR)
        for f in faces
    ]
    return np.stack([np.asarray(o) for o in out])


def blurred(faces: np.ndarray, sigma: float) -> np.ndarray:
    if sigma == 0:
        return faces
    return np.stack([np.asarray(Image.fromarray(f).filter(ImageFilter.GaussianBlur(sigma))) for f in faces])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None, help="data folder (default: the configured one)")
    parser.add_argument("--checkpoint", type=Path, default=None, help="model (default: the configured one)")
    parser.add_argument("--faces", type=int, default=1000, help="PrivateTest faces, drawn with seed 0")
    args = parser.parse_args()

    table = load_fer2013_cached(fer_csv_path(args.data or get_settings().data_dir)).split("PrivateTest")
    pick = np.random.default_rng(0).choice(len(table), min(args.faces, len(table)), replace=False)
    faces, labels = table.pixels[pick], table.labels[pick]
    predictor = EmotionPredictor(args.checkpoint, device="cpu")

    def read(x: np.ndarray) -> np.ndarray:
        probs, _ = predict_arrays(predictor.model, x, use_mirror=True, device=predictor.device)
        return probs

    print(f"{len(faces)} PrivateTest faces, model {predictor.model_version}, centre crop and its mirror image\n")
    print("face size (px) | accuracy")
    for k in SIZES:
        print(f"{k:>14} | {(read(resized(faces, k)).argmax(1) == labels).mean():.1%}")

    print(f"\nGaussian blur sigma | median sharpness | under {MIN_SHARPNESS:g} | accuracy")
    for sigma in BLURS:
        x = blurred(faces, sigma)
        values = np.array([sharpness(f) for f in x])
        accuracy = (read(x).argmax(1) == labels).mean()
        print(f"{sigma:>19} | {np.median(values):>16.0f} | {(values < MIN_SHARPNESS).mean():>8.1%} | {accuracy:.1%}")

    probs = read(faces)
    low = probs.max(1) < MIN_CONFIDENCE
    right = probs.argmax(1) == labels
    print(
        f"\ntop class under {MIN_CONFIDENCE:.0%}: {low.mean():.1%} of faces, accuracy {right[low].mean():.1%} "
        f"(the rest: {right[~low].mean():.1%})"
    )


if __name__ == "__main__":
    main()
