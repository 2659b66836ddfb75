"""Confidence that means what it says: temperature scaling, expected calibration error, reliability diagrams.

One temperature T divides every logit before the softmax (per view; ten-crop then averages the ten views'
probabilities), fitted by minimising the negative log-likelihood of the true labels on held-out faces
(PublicTest). T > 1 softens an over-confident model; the predicted class of a single view never changes.
ECE: faces put into 15 equal-width bins of their top-class probability; the bins' |accuracy − mean confidence|,
weighted by the share of faces in each bin.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch

ECE_BINS = 15
CALIBRATION_SPLIT = "PublicTest"  # held out from training, and not the split the card's headline is measured on
# Search range of 1/T: T from 0.05 to 20, far beyond what a trained classifier needs.
_INVERSE_T_RANGE = (0.05, 20.0)


def view_probabilities(view_logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """(views, N, classes) logits → (N, classes) probabilities: softmax(logits / T) averaged over the views."""
    logits = torch.as_tensor(view_logits, dtype=torch.float32)
    return (logits / temperature).softmax(-1).mean(0).numpy()


def negative_log_likelihood(view_logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> float:
    probs = view_probabilities(view_logits, temperature)
    return float(-np.log(np.clip(probs[np.arange(len(labels)), labels], 1e-12, None)).mean())


def fit_temperature(view_logits: np.ndarray, labels: np.ndarray, *, tolerance: float = 1e-4) -> float:
    """The T that minimises the NLL of `labels`, by golden-section search over 1/T (the single-view NLL is
    convex in 1/T, so the search finds its one minimum)."""
    if len(labels) == 0:
        raise ValueError("fit_temperature needs at least one labelled face")
    lo, hi = _INVERSE_T_RANGE
    ratio = (math.sqrt(5) - 1) / 2
    a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
    fa, fb = (negative_log_likelihood(view_logits, labels, 1 / beta) for beta in (a, b))
    while hi - lo > tolerance:
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - ratio * (hi - lo)
            fa = negative_log_likelihood(view_logits, labels, 1 / a)
        else:
            lo, a, fa = a, b, fb
            b = lo + ratio * (hi - lo)
            fb = negative_log_likelihood(view_logits, labels, 1 / b)
    return float(2 / (lo + hi))


def reliability_bins(probs: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> list[dict]:
    """Per equal-width bin of top-class probability: its range, face count, accuracy and mean confidence."""
    confidence = probs.max(1)
    correct = probs.argmax(1) == labels
    # a confidence of exactly 1.0 belongs to the last bin
    which = np.minimum((confidence * bins).astype(int), bins - 1)
    out = []
    for i in range(bins):
        inside = which == i
        n = int(inside.sum())
        out.append(
            {
                "low": i / bins,
                "high": (i + 1) / bins,
                "n": n,
                "accuracy": float(correct[inside].mean()) if n else float("nan"),
                "confidence": float(confidence[inside].mean()) if n else float("nan"),
            }
        )
    return out


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> float:
    table = reliability_bins(probs, labels, bins)
    total = sum(b["n"] for b in table)
    if total == 0:
        return float("nan")
    return float(sum(b["n"] / total * abs(b["accuracy"] - b["confidence"]) for b in table if b["n"]))


def save_reliability_diagram(curves: Mapping[str, tuple[np.ndarray, np.ndarray]], title: str, path: Path) -> None:
    """One PNG: for each named (probabilities, labels) pair, accuracy against mean confidence per bin, with the
    diagonal of perfect calibration and each curve's ECE in the legend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.4, 5.2))
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="perfectly calibrated")
    for name, (probs, labels) in curves.items():
        used = [b for b in reliability_bins(probs, labels) if b["n"]]
        ece = expected_calibration_error(probs, labels)
        ax.plot(
            [b["confidence"] for b in used],
            [b["accuracy"] for b in used],
            marker="o",
            markersize=4,
            label=f"{name} (ECE {ece:.1%})",
        )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel(f"top-class probability (mean in each of {ECE_BINS} bins)")
    ax.set_ylabel("accuracy in the bin")
    ax.set_title(title)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
