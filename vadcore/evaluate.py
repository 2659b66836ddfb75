"""Evaluate a checkpoint on FER2013 splits and on the authors' human VAD rows.

Every accuracy is stated twice: on the whole split (comparable with the literature) and on the split without
the exact and near duplicates of Training faces (`vadcore.dedup`: faces a model may have learnt by heart),
each with a 95% percentile-bootstrap interval over faces, single centre crop and ten-crop. Also: per-class
recall and confusion matrices (PNG), calibration (expected calibration error before and after temperature
scaling, reliability diagram PNG; `vadcore.calibration`), V/A/D against the derived targets (stated as
derived) and against the 31 human labels of `vad_seed/public_test.csv` (Pearson r with intervals), the paper's
consistency violation rate, and optionally a paired comparison with a second checkpoint. Writes JSON + Markdown;
`--write-card-json` writes the figures the model card and tests/test_shipped_model.py rest on
(`vadcore.evaluation_report`).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vadcore.calibration import (
    CALIBRATION_SPLIT,
    ECE_BINS,
    expected_calibration_error,
    fit_temperature,
    negative_log_likelihood,
    save_reliability_diagram,
    view_probabilities,
)
from vadcore.checkpoint import checkpoint_temperature, load_model
from vadcore.consistency import DEFAULT_RULES, consistency_violation_rate
from vadcore.data import FaceTable, load_authors_vad_csv, pixel_key
from vadcore.dedup import DuplicateReport, training_duplicates
from vadcore.evaluation_report import VIEWS, card_figures, markdown_report
from vadcore.inference import predict_arrays, predict_logits, resolve_device, view_vad
from vadcore.metrics import (
    BOOTSTRAP_RESAMPLES,
    BOOTSTRAP_SEED,
    bootstrap_accuracy,
    bootstrap_pearson,
    classification_metrics,
    paired_comparison,
    regression_metrics,
)
from vadcore.model import VADNet
from vadcore.settings import REPORTS_DIR, get_settings
from vadcore.taxonomy import CLASS_NAMES, VAD_DIMS
from vadcore.train import load_fer_with_vad

CENTRE_VIEW = 4  # the centre crop's place among transforms.ten_crop's views (four corners, centre, mirrors)


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
    p.add_argument(
        "--near-threshold", type=float, default=0.95, help="thumbnail cosine from which a face is a near duplicate"
    )
    p.add_argument(
        "--compare", type=Path, default=None, help="a second checkpoint: paired test on the deduplicated splits"
    )
    p.add_argument(
        "--write-card-json", type=Path, default=None, help="also write the card's figures (models/<model>.json)"
    )
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


@dataclass(frozen=True)
class Readings:
    """One model's raw outputs on one table, every ten-crop view: the single crop is the centre view."""

    logits: np.ndarray  # (10, N, 7)
    vads: np.ndarray  # (10, N, 3)

    @classmethod
    def of(cls, model: VADNet, table: FaceTable, device: torch.device) -> Readings:
        return cls(*predict_logits(model, table.pixels, use_ten_crop=True, device=device))

    def view(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Logits (views, N, 7) and V, A, D (N, 3) of "single_crop" or "ten_crop"."""
        if name == "single_crop":
            centre = slice(CENTRE_VIEW, CENTRE_VIEW + 1)
            return self.logits[centre], view_vad(self.vads[centre])
        return self.logits, view_vad(self.vads)

    def correct(self, name: str, labels: np.ndarray, temperature: float) -> np.ndarray:
        return view_probabilities(self.view(name)[0], temperature).argmax(1) == labels


def with_interval(metrics: dict, correct: np.ndarray) -> dict:
    b = bootstrap_accuracy(correct)
    return metrics | {"accuracy_interval": [b["low"], b["high"]]}


def calibration_figures(logits: np.ndarray, labels: np.ndarray, temperature: float) -> dict:
    """ECE and NLL of the raw softmax (T = 1) and after dividing the logits by `temperature`."""
    before, after = view_probabilities(logits), view_probabilities(logits, temperature)
    return {
        "ece_before": expected_calibration_error(before, labels),
        "ece_after": expected_calibration_error(after, labels),
        "nll_before": negative_log_likelihood(logits, labels),
        "nll_after": negative_log_likelihood(logits, labels, temperature),
    }


def split_report(
    readings: Readings, table: FaceTable, dup: DuplicateReport, rules: str, temperature: float, calibrated_t: float
) -> dict:
    """Per view: the whole split's figures (with the reading temperature, as the app reads) and the same on the
    deduplicated rows; calibration before and after `calibrated_t`."""
    keep = dup.keep
    entry: dict = {"deduplication": {"rule": dup.rule, "threshold": dup.threshold, **dup.counts}}
    for view in VIEWS:
        logits, vad = readings.view(view)
        predicted = view_probabilities(logits, temperature).argmax(1)
        correct = predicted == table.labels
        m = with_interval(classification_metrics(table.labels, predicted), correct)
        if table.vad is not None:
            m["vad_all"] = regression_metrics(vad, table.vad)
        m["consistency_violation_rate"] = consistency_violation_rate(
            torch.as_tensor(predicted), torch.as_tensor(vad), rules
        )
        m["deduplicated"] = with_interval(classification_metrics(table.labels[keep], predicted[keep]), correct[keep])
        m["calibration"] = calibration_figures(logits, table.labels, calibrated_t) | {
            "deduplicated": calibration_figures(logits[:, keep], table.labels[keep], calibrated_t)
        }
        entry[view] = m
    return entry


def human_report(
    model: VADNet, human: FaceTable, training_keys: set[bytes], temperature: float, device: torch.device
) -> dict:
    """The human VAD rows: V/A/D metrics with bootstrap intervals of Pearson r, accuracy (read at `temperature`),
    and how many rows have a pixel twin among the Training faces."""
    if human.vad is None:
        raise ValueError("the human VAD table has no VAD labels")
    readings = Readings.of(model, human, device)
    out: dict = {"training_twins": sum(pixel_key(p) in training_keys for p in human.pixels)}
    for view in VIEWS:
        logits, vad = readings.view(view)
        m = regression_metrics(vad, human.vad)
        for d, name in enumerate(VAD_DIMS):
            b = bootstrap_pearson(vad[:, d], human.vad[:, d])
            m[name]["pearson_interval"] = [b["low"], b["high"]]
        out[view] = m | {
            "accuracy": float((view_probabilities(logits, temperature).argmax(1) == human.labels).mean()),
            "n": len(human),
        }
    return out


def evaluate(args: argparse.Namespace) -> dict:
    device = resolve_device(args.device)
    model, meta = load_model(args.checkpoint)
    model.to(device).to(memory_format=torch.channels_last)
    training = meta.get("training", {})
    rules = args.rules or training.get("rules", DEFAULT_RULES)
    # the derived targets the model was trained towards (checkpoints from before v2 targets used the prior)
    fer, _ = load_fer_with_vad(args.data, rules, training.get("vad_target", "prior"))
    args.out.mkdir(parents=True, exist_ok=True)
    temperature = checkpoint_temperature(meta)
    splits = list(dict.fromkeys(args.splits))
    readings = {s: Readings.of(model, fer.split(s), device) for s in dict.fromkeys([*splits, CALIBRATION_SPLIT])}
    if "calibration" in meta:
        calibrated_t = temperature
        source = f"stored in the checkpoint (fitted on {meta['calibration'].get('fitted_on', '?')})"
    elif len(readings[CALIBRATION_SPLIT].logits[0]):
        labels = fer.split(CALIBRATION_SPLIT).labels
        calibrated_t = fit_temperature(readings[CALIBRATION_SPLIT].logits, labels)
        source = f"fitted in this run on {CALIBRATION_SPLIT}, ten-crop (the checkpoint stores none)"
    else:
        calibrated_t = temperature
        source = f"none: the checkpoint stores none and the data has no {CALIBRATION_SPLIT} faces to fit one on"
    report: dict = {
        "checkpoint": str(args.checkpoint),
        "model_version": meta.get("model_version"),
        "rules": rules,
        "vad_scale": "−1…+1 (human labels ÷ 2)",
        "intervals": f"95% percentile bootstrap over faces, {BOOTSTRAP_RESAMPLES} resamples, seed {BOOTSTRAP_SEED}",
        "reading_temperature": temperature,
        "calibration": {"temperature": calibrated_t, "source": source, "ece_bins": ECE_BINS},
        "splits": {},
    }
    duplicates = {s: training_duplicates(fer, s, args.near_threshold) for s in splits}
    for split in splits:
        table = fer.split(split)
        entry = split_report(readings[split], table, duplicates[split], rules, temperature, calibrated_t)
        save_confusion_png(
            np.array(entry["ten_crop"]["confusion_matrix"]),
            f"FER2013 {split}, ten-crop (n={len(table)})",
            args.out / f"confusion_{split}.png",
        )
        logits = readings[split].logits
        save_reliability_diagram(
            {
                "raw softmax": (view_probabilities(logits), table.labels),
                f"T = {calibrated_t:.3f}": (view_probabilities(logits, calibrated_t), table.labels),
            },
            f"FER2013 {split}, ten-crop (n={len(table)})",
            args.out / f"reliability_{split}.png",
        )
        report["splits"][split] = entry
    human_csv = args.data / "vad_seed" / "public_test.csv"
    if human_csv.exists():
        training_keys = {pixel_key(p) for p in fer.split("Training").pixels}
        human = load_authors_vad_csv(human_csv, "PublicTest")
        report["human_vad_public_test"] = human_report(model, human, training_keys, temperature, device)
    if args.compare is not None:
        report["compare"] = compare(args.compare, fer, duplicates, readings, temperature, device)
    (args.out / "metrics.json").write_text(json.dumps(report, indent=1))
    (args.out / "report.md").write_text(markdown_report(report))
    if args.write_card_json is not None:
        card = card_figures(report, f"python scripts/evaluate.py --data {args.data} ({device.type})")
        args.write_card_json.write_text(json.dumps(card, indent=1) + "\n")
    return report


def compare(
    other_path: Path,
    fer: FaceTable,
    duplicates: dict[str, DuplicateReport],
    readings: dict[str, Readings],
    temperature: float,
    device: torch.device,
) -> dict:
    """This checkpoint (a) against `other_path` (b), ten-crop, each at its own reading temperature, on the same
    faces: McNemar's test and the bootstrap interval of the accuracy difference, deduplicated and whole."""
    other, other_meta = load_model(other_path)
    other.to(device).to(memory_format=torch.channels_last)
    other_t = checkpoint_temperature(other_meta)
    out: dict = {"checkpoint": str(other_path), "model_version": other_meta.get("model_version"), "splits": {}}
    for split, dup in duplicates.items():
        table = fer.split(split)
        a = readings[split].correct("ten_crop", table.labels, temperature)
        b = Readings.of(other, table, device).correct("ten_crop", table.labels, other_t)
        out["splits"][split] = {
            "deduplicated": paired_comparison(a[dup.keep], b[dup.keep]),
            "whole": paired_comparison(a, b),
        }
    return out


def main(argv: list[str] | None = None) -> dict:
    """`scripts/evaluate.py`: evaluate with these command-line flags; the report is also written to --out."""
    return evaluate(build_parser().parse_args(argv))
