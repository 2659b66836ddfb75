"""Inference speed of a checkpoint on this machine's CPU: faces per second at batch 1 and batched,
single crop and ten-crop, with ratios against batch 1 measured in the same process.

  python scripts/bench_inference.py [--checkpoint models/vadlens_resnet18.pt] [--faces 512]
Faces: real FER2013 faces from the committed test sample (tests/fixtures/fer2013_sample.csv.gz).
"""

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from vadcore.checkpoint import load_model
from vadcore.data import load_fer2013
from vadcore.inference import predict_arrays
from vadcore.settings import PROJECT_ROOT, get_settings


def faces_per_second(model, faces: np.ndarray, batch_size: int, ten_crop: bool, repeats: int = 3) -> float:
    predict_arrays(model, faces[:batch_size], use_ten_crop=ten_crop, batch_size=batch_size)  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        predict_arrays(model, faces, use_ten_crop=ten_crop, batch_size=batch_size)
        best = min(best, time.perf_counter() - start)
    return len(faces) / best


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", type=Path, default=get_settings().checkpoint)
    p.add_argument("--faces", type=int, default=256)
    args = p.parse_args()
    model, meta = load_model(args.checkpoint)
    model.to(memory_format=torch.channels_last)
    pixels = load_fer2013(PROJECT_ROOT / "tests" / "fixtures" / "fer2013_sample.csv.gz").pixels
    faces = np.resize(pixels, (args.faces, 48, 48))
    print(f"model {meta['model_version']}, {torch.get_num_threads()} CPU threads, {args.faces} faces, best of 3")
    for ten_crop in (False, True):
        base = faces_per_second(model, faces[:64], 1, ten_crop)
        print(f"{'ten-crop' if ten_crop else 'single crop'}: batch 1 {base:8.1f} faces/s")
        for bs in (16, 64):
            fps = faces_per_second(model, faces, bs, ten_crop)
            print(f"{'':12} batch {bs:<3} {fps:8.1f} faces/s  ({fps / base:.1f}× batch 1)")


if __name__ == "__main__":
    main()
