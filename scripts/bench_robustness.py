"""Accuracy of one or more checkpoints on the deduplicated FER2013 PrivateTest under controlled shifts (rotation,
zoom, blur, low light, JPEG, a hidden mouth or eyes, downscaling), single centre crop, with 95% bootstrap
intervals and, for a second checkpoint, its paired difference from the first. Prints the Markdown table for the
model card and writes it with the JSON to --out.

  python scripts/bench_robustness.py [--checkpoints OLD.pt NEW.pt] [--limit N]
"""

import argparse
import json
from pathlib import Path

import torch

from vadcore.checkpoint import load_model
from vadcore.inference import resolve_device
from vadcore.metrics import BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED
from vadcore.robustness import load_bench_faces, markdown_table, run_bench
from vadcore.settings import REPORTS_DIR, SHIPPED_CHECKPOINT, configure_logging, get_settings


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    p.add_argument("--data", type=Path, default=get_settings().data_dir, help="folder with fer2013/")
    p.add_argument(
        "--checkpoints", type=Path, nargs="+", default=[SHIPPED_CHECKPOINT], help="the first is the baseline"
    )
    p.add_argument("--limit", type=int, default=None, help="only the first N deduplicated faces (a quick run)")
    p.add_argument("--seed", type=int, default=BOOTSTRAP_SEED, help="bootstrap draws and low-light noise")
    p.add_argument("--resamples", type=int, default=BOOTSTRAP_RESAMPLES)
    p.add_argument("--out", type=Path, default=REPORTS_DIR / "robustness")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    return p


def main(argv: list[str] | None = None) -> dict:
    args = build_parser().parse_args(argv)
    device = resolve_device(args.device)
    models, versions = {}, []
    for path in args.checkpoints:
        model, meta = load_model(path)
        version = str(meta.get("model_version"))
        # the table names models by version; two files of one version are told apart by their file names
        name = version if version not in versions else f"{version} ({path.name})"
        if name in models:
            raise SystemExit(f"{path} is given twice")
        versions.append(version)
        models[name] = model.to(device).to(memory_format=torch.channels_last)
    report = run_bench(
        models, load_bench_faces(args.data, args.limit), seed=args.seed, resamples=args.resamples, device=device
    )
    report["checkpoints"] = {name: str(path) for name, path in zip(models, args.checkpoints)}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "robustness.json").write_text(json.dumps(report, indent=1, ensure_ascii=False))
    table = markdown_table(report)
    (args.out / "robustness.md").write_text(table)
    print(table)
    print(f"written to {args.out}/robustness.json and robustness.md")
    return report


if __name__ == "__main__":
    configure_logging()
    main()
