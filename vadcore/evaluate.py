"""Evaluate a checkpoint on FER2013 splits and on the authors' human VAD rows.

Reports accuracy (single centre crop and ten-crop), per-class recall, confusion matrices (PNG),
V/A/D metrics against the derived targets (stated as derived) and against the human labels of
`vad_seed/public_test.csv`, and the paper's consistency violation rate. Writes JSON + Markdown.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from vadcore.checkpoint import load_model
from vadcore.consistency import DEFAULT_RULES
from vadcore.data import FaceTable, load_authors_vad_csv
from vadcore.inference import predict_arrays, resolve_device
from vadcore.losses import LossConfig
from vadcore.metrics import regression_metrics
from vadcore.model import VADNet
from vadcore.settings import REPORTS_DIR, get_settings
from vadcore.taxonomy import CLASS_NAMES, VAD_DIMS
from vadcore.train import evaluate_table, load_fer_with_vad


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description="Evaluate a VAD Lens checkpoint.", formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    settings = get_settings()
    p.add_argument("--data", type=Path, default=settings.data_dir, help="folder with fer2013/ and vad_seed/")
    p.add_argument("--checkpoint", type=Path, default=settings.checkpoint)
    p.add_argument("--splits", nargs="+", default=["PublicTest", "PrivateTest"])
    p.add_argument("--out", type=Path, default=REPORTS_DIR / "evaluation")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--rules", default=None, help="sign rule set (default: the one the model was trained with)")
    return p


def save_confusion_png(cm: np.ndarray, title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rates = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(6.4, 5.4))
    im = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(CLASS_NAMES)), CLASS_NAMES, rotation=35, ha="right")
    ax.set_yticks(range(len(CLASS_NAMES)), CLASS_NAMES)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class (FER2013 label)")
    for i in range(len(CLASS_NAMES)):
        for j in range(len(CLASS_NAMES)):
            ax.text(
                j,
                i,
                f"{cm[i, j]}",
                ha="center",
                va="center",
                fontsize=8,
                color="white" if rates[i, j] > 0.5 else "black",
            )
    ax.set_title(title)
    fig.colorbar(im, label="share of the true class's faces")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def human_vad_metrics(
    model: VADNet,
    human: FaceTable,
    dims: tuple[int, ...] = (0, 1, 2),
    *,
    use_ten_crop: bool = False,
    device: torch.device | None = None,
) -> dict:
    """V, A, D of a human-labelled table (e.g. vad_seed/public_test.csv) against its labels, plus accuracy."""
    if human.vad is None:
        raise ValueError("human_vad_metrics needs a table with human VAD labels")
    probs, vad = predict_arrays(model, human.pixels, use_ten_crop=use_ten_crop, device=device)
    return {
        **regression_metrics(vad, human.vad, dims),
        "accuracy": float((probs.argmax(1) == human.labels).mean()),
        "n": len(human),
    }


def evaluate(args: argparse.Namespace) -> dict:
    device = resolve_device(args.device)
    model, meta = load_model(args.checkpoint)
    model.to(device).to(memory_format=torch.channels_last)
    rules = args.rules or meta.get("training", {}).get("rules", DEFAULT_RULES)
    fer, _ = load_fer_with_vad(args.data, rules)
    args.out.mkdir(parents=True, exist_ok=True)
    report: dict = {
        "checkpoint": str(args.checkpoint),
        "model_version": meta.get("model_version"),
        "rules": rules,
        "vad_scale": "−1…+1 (human labels ÷ 2)",
        "splits": {},
    }
    for split in args.splits:
        table = fer.split(split)
        entry = {}
        for view, ten in (("single_crop", False), ("ten_crop", True)):
            entry[view] = evaluate_table(model, table, LossConfig(rules=rules), device, use_ten_crop=ten)
        save_confusion_png(
            np.array(entry["ten_crop"]["confusion_matrix"]),
            f"FER2013 {split}, ten-crop (n={len(table)})",
            args.out / f"confusion_{split}.png",
        )
        report["splits"][split] = entry
    human_csv = args.data / "vad_seed" / "public_test.csv"
    if human_csv.exists():
        human = load_authors_vad_csv(human_csv, "PublicTest")
        report["human_vad_public_test"] = {
            view: human_vad_metrics(model, human, use_ten_crop=ten, device=device)
            for view, ten in (("single_crop", False), ("ten_crop", True))
        }
    (args.out / "metrics.json").write_text(json.dumps(report, indent=1))
    (args.out / "report.md").write_text(markdown_report(report))
    return report


def markdown_report(r: dict) -> str:
    lines = [
        f"Model `{r['model_version']}`, sign rules `{r['rules']}`, VAD on {r['vad_scale']}.",
        "",
        "| split | n | accuracy, single crop | accuracy, ten-crop | violation rate (ten-crop) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for split, e in r["splits"].items():
        lines.append(
            f"| {split} | {e['ten_crop']['n']} | {e['single_crop']['accuracy']:.2%} | "
            f"{e['ten_crop']['accuracy']:.2%} | {e['ten_crop']['consistency_violation_rate']['any']:.2%} |"
        )
    lines += [
        "",
        "Per-class recall, ten-crop:",
        "",
        "| split | " + " | ".join(CLASS_NAMES) + " |",
        "| --- |" + " --- |" * len(CLASS_NAMES),
    ]
    for split, e in r["splits"].items():
        lines.append(f"| {split} | " + " | ".join(f"{e['ten_crop']['recall'][c]:.1%}" for c in CLASS_NAMES) + " |")
    if "human_vad_public_test" in r:
        h = r["human_vad_public_test"]["ten_crop"]
        lines += [
            "",
            f"Against the human VAD labels of vad_seed/public_test.csv (n={h['n']}, never trained on), ten-crop:",
            "",
            "| dim | RMSE (−1…+1) | Pearson r | CCC | paper average loss (−2…+2, batch 16) |",
            "| --- | --- | --- | --- | --- |",
        ]
        for d in VAD_DIMS:
            m = h[d]
            lines.append(
                f"| {d} | {m['rmse']:.3f} | {m['pearson']:.3f} | {m['ccc']:.3f} | {m['paper_average_loss']:.4f} |"
            )
    for split, e in r["splits"].items():
        lines += [
            "",
            f"{split}, ten-crop, against the training-style VAD targets (derived; human labels only on "
            "twins of labelled faces):",
            "",
            "| dim | RMSE | Pearson r | CCC |",
            "| --- | --- | --- | --- |",
        ]
        for d in VAD_DIMS:
            m = e["ten_crop"]["vad_all"][d]
            lines.append(f"| {d} | {m['rmse']:.3f} | {m['pearson']:.3f} | {m['ccc']:.3f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict:
    """`scripts/evaluate.py`: evaluate with these command-line flags; the report is also written to --out."""
    return evaluate(build_parser().parse_args(argv))
