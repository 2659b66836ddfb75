"""Fit a checkpoint's temperature on FER2013 PublicTest (ten-crop, minimum NLL) and store it in the checkpoint.

  python scripts/calibrate.py --checkpoint runs/x/model.pt --data ../shared/data
  python scripts/calibrate.py --checkpoint a.pt --out a_calibrated.pt      # leave a.pt as it is

Prints the expected calibration error before and after. The rewritten file has a new sha256: the app's model
registry treats it as a new model, to be checked and activated again (Admin, Model).
"""

import argparse
from pathlib import Path

from vadcore.calibration import (
    CALIBRATION_SPLIT,
    ECE_BINS,
    expected_calibration_error,
    fit_temperature,
    view_probabilities,
)
from vadcore.checkpoint import load_model, write_calibration
from vadcore.data import fer_csv_path, load_fer2013_cached
from vadcore.inference import predict_logits, resolve_device
from vadcore.settings import configure_logging, get_settings


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", type=Path, required=True, help="the checkpoint to calibrate (rewritten in place)")
    p.add_argument("--data", type=Path, default=get_settings().data_dir, help="folder with fer2013/")
    p.add_argument("--out", type=Path, default=None, help="write the calibrated checkpoint here instead")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    return p


def main(argv: list[str] | None = None) -> dict:
    args = build_parser().parse_args(argv)
    model, _ = load_model(args.checkpoint)
    device = resolve_device(args.device)
    faces = load_fer2013_cached(fer_csv_path(args.data)).split(CALIBRATION_SPLIT)
    if len(faces) == 0:
        raise SystemExit(f"{fer_csv_path(args.data)} has no {CALIBRATION_SPLIT} faces to fit a temperature on")
    logits, _ = predict_logits(model.to(device), faces.pixels, use_ten_crop=True, device=device)
    temperature = fit_temperature(logits, faces.labels)
    calibration = {
        "temperature": temperature,
        "fitted_on": CALIBRATION_SPLIT,
        "view": "ten_crop",
        "faces": len(faces),
        "ece_before": expected_calibration_error(view_probabilities(logits), faces.labels),
        "ece_after": expected_calibration_error(view_probabilities(logits, temperature), faces.labels),
    }
    write_calibration(args.checkpoint, calibration, args.out)
    print(
        f"T = {temperature:.4f} fitted on {len(faces)} {CALIBRATION_SPLIT} faces (ten-crop); expected calibration "
        f"error ({ECE_BINS} bins): {calibration['ece_before']:.2%} before, {calibration['ece_after']:.2%} after; "
        f"written to {args.out or args.checkpoint}"
    )
    return calibration


if __name__ == "__main__":
    configure_logging()
    main()
