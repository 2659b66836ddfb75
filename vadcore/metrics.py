"""Evaluation metrics, each on a stated scale.

Classification: accuracy (eq. 19), per-class recall, confusion matrix. Regression, per dimension on the
model's −1…+1 scale: MSE, RMSE, Pearson r, Lin's CCC. The paper's "average loss" (eq. 20–23) is
computed as its code does — the sum over batches of the batch-mean MSE, divided by the number of
faces — on the authors' −2…+2 scale with batch 16, so figures can be set beside its Table 3.
Uncertainty: seeded percentile-bootstrap 95% intervals over faces, and McNemar's test for two models read
on the same faces.
"""

from __future__ import annotations

import math

import numpy as np

from vadcore.taxonomy import CLASS_NAMES, HUMAN_VAD_SCALE, NUM_CLASSES, VAD_DIMS

PAPER_BATCH_SIZE = 16
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0


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


def _resample_rows(n: int, resamples: int, seed: int) -> np.ndarray:
    """(resamples, n) row indices drawn with replacement; the same seed gives the same draws."""
    return np.random.default_rng(seed).integers(0, n, size=(resamples, n))


def _percentiles(values: np.ndarray, level: float) -> tuple[float, float]:
    low, high = np.nanpercentile(values, [50 * (1 - level), 50 * (1 + level)])
    return float(low), float(high)


def bootstrap_accuracy(
    correct: np.ndarray, *, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED, level: float = 0.95
) -> dict:
    """Accuracy of a boolean per-face `correct` vector, with its percentile-bootstrap interval over faces."""
    correct = np.asarray(correct, dtype=bool)
    if len(correct) == 0:
        return {"accuracy": float("nan"), "low": float("nan"), "high": float("nan"), "n": 0}
    means = correct[_resample_rows(len(correct), resamples, seed)].mean(1)
    low, high = _percentiles(means, level)
    return {"accuracy": float(correct.mean()), "low": low, "high": high, "n": int(len(correct))}


def bootstrap_pearson(
    x: np.ndarray,
    y: np.ndarray,
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
    level: float = 0.95,
) -> dict:
    """Pearson r with its percentile-bootstrap interval, pairs (x_i, y_i) resampled together (a resample
    without spread in x or y has no r and is left out)."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    idx = _resample_rows(len(x), resamples, seed)
    xs, ys = x[idx], y[idx]
    xs, ys = xs - xs.mean(1, keepdims=True), ys - ys.mean(1, keepdims=True)
    denom = np.sqrt((xs**2).sum(1) * (ys**2).sum(1))
    rs = np.divide((xs * ys).sum(1), denom, out=np.full(len(idx), np.nan), where=denom > 0)
    low, high = _percentiles(rs, level)
    return {"pearson": pearson(x, y), "low": low, "high": high, "n": int(len(x))}


def mcnemar(b: int, c: int) -> dict:
    """McNemar's exact test on the discordant pairs (b: only the first model right, c: only the second), two-sided,
    and its mid-p version (less conservative; the exact p minus the probability of the observed split)."""
    n, k = b + c, min(b, c)
    if n == 0:
        return {"b": b, "c": c, "p_exact": 1.0, "p_mid": 1.0}
    pmf = [math.comb(n, i) / 2**n for i in range(k + 1)]
    p_exact = min(1.0, 2 * sum(pmf))
    p_mid = min(1.0, 2 * (sum(pmf) - 0.5 * pmf[k]))
    return {"b": int(b), "c": int(c), "p_exact": p_exact, "p_mid": p_mid}


def paired_comparison(
    correct_a: np.ndarray,
    correct_b: np.ndarray,
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
    level: float = 0.95,
) -> dict:
    """Two models read on the same faces: accuracy of each, the difference a − b with its paired bootstrap
    interval (faces resampled, both models together), and McNemar's test."""
    a, b = np.asarray(correct_a, bool), np.asarray(correct_b, bool)
    if a.shape != b.shape:
        raise ValueError(f"paired comparison needs the same faces: {a.shape} vs {b.shape}")
    idx = _resample_rows(len(a), resamples, seed)
    low, high = _percentiles(a[idx].mean(1) - b[idx].mean(1), level)
    return {
        "n": int(len(a)),
        "accuracy_a": float(a.mean()),
        "accuracy_b": float(b.mean()),
        "difference": float(a.mean() - b.mean()),
        "difference_low": low,
        "difference_high": high,
        "mcnemar": mcnemar(int((a & ~b).sum()), int((~a & b).sum())),
    }
