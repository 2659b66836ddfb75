"""The consistency-loss study: what one training run leaves behind, and the paired analysis across seeds.

A run is one cell (mode, consistency, λ) trained with one seed at one budget. Its result file keeps what the
analysis needs to pair runs on the same faces: every face's verdict on deduplicated PrivateTest (single crop),
the violated-sign flag per face, and V, A, D on the 31 public human rows. Seeds are the unit of replication:
a cell is compared with the baseline seed by seed (same seed, same faces), and the mean of those paired
differences gets a t interval over seeds.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from scipy import stats

from vadcore.consistency import violations
from vadcore.data import FaceTable
from vadcore.inference import predict_arrays
from vadcore.losses import MODES, LossConfig
from vadcore.metrics import bootstrap_pearson, ccc, paired_comparison, pearson
from vadcore.model import VADNet
from vadcore.taxonomy import VAD_DIMS

RESULT_FILE = "result.json"


@dataclass(frozen=True)
class Cell:
    """One condition of the study: the heads trained, and the consistency term with its weight."""

    mode: str = "vad"
    consistency: str = "soft"
    lam: float = 0.1

    def __post_init__(self) -> None:
        LossConfig(mode=self.mode, consistency=self.consistency, lam=self.lam)  # the loss's own check of both

    @property
    def name(self) -> str:
        base = f"{self.mode}-{self.consistency}"
        return base if self.consistency == "none" else f"{base}-{self.lam:g}"

    def train_args(self) -> list[str]:
        return ["--mode", self.mode, "--consistency", self.consistency, "--lambda", str(self.lam)]


@dataclass(frozen=True)
class Budget:
    """How long every run trains: the shipped recipe (one-cycle SGD, batch 128) on a subset, for some epochs."""

    stem: str = "torchvision"
    limit_train: int = 4000
    epochs: int = 8
    lr: float = 0.1
    batch_size: int = 128

    @property
    def tag(self) -> str:
        faces = self.limit_train or "all"
        return f"{self.stem}-{faces}x{self.epochs}-lr{self.lr:g}"

    def train_args(self) -> list[str]:
        return [
            "--stem",
            self.stem,
            "--limit-train",
            str(self.limit_train),
            "--epochs",
            str(self.epochs),
            "--schedule",
            "onecycle",
            "--lr",
            str(self.lr),
            "--batch-size",
            str(self.batch_size),
            "--clip-grad",
            "5",
            "--limit-val",  # the study reads its own test faces; the per-epoch check is only a progress sign
            "512",
        ]


def run_dir(root: Path, budget: Budget, cell: Cell, seed: int, *, repeat: bool = False) -> Path:
    """Where one run trains and writes its result; a repeat of the same cell and seed gets its own folder."""
    return root / budget.tag / f"{cell.name}-s{seed}{'-repeat' if repeat else ''}"


def faces_checksum(pixels: np.ndarray) -> str:
    """Identifies the test faces, so that runs are only ever paired on the same ones."""
    return hashlib.sha256(np.ascontiguousarray(pixels).tobytes()).hexdigest()[:16]


def run_result(
    model: VADNet,
    *,
    cell: Cell,
    seed: int,
    budget: Budget,
    test: FaceTable,
    human: FaceTable,
    class_means: np.ndarray,
    rules: str,
    device: torch.device,
) -> dict:
    """Read the deduplicated test faces and the human rows with a trained model (single crop).

    `class_means` (7, 3) are the training targets' mean V, A, D per class: the human rows are also scored as if
    the VAD head had output its predicted class's mean, a head that follows the class and nothing else (its
    violation rate is near zero, so the study shows its agreement with people beside the real head's)."""
    if human.vad is None:
        raise ValueError("run_result needs human V/A/D labels on the human rows")
    dims = MODES[cell.mode]
    probs, vad = predict_arrays(model, test.pixels, device=device)
    predicted = probs.argmax(1)
    violated = violations(torch.as_tensor(predicted), torch.as_tensor(vad), rules, dims).any(1).numpy()
    human_probs, human_vad = predict_arrays(model, human.pixels, device=device)
    return {
        "cell": cell.name,
        **asdict(cell),
        "seed": seed,
        "budget": asdict(budget) | {"tag": budget.tag},
        "rules": rules,
        "test_faces": len(test),
        "test_checksum": faces_checksum(test.pixels),
        "correct": (predicted == test.labels).astype(int).tolist(),
        "violated": violated.astype(int).tolist(),
        "human_vad": np.round(human_vad, 5).tolist(),
        "human_prototype_vad": np.round(class_means[human_probs.argmax(1)], 5).tolist(),
        "human_target": human.vad.tolist(),
        "dims": list(dims),
    }


def load_results(folder: Path) -> list[dict]:
    """Every run's result under one budget folder, repeats included (marked by their folder name)."""
    results = []
    for path in sorted(folder.glob(f"*/{RESULT_FILE}")):
        result = json.loads(path.read_text())
        result["repeat"] = path.parent.name.endswith("-repeat")
        results.append(result)
    return results


