"""Does the consistency loss help? Train a grid of cells × seeds at one budget, then analyse them paired by seed.

Each run trains from scratch (the shipped recipe: torchvision stem, one-cycle SGD, batch 128, v2 VAD targets)
on the first --limit-train Training faces for --epochs, then reads the deduplicated PrivateTest (single crop)
and the 31 public human rows; it writes <out>/<budget>/<cell>-s<seed>/result.json. A finished run is skipped
and an interrupted one resumes from its last epoch, so the command can be repeated until the grid is done.

  python scripts/ablation.py                                   # VAD&class × {none, soft λ 0.1} × seeds 0–4
  python scripts/ablation.py --seeds 0 --epochs 4              # one point of a learning curve
  python scripts/ablation.py --seeds 0 --repeat                # the same run again: is it reproducible?
  python scripts/ablation.py --report                          # analyse what has run (Markdown, JSON, PNG)
  python scripts/ablation.py --modes v a d vad --consistency none soft paper   # the paper's whole grid
"""

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np
import torch

from vadcore.ablation import RESULT_FILE, Budget, Cell, analyse, load_results, run_dir, run_result
from vadcore.ablation_report import budgets_table, markdown_report, plot_paired_differences
from vadcore.checkpoint import load_model
from vadcore.consistency import DEFAULT_RULES
from vadcore.data import load_authors_vad_csv
from vadcore.dedup import training_duplicates
from vadcore.losses import CONSISTENCY_KINDS, MODES
from vadcore.settings import RUNS_DIR, configure_logging, get_settings
from vadcore.taxonomy import CLASS_NAMES
from vadcore.train import load_fer_with_vad
from vadcore.train import main as train_main

logger = logging.getLogger("ablation")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    p.add_argument("--data", type=Path, default=get_settings().data_dir)
    p.add_argument("--out", type=Path, default=RUNS_DIR / "ablation")
    p.add_argument("--modes", nargs="+", choices=sorted(MODES), default=["vad"])
    p.add_argument("--consistency", nargs="+", choices=CONSISTENCY_KINDS, default=["none", "soft"])
    p.add_argument("--lambdas", nargs="+", type=float, default=[0.1], help="λ of the soft and paper terms")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    p.add_argument("--stem", default=Budget.stem)
    p.add_argument("--limit-train", type=int, default=Budget.limit_train, help="Training faces per run (0: all)")
    p.add_argument("--epochs", type=int, default=Budget.epochs)
    p.add_argument("--lr", type=float, default=Budget.lr)
    p.add_argument("--threads", type=int, default=2, help="CPU threads; fixed, so that a repeat reads the same")
    p.add_argument("--repeat", action="store_true", help="train each run again into <run>-repeat")
    p.add_argument("--report", action="store_true", help="only analyse the finished runs of this budget")
    p.add_argument("--baseline", default="vad-none", help="the cell every other cell is paired with")
    return p


def grid(args: argparse.Namespace) -> list[Cell]:
    cells = []
    for mode in args.modes:
        for consistency in args.consistency:
            lambdas = [0.0] if consistency == "none" else args.lambdas
            cells += [Cell(mode, consistency, lam) for lam in lambdas]
    return cells


def run_grid(args: argparse.Namespace, budget: Budget) -> None:
    fer, _ = load_fer_with_vad(args.data)
    duplicates = training_duplicates(fer, "PrivateTest")
    test = fer.split("PrivateTest").subset(~(duplicates.exact | duplicates.near))
    human = load_authors_vad_csv(args.data / "vad_seed" / "public_test.csv", "PublicTest")
    training = fer.split("Training")
    class_means = np.stack([training.vad[training.labels == c].mean(0) for c in range(len(CLASS_NAMES))])
    for seed in args.seeds:  # seed-major: every cell gets its first seeds before any cell gets its fifth
        for cell in grid(args):
            out = run_dir(args.out, budget, cell, seed, repeat=args.repeat)
            if (out / RESULT_FILE).exists():
                continue
            started = time.time()
            train_main(
                [
                    "--data",
                    str(args.data),
                    *budget.train_args(),
                    *cell.train_args(),
                    "--seed",
                    str(seed),
                    "--threads",
                    str(args.threads),
                    "--device",
                    "cpu",
                    "--out",
                    str(out),
                    "--resume",
                ]
            )
            model, _ = load_model(out / "model.pt")
            result = run_result(
                model,
                cell=cell,
                seed=seed,
                budget=budget,
                test=test,
                human=human,
                class_means=class_means,
                rules=DEFAULT_RULES,
                device=torch.device("cpu"),
            )
            result["wall_seconds"] = round(time.time() - started, 1)
            (out / RESULT_FILE).write_text(json.dumps(result))
            logger.info(
                "%s seed %d: accuracy %.2f%%, %.0f s",
                cell.name,
                seed,
                100 * float(np.mean(result["correct"])),
                result["wall_seconds"],
            )


def report(args: argparse.Namespace, budget: Budget) -> None:
    folder = args.out / budget.tag
    analysis = analyse(load_results(folder), args.baseline)
    (folder / "analysis.json").write_text(json.dumps(analysis, indent=1))
    plot_paired_differences(analysis, folder / "paired_differences.png")
    text = markdown_report(analysis, budget, command=args.command)
    (folder / "report.md").write_text(text)
    print(text)
    print()
    print(budgets_table(args.out, args.baseline))


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    args.command = " ".join(["python scripts/ablation.py", *(sys.argv[1:] if argv is None else argv)])
    budget = Budget(stem=args.stem, limit_train=args.limit_train, epochs=args.epochs, lr=args.lr)
    torch.set_num_threads(args.threads)
    try:
        if not args.report:
            run_grid(args, budget)
        report(args, budget)
    except (OSError, ValueError) as e:
        sys.exit(f"ablation: {e}")


if __name__ == "__main__":
    configure_logging()
    main()
