"""Compare training recipes at a short budget, several seeds each, before one long run (issue "Engine v2").

Each cell (candidate × seed) fine-tunes the shipped model for --epochs with one recipe, as its own
`scripts/train.py` process (--threads 1, --parallel at a time), into runs/recipes/<candidate>-s<seed>/; a
finished cell (model.pt present) is skipped, so an interrupted search resumes. Then every cell is evaluated on
the deduplicated PublicTest (single centre crop; PrivateTest stays unseen until the shipped model is chosen)
under the robustness bench's shifts (`vadcore/robustness.py`, mean over the shifts), and on the 31 human VAD
rows, and a table gives each candidate's mean and its paired difference from the
control, seed by seed.

  python scripts/recipe_search.py                 # the grid below, 1 epoch × 2 seeds
  python scripts/recipe_search.py --report-only   # evaluate what has finished
"""

import argparse
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from vadcore.settings import RUNS_DIR, configure_logging, get_settings

# Shared by every cell: fine-tune the shipped weights with the v2 VAD targets, a short one-cycle schedule.
BASE = [
    "--stem", "torchvision", "--schedule", "onecycle", "--lr", "0.02", "--batch-size", "128",
    "--init-from", "models/vadlens_resnet18.pt", "--vad-target", "regression", "--ema", "0.998",
]  # fmt: skip
# Nested candidates: each adds one change to the one before it.
CANDIDATES = {
    "control": [],
    "augment": ["--rotation", "20", "--photometric", "0.8", "--degrade", "0.3", "--erase", "0.25"],
    "augment+votes": ["--rotation", "20", "--photometric", "0.8", "--degrade", "0.3", "--erase", "0.25",
                      "--soft-target", "0.5"],
}  # fmt: skip


def run_cell(name: str, seed: int, args: argparse.Namespace) -> Path:
    out = args.out / f"{name}-s{seed}"
    if (out / "model.pt").exists():
        return out
    out.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "scripts/train.py", *BASE, *CANDIDATES[name], "--epochs", str(args.epochs),
           "--seed", str(seed), "--threads", "1", "--data", str(args.data), "--out", str(out)]  # fmt: skip
    if (out / "last.pt").exists():
        cmd.append("--resume")
    with open(out / "train.log", "a") as log:
        subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, check=True)
    return out


def evaluate_cells(args: argparse.Namespace) -> dict:
    import torch

    from vadcore.checkpoint import load_model
    from vadcore.data import load_authors_vad_csv
    from vadcore.dedup import training_duplicates
    from vadcore.evaluate import human_vad_metrics
    from vadcore.inference import predict_arrays
    from vadcore.robustness import shifted_faces
    from vadcore.train import load_fer_with_vad

    torch.set_num_threads(2)
    fer, _ = load_fer_with_vad(args.data)
    public = fer.split("PublicTest")
    public = public.subset(training_duplicates(fer, "PublicTest").keep)
    shifted = {name: faces for name, faces in shifted_faces(public.pixels).items() if name != "none"}
    human = load_authors_vad_csv(args.data / "vad_seed" / "public_test.csv", "PublicTest")
    results: dict = {}
    for name in CANDIDATES:
        for seed in args.seeds:
            path = args.out / f"{name}-s{seed}" / "model.pt"
            if not path.exists():
                continue
            model, _ = load_model(path)
            probs, _ = predict_arrays(model, public.pixels)
            h = human_vad_metrics(model, human)
            under_shift = {
                name: float((predict_arrays(model, faces)[0].argmax(1) == public.labels).mean())
                for name, faces in shifted.items()
            }
            results[f"{name}-s{seed}"] = {
                "candidate": name,
                "seed": seed,
                "correct": (probs.argmax(1) == public.labels).tolist(),
                "accuracy": float((probs.argmax(1) == public.labels).mean()),
                "human_r": [h[d]["pearson"] for d in ("valence", "arousal", "dominance")],
                "under_shift": under_shift,
            }
    return {"faces": len(public), "cells": results}


def markdown(report: dict, seeds: list[int]) -> str:
    cells = report["cells"]
    lines = [
        f"Deduplicated PublicTest (n = {report['faces']}, single crop); human r on the 31 public rows.",
        "",
        "| candidate | seeds | accuracy, mean | paired Δ vs control (per seed) | under shifts, mean (worst) "
        "| r V / A / D, mean |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name in CANDIDATES:
        mine = [cells[f"{name}-s{s}"] for s in seeds if f"{name}-s{s}" in cells]
        if not mine:
            continue
        deltas = [
            c["accuracy"] - cells[f"control-s{c['seed']}"]["accuracy"] for c in mine if f"control-s{c['seed']}" in cells
        ]
        r = np.mean([c["human_r"] for c in mine], axis=0)
        shifts = np.mean([list(c["under_shift"].values()) for c in mine], axis=0)
        lines.append(
            f"| {name} | {len(mine)} | {np.mean([c['accuracy'] for c in mine]):.2%} | "
            f"{', '.join(f'{d:+.2%}' for d in deltas)} | {shifts.mean():.2%} ({shifts.min():.2%}) | "
            f"{r[0]:.2f} / {r[1]:.2f} / {r[2]:.2f} |"
        )
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=get_settings().data_dir)
    p.add_argument("--out", type=Path, default=RUNS_DIR / "recipes")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    p.add_argument("--parallel", type=int, default=2, help="cells trained at once (each on one thread)")
    p.add_argument("--report-only", action="store_true")
    args = p.parse_args()
    if not args.report_only:
        cells = [(name, seed) for name in CANDIDATES for seed in args.seeds]
        with ThreadPoolExecutor(args.parallel) as pool:
            for out in pool.map(lambda c: run_cell(*c, args), cells):
                print(f"done: {out}", flush=True)
    report = evaluate_cells(args)
    (args.out / "report.json").write_text(json.dumps(report))
    print(markdown(report, args.seeds))


if __name__ == "__main__":
    configure_logging()
    main()
