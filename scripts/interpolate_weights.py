"""Write the checkpoint on the straight line between a model and its fine-tune (WiSE-FT weight interpolation).

  python scripts/interpolate_weights.py runs/final/v1_model.pt runs/final/v2_model.pt --alpha 0.7 \
      --out runs/final/wise_model.pt

The result carries the fine-tune's training record plus where it lies on the line; it stores no temperature
(fit one with scripts/calibrate.py). Choose alpha on PublicTest, never on PrivateTest.
"""

import argparse
import sys
from pathlib import Path

from vadcore.checkpoint import CheckpointError, load_model, save_checkpoint
from vadcore.settings import configure_logging
from vadcore.weight_averaging import interpolate_weights


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("start", type=Path, help="the model the fine-tune started from (alpha 0)")
    p.add_argument("end", type=Path, help="the fine-tuned model (alpha 1)")
    p.add_argument("--alpha", type=float, default=0.5, help="0: start, 1: end")
    p.add_argument("--out", type=Path, default=Path("runs/interpolated/model.pt"))
    args = p.parse_args()
    try:
        start, start_meta = load_model(args.start)
        end, end_meta = load_model(args.end)
        if start_meta["data_checksum"] != end_meta["data_checksum"]:
            raise ValueError("the two models were trained on different data (their data checksums differ)")
        model = interpolate_weights(start, end, args.alpha)
    except (CheckpointError, ValueError) as e:
        sys.exit(f"interpolate_weights: {e}")
    training = dict(end_meta["training"]) | {
        "weight_interpolation": {
            "start": start_meta["model_version"],
            "end": end_meta["model_version"],
            "alpha": args.alpha,
        }
    }
    version = f"{end_meta['model_version']}-wise{args.alpha:g}"
    save_checkpoint(
        args.out, model, model_version=version, data_checksum=end_meta["data_checksum"], training=training, half=True
    )
    print(f"wrote {args.out} ({version})")


if __name__ == "__main__":
    configure_logging()
    main()
