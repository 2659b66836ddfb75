"""Evaluation metrics, each on a stated scale.

Classification: accuracy (eq. 19), per-class recall, confusion matrix. Regression, per dimension on the
model's −1…+1 scale: MSE, RMSE, Pearson r, Lin's CCC. The paper's "average loss" (eq. 20–23) is
computed as its code does — the sum over batches of the batch-mean MSE, divided by the number of
faces — on the authors' −2…+2 scale with batch 16, so figures can be set beside its Table 3.
"""

from __future__ import annotations

import numpy as np

from vadcore.taxonomy import CLASS_NAMES, HUMAN_VAD_SCALE, NUM_CLASSES, VAD_DIMS

PAPER_BATCH_SIZE = 16


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """Rows: true class; columns: predicted class."""
    cm = np.zeros((NUM_CLASSES, NUM_CLASSES), dtype=np.int64)
    np.add.at(cm, (labels, predicted), 1)
    return cm


def classification_metrics(labels: np.ndarray, predicted: np.ndarray) -> dict:
    cm = confusion_matrix(labels, predicted)
    support = cm.sum(1)
    recall = np.divide(np.diag(cm), support, out=np.full(NUM_CLASSES, np.nan), where=support > 0)
    return {
        "accuracy": float((labels == predicted).mean()),
        "n": int(len(labels)),
        "recall": {c: float(r) for c, r in zip(CLASS_NAMES, recall)},
        "confusion_matrix": cm.tolist(),
    }


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    if len(x) < 2 or x.std() == 0 or y.std() == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1])


def ccc(x: np.ndarray, y: np.ndarray) -> float:
    """Lin's concordance correlation coefficient: agreement in correlation, mean and scale."""
    if len(x) < 2:
        return float("nan")
    mx, my = x.mean(), y.mean()
    cov = ((x - mx) * (y - my)).mean()
    return float(2 * cov / (x.var() + y.var() + (mx - my) ** 2))


def paper_average_loss(pred: np.ndarray, target: np.ndarray, batch_size: int = PAPER_BATCH_SIZE) -> float:
    """Σ_batches mean((pred−target)²) ÷ N, on the authors' −2…+2 scale (inputs on −1…+1)."""
    p, t = pred * HUMAN_VAD_SCALE, target * HUMAN_VAD_SCALE
    total = sum(
        float(((p[i : i + batch_size] - t[i : i + batch_size]) ** 2).mean()) for i in range(0, len(p), batch_size)
    )
    return total / len(p)


def regression_metrics(pred: np.ndarray, target: np.ndarray, dims: tuple[int, ...] = (0, 1, 2)) -> dict:
    """Per dimension; rows whose target is NaN are left out."""
    out = {}
    for d in dims:
        ok = ~np.isnan(target[:, d])
        p, t = pred[ok, d], target[ok, d]
        mse = float(((p - t) ** 2).mean()) if ok.any() else float("nan")
        out[VAD_DIMS[d]] = {
            "n": int(ok.sum()),
            "mse": mse,
            "rmse": float(np.sqrt(mse)),
            "pearson": pearson(p, t),
            "ccc": ccc(p, t),
            "paper_average_loss": paper_average_loss(p, t) if ok.any() else float("nan"),
        }
    return out
