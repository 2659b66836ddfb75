"""The paper's ablation (its Figures 4–7, Table 3): 4 modes × with/without consistency, on a stated budget.

Each run trains from scratch with the same seed, data and schedule, then is evaluated on FER2013
PrivateTest (single centre crop; accuracy and the paper's consistency violation rate) and on the human
VAD rows of vad_seed/public_test.csv (Pearson r and the paper's average loss, −2…+2 scale).
Writes runs/ablation/ablation.json and prints a Markdown table.

  python scripts/ablation.py                          # default budget: 8,000 faces × 3 epochs each
  python scripts/ablation.py --limit-train 0 --epochs 30 --stem paper   # the full study, on a GPU
"""

import argparse
import json
from pathlib import Path

import torch

from vadcore.checkpoint import load_model
from vadcore.data import load_authors_vad_csv
from vadcore.evaluate import human_vad_metrics
from vadcore.losses import MODES, LossConfig
from vadcore.settings import RUNS_DIR, configure_logging, get_settings
from vadcore.train import evaluate_table, load_fer_with_vad
from vadcore.train import main as train_main


def markdown_table(rows: list[dict], args: argparse.Namespace) -> str:
    faces = "all" if not args.limit_train else f"{args.limit_train:,}"
    lines = [
        f"Budget per run: {faces} Training faces × {args.epochs} epochs, {args.stem} stem, λ = {args.lam}, "
        f"one-cycle SGD to lr {args.lr}, gradient norm clipped at 5. "
        "Accuracy and violation rate: PrivateTest, single crop, equations rule set. r and average loss: "
        "the human labels of vad_seed/public_test.csv (n = 31).",
        "",
        "| mode | consistency | PrivateTest acc. | violation rate | r (V / A / D) | avg. loss (V / A / D) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        h = r["human_vad"]
        dims = ("valence", "arousal", "dominance")
        rs = " / ".join(f"{h[d]['pearson']:.2f}" if d in h else "–" for d in dims)
        losses = " / ".join(f"{h[d]['paper_average_loss']:.3f}" if d in h else "–" for d in dims)
        lines.append(
            f"| {r['mode'].upper()}&class | {r['consistency']} | {r['privatetest_accuracy']:.2%} | "
            f"{r['violation_rate']:.2%} | {rs} | {losses} |"
        )
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=get_settings().data_dir)
    p.add_argument("--out", type=Path, default=RUNS_DIR / "ablation")
    p.add_argument("--stem", default="torchvision")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--limit-train", type=int, default=8000, help="training faces per run (0: all)")
    p.add_argument("--lambda", dest="lam", type=float, default=0.1)
    p.add_argument("--lr", type=float, default=0.05)
    args = p.parse_args()

    fer, _ = load_fer_with_vad(args.data)
    test = fer.split("PrivateTest")
    human = load_authors_vad_csv(args.data / "vad_seed" / "public_test.csv", "PublicTest")
    rows = []
    for mode in ("v", "a", "d", "vad"):
        for consistency in ("none", "soft"):
            out = args.out / f"{mode}-{consistency}"
            train_main(
                [
                    "--data",
                    str(args.data),
                    "--stem",
                    args.stem,
                    "--mode",
                    mode,
                    "--consistency",
                    consistency,
                    "--lambda",
                    str(args.lam),
                    "--epochs",
                    str(args.epochs),
                    "--schedule",
                    "onecycle",
                    "--lr",
                    str(args.lr),
                    "--batch-size",
                    "128",
                    "--clip-grad",
                    "5",
                    "--limit-train",
                    str(args.limit_train),
                    "--out",
                    str(out),
                    "--resume",
                ]
            )
            model, _ = load_model(out / "model.pt")
            cfg = LossConfig(mode=mode, consistency=consistency)
            result = evaluate_table(model, test, cfg, torch.device("cpu"))
            rows.append(
                {
                    "mode": mode,
                    "consistency": consistency,
                    "privatetest_accuracy": result["accuracy"],
                    "violation_rate": result["consistency_violation_rate"]["any"],
                    "human_vad": human_vad_metrics(model, human, MODES[mode]),
                }
            )
            (args.out / "ablation.json").write_text(
                json.dumps(
                    {"budget": vars(args) | {"data": str(args.data), "out": str(args.out)}, "rows": rows}, indent=1
                )
            )
    print(markdown_table(rows, args))


if __name__ == "__main__":
    configure_logging()
    main()
