"""Face crops against FER2013's framing, and how stable the readings are under the crop's margin.

    nice -n 19 python scripts/bench_crops.py framing [--faces 400]   # margin and yaw measured on FER2013
    nice -n 19 python scripts/bench_crops.py flips [--checkpoint PT]  # label flips under ±10% margin

`framing`: PrivateTest faces (drawn with seed 0) are enlarged 4× and padded with their mean grey on every
side, then run through the app's detector; the 48×48 frame is compared with the detected box (side ratio,
centre offset), which is what `vadcore.detect.CROP_MARGIN` is set from. It also prints the faces' yaw from
the landmarks (`vadcore.quality.yaw_ratio`) and the model's accuracy on faces over and under MAX_YAW.

`flips`: every face the detector finds in the sample photos (../shared/data/photos) is read (ten-crop, as the
app reads photos) at margin m, 0.9 m and 1.1 m, with the former crop (m = 1.1, edge pixels repeated, not
levelled) and the current one (m = CROP_MARGIN, reflect padding, levelled by the eyes). A face flips when its
top class is not the same at all three margins. Run it again with --checkpoint for another model.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from vadcore.analysis import ANALYSIS_MAX_SIDE
from vadcore.data import fer_csv_path, load_fer2013_cached
from vadcore.detect import CROP_MARGIN, FaceDetector, crop_face
from vadcore.images import load_image
from vadcore.inference import EmotionPredictor, predict_arrays
from vadcore.quality import MAX_YAW, yaw_ratio
from vadcore.settings import get_settings

UPSCALE, PAD = 4, 96  # framing: faces enlarged to 192 px, with 96 px of mean grey around them
PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png"}
# (name, margin, level the eyes, padding) of the crop before and after issue 9.
CROPS = (("before", 1.1, False, "edge"), ("after", CROP_MARGIN, True, "reflect"))


def framing(data: Path, n_faces: int, checkpoint: Path | None) -> None:
    table = load_fer2013_cached(fer_csv_path(data)).split("PrivateTest")
    pick = np.random.default_rng(0).choice(len(table), min(n_faces, len(table)), replace=False)
    detector = FaceDetector()
    frame = 48 * UPSCALE
    ratios, offsets, yaws, found = [], [], [], []
    for i in pick:
        face = table.pixels[i]
        big = np.asarray(Image.fromarray(face).resize((frame, frame), Image.Resampling.BILINEAR))
        padded = np.pad(big, PAD, mode="constant", constant_values=round(float(face.mean())))
        detected = [f for f in detector.detect(padded) if PAD <= f.box[0] + f.box[2] / 2 <= PAD + frame]
        if not detected:
            continue
        best = max(detected, key=lambda f: f.box[2] * f.box[3])
        x, y, w, h = best.box
        side = max(w, h)
        ratios.append(frame / side)
        offsets.append(((x + w / 2 - PAD - frame / 2) / side, (y + h / 2 - PAD - frame / 2) / side))
        yaws.append(abs(yaw_ratio(best.landmarks)) if best.landmarks else np.nan)
        found.append(i)
    r, o, yaw = np.array(ratios), np.array(offsets), np.array(yaws)
    print(f"{len(found)} of {len(pick)} PrivateTest faces found (enlarged {UPSCALE}×, {PAD} px of mean grey around)")
    q1, median, q3 = np.percentile(r, [25, 50, 75])
    print(f"48×48 frame / longer side of the box: median {median:.3f}, quartiles {q1:.3f}–{q3:.3f}", end="")
    print(f", mean {r.mean():.3f}")
    print(f"box centre − frame centre, in box sides: x {np.median(o[:, 0]):+.3f}, y {np.median(o[:, 1]):+.3f} (median)")
    predictor = EmotionPredictor(checkpoint, device="cpu")
    probs, _ = predict_arrays(predictor.model, table.pixels[found], use_mirror=True, device=predictor.device)
    right = probs.argmax(1) == table.labels[found]
    turned = yaw > MAX_YAW
    print(
        f"|yaw| (nose offset / eye distance): median {np.nanmedian(yaw):.2f}; over {MAX_YAW}: {turned.mean():.1%} "
        f"of faces, accuracy {right[turned].mean():.1%} (the rest {right[~turned].mean():.1%})"
    )


def flips(photos: Path, checkpoint: Path | None) -> None:
    predictor = EmotionPredictor(checkpoint, device="cpu")
    detector = FaceDetector()
    rows = []
    for path in sorted(p for p in photos.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES):
        image = load_image(path, max_side=ANALYSIS_MAX_SIDE)  # what analyse_photo reads
        for k, face in enumerate(detector.detect(image), 1):
            labels = {}
            for name, margin, level, padding in CROPS:
                crops = [
                    crop_face(image, face, margin=margin * f, level=level, padding=padding) for f in (0.9, 1.0, 1.1)
                ]
                labels[name] = [r.label for r in predictor.predict(np.stack(crops))]
            rows.append((f"{path.name} #{k}", labels))
    print(f"model {predictor.model_version}; ten-crop; classes at margin 0.9 m / m / 1.1 m\n")
    print(f"{'face':<28} | {'before (m = 1.1, edge, not levelled)':<36} | after (m = {CROP_MARGIN}, reflect, levelled)")
    for face, labels in rows:
        before, after = ("/".join(labels[name]) for name, *_ in CROPS)
        print(f"{face:<28} | {before:<36} | {after}")
    count = {name: sum(len(set(labels[name])) > 1 for _, labels in rows) for name, *_ in CROPS}
    print(f"\n{'faces':>6} | {'flips before':>12} | {'flips after':>11}")
    print(f"{len(rows):>6} | {count['before']:>12} | {count['after']:>11}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("framing", "flips"))
    parser.add_argument("--data", type=Path, default=None, help="data folder (default: the configured one)")
    parser.add_argument("--checkpoint", type=Path, default=None, help="model (default: the configured one)")
    parser.add_argument("--faces", type=int, default=400, help="framing: PrivateTest faces, drawn with seed 0")
    args = parser.parse_args()
    data = args.data or get_settings().data_dir
    if args.what == "framing":
        framing(data, args.faces, args.checkpoint)
    else:
        flips(data / "photos", args.checkpoint)


if __name__ == "__main__":
    main()