def t_interval(values: list[float] | np.ndarray, level: float = 0.95) -> dict:
    """Mean of per-seed values with Student's t interval (n − 1 degrees of freedom); no interval for one value."""
    x = np.asarray(values, dtype=np.float64)
    n = len(x)
    mean = float(x.mean()) if n else math.nan
    if n < 2:
        return {"mean": mean, "low": math.nan, "high": math.nan, "n": n}
    half = float(stats.t.ppf(0.5 + level / 2, n - 1) * x.std(ddof=1) / math.sqrt(n))
    return {"mean": mean, "low": mean - half, "high": mean + half, "n": n}


def run_figures(result: dict) -> dict:
    """One run's accuracy, violation rate and agreement with people (r with its bootstrap interval, CCC)."""
    pred, proto, target = (
        np.asarray(result[k], np.float64) for k in ("human_vad", "human_prototype_vad", "human_target")
    )
    figures: dict = {
        "accuracy": float(np.mean(result["correct"])),
        "violation_rate": float(np.mean(result["violated"])),
    }
    for d in result["dims"]:
        name = VAD_DIMS[d]
        figures[f"r_{name}"] = bootstrap_pearson(pred[:, d], target[:, d])
        figures[f"ccc_{name}"] = ccc(pred[:, d], target[:, d])
        figures[f"prototype_r_{name}"] = pearson(proto[:, d], target[:, d])
    return figures


def _paired_seed(result: dict, baseline: dict, a: dict, b: dict) -> dict:
    """`result` minus `baseline` (the same seed), `a` and `b` being their `run_figures`."""
    if result["test_checksum"] != baseline["test_checksum"]:
        raise ValueError(f"{result['cell']} seed {result['seed']} was tested on other faces than the baseline")
    diff = {
        "seed": result["seed"],
        "accuracy": paired_comparison(np.asarray(result["correct"], bool), np.asarray(baseline["correct"], bool)),
        "violation_rate": a["violation_rate"] - b["violation_rate"],
    }
    for d in result["dims"]:
        name = VAD_DIMS[d]
        diff[f"r_{name}"] = a[f"r_{name}"]["pearson"] - b[f"r_{name}"]["pearson"]
        diff[f"ccc_{name}"] = a[f"ccc_{name}"] - b[f"ccc_{name}"]
    return diff


def analyse(results: list[dict], baseline: str) -> dict:
    """Per cell: figures per seed and their means; against `baseline`: paired differences per seed, with a t
    interval over seeds; and how far each repeated run landed from its first run."""
    first = [r for r in results if not r["repeat"]]
    cells = sorted({r["cell"] for r in first}, key=lambda c: (c != baseline, c))
    if baseline not in cells:
        raise ValueError(f"no run of the baseline cell {baseline!r}; cells found: {cells}")
    by_cell = {c: {r["seed"]: r for r in first if r["cell"] == c} for c in cells}
    out: dict = {"baseline": baseline, "cells": {}, "repeats": []}
    figures_by_cell: dict[str, dict[int, dict]] = {}
    for cell in cells:  # the baseline first: its figures are there when the others are paired with it
        runs = by_cell[cell]
        figures = figures_by_cell[cell] = {seed: run_figures(r) for seed, r in sorted(runs.items())}
        keys = [k for k in next(iter(figures.values())) if not k.startswith("prototype")]
        summary = {
            k: t_interval([f[k]["pearson"] if isinstance(f[k], dict) else f[k] for f in figures.values()]) for k in keys
        }
        prototype = {
            k: t_interval([f[k] for f in figures.values()])
            for k in next(iter(figures.values()))
            if k.startswith("prototype")
        }
        entry: dict = {"seeds": sorted(runs), "summary": summary, "prototype": prototype, "per_seed": figures}
        if cell != baseline:
            paired = [
                _paired_seed(runs[s], by_cell[baseline][s], figures[s], figures_by_cell[baseline][s])
                for s in sorted(runs)
                if s in by_cell[baseline]
            ]
            metric_keys = [k for k in paired[0] if k != "seed"] if paired else []
            entry["paired"] = paired
            entry["paired_summary"] = {
                k: t_interval([p[k]["difference"] if k == "accuracy" else p[k] for p in paired]) for k in metric_keys
            }
        out["cells"][cell] = entry
    for r in results:
        if r["repeat"] and r["seed"] in by_cell.get(r["cell"], {}):
            original = by_cell[r["cell"]][r["seed"]]
            out["repeats"].append(
                {
                    "cell": r["cell"],
                    "seed": r["seed"],
                    "accuracy_first": float(np.mean(original["correct"])),
                    "accuracy_repeat": float(np.mean(r["correct"])),
                    "verdicts_changed": int(np.sum(np.asarray(original["correct"]) != np.asarray(r["correct"]))),
                }
            )
    return out
