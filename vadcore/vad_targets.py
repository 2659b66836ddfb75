"""Per-face VAD targets for FER2013: human labels where they exist, a derived target elsewhere.

Only 230 FER2013 faces carry human VAD labels (the paper authors' `vad_seed/`). For the rest, a
target is derived, never presented as annotation. Two derivations exist:

**Vote regression** (v2, the default since engine v2): a ridge regression from a face's FER+ vote shares
(8 columns, contempt included) and its FER2013 label (one-hot) to V, A, D, fitted on the human rows that are
FER2013 Training faces only. Cross-validated over all human rows it reaches Pearson r 0.92 / 0.79 / 0.82 against
0.86 / 0.73 / 0.71 for the prior below (`cross_validated_targets`; README, "VAD targets").

**Calibrated prior** (v1, `--vad-target prior`):
1. Prior: each class's PAD position from Russell & Mehrabian (1977), as reproduced in
   ../shared/notes/vad-targets.md (−1…+1). Neutral is placed at the origin by convention.
2. Calibration: each class prototype is shrunk toward the mean human label of that class on the
   authors' *training* rows that are FER2013 Training faces: (n·human_mean + k·prior) / (n + k).
3. Per face: the expected prototype under the face's FER+ vote distribution over the 7 classes
   (contempt, unknown and not-a-face votes are dropped), so ambiguous faces land in between.
   A face without usable votes takes its FER2013 class prototype.
4. A face with a human label takes that label (÷2 onto −1…+1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from vadcore.consistency import violations
from vadcore.data import FERPLUS_COLUMNS, FERPLUS_TO_CLASS, FaceTable, pixel_key
from vadcore.taxonomy import CLASS_NAMES, NUM_CLASSES, RUSSELL_MEHRABIAN_PAD

SHRINKAGE_K = 10.0
# Ridge penalty of the vote regression, on standardised-free features (shares and one-hot are all on 0…1):
# 10-fold r over the 227 joined human rows is flat from 0.3 to 3 (0.920–0.923 V); 1.0 sits in the middle.
RIDGE_ALPHA = 1.0
VAD_TARGET_KINDS = ("regression", "prior")


class VADTargetModel(Protocol):
    def targets(self, votes: np.ndarray, fer_index: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """(N, 3) derived V, A, D on −1…+1 for faces given by their FER2013 row and label."""
        ...


@dataclass
class VADPrior:
    prototypes: np.ndarray  # (7, 3) on −1…+1
    human_counts: np.ndarray  # (7,) human rows per class used in calibration

    def expected(self, class_probs: np.ndarray) -> np.ndarray:
        return class_probs @ self.prototypes

    def targets(self, votes: np.ndarray, fer_index: np.ndarray, labels: np.ndarray) -> np.ndarray:
        return self.expected(vote_distribution(votes, fer_index, labels))

    def sign_check(self, rules: str) -> list[str]:
        """Classes whose prototype breaks the rule set (an empty list means all signs agree)."""
        v = violations(torch.arange(NUM_CLASSES), torch.as_tensor(self.prototypes), rules)
        return [
            f"{CLASS_NAMES[c]}: {', '.join(d for d, bad in zip('VAD', v[c]) if bad)}"
            for c in range(NUM_CLASSES)
            if v[c].any()
        ]


def calibrate_prior(human: FaceTable, k: float = SHRINKAGE_K) -> VADPrior:
    """Shrink the R&M prototypes toward the per-class means of human labels (training rows only)."""
    if human.vad is None:
        raise ValueError("calibrating the prior needs a table with human VAD labels")
    protos = RUSSELL_MEHRABIAN_PAD.copy()
    counts = np.zeros(NUM_CLASSES, dtype=np.int64)
    for c in range(NUM_CLASSES):
        rows = human.vad[human.labels == c]
        counts[c] = len(rows)
        if len(rows):
            protos[c] = (len(rows) * rows.mean(0) + k * protos[c]) / (len(rows) + k)
    return VADPrior(protos, counts)


def vote_label_features(votes: np.ndarray, fer_index: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(N, 15): the face's share of each of the 8 FER+ emotion votes, then its FER2013 label one-hot.

    A face without emotion votes gets its label as its only vote (as in `vote_distribution`)."""
    shares = np.zeros((len(labels), len(FERPLUS_COLUMNS)), dtype=np.float64)
    known = (fer_index >= 0) & (fer_index < len(votes))
    shares[known] = votes[fer_index[known]]
    total = shares.sum(1, keepdims=True)
    has_votes = total[:, 0] > 0
    shares[has_votes] /= total[has_votes]
    columns = {name: j for j, name in enumerate(FERPLUS_COLUMNS)}
    class_column = {c: columns[name] for name, c in FERPLUS_TO_CLASS.items()}
    for i in np.flatnonzero(~has_votes):
        shares[i, class_column[int(labels[i])]] = 1.0
    return np.hstack([shares, np.eye(NUM_CLASSES)[labels]])


@dataclass
class VoteRegression:
    """Linear map from `vote_label_features` to V, A, D (−1…+1), clipped to the scale."""

    weights: np.ndarray  # (15, 3)
    intercept: np.ndarray  # (3,)
    n_rows: int  # human rows it was fitted on

    def predict(self, features: np.ndarray) -> np.ndarray:
        return np.clip(features @ self.weights + self.intercept, -1.0, 1.0).astype(np.float32)

    def targets(self, votes: np.ndarray, fer_index: np.ndarray, labels: np.ndarray) -> np.ndarray:
        return self.predict(vote_label_features(votes, fer_index, labels))


def fit_vote_regression(features: np.ndarray, vad: np.ndarray, alpha: float = RIDGE_ALPHA) -> VoteRegression:
    """Ridge regression (intercept unpenalised) of human V, A, D on vote-and-label features."""
    if len(features) != len(vad) or len(features) < 2:
        raise ValueError("the vote regression needs at least 2 human rows, one per feature row")
    mean_x, mean_y = features.mean(0), vad.mean(0)
    centred = features - mean_x
    weights = np.linalg.solve(centred.T @ centred + alpha * np.eye(features.shape[1]), centred.T @ (vad - mean_y))
    return VoteRegression(weights, mean_y - mean_x @ weights, len(features))


def cross_validated_targets(
    features: np.ndarray, vad: np.ndarray, folds: int = 10, seed: int = 0, alpha: float = RIDGE_ALPHA
) -> np.ndarray:
    """Out-of-fold vote-regression targets: each row predicted by a fit that never saw it."""
    fold = np.random.default_rng(seed).permutation(len(vad)) % folds
    out = np.zeros_like(vad, dtype=np.float32)
    for k in range(folds):
        held = fold == k
        out[held] = fit_vote_regression(features[~held], vad[~held], alpha).predict(features[held])
    return out


def human_feature_rows(human: FaceTable, fer: FaceTable, votes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vote-and-label features of the human rows that join a FER2013 face by pixels, and which rows joined."""
    row_of = {pixel_key(p): i for i, p in enumerate(fer.pixels)}
    rows = np.array([row_of.get(pixel_key(p), -1) for p in human.pixels], dtype=np.int64)
    joined = rows >= 0
    features = vote_label_features(votes, fer.fer_index[rows[joined]], human.labels[joined])
    return features, joined


def vote_distribution(votes: np.ndarray, fer_index: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(N, 7) class distribution per face from FER+ votes; one-hot on the FER2013 label without votes."""
    probs = np.zeros((len(labels), NUM_CLASSES), dtype=np.float32)
    known = (fer_index >= 0) & (fer_index < len(votes))
    v = votes[fer_index[known]]
    for j, name in enumerate(FERPLUS_COLUMNS):
        if name in FERPLUS_TO_CLASS:
            probs[known, FERPLUS_TO_CLASS[name]] = v[:, j]
    total = probs.sum(1, keepdims=True)
    has_votes = total[:, 0] > 0
    probs[has_votes] /= total[has_votes]
    probs[~has_votes, labels[~has_votes]] = 1.0
    return probs


def attach_vad_targets(
    fer: FaceTable, votes: np.ndarray, derived: VADTargetModel, human_tables: list[FaceTable]
) -> dict[str, int]:
    """Fill `fer.vad` and `fer.vad_is_human` in place; returns how many faces got human labels."""
    fer.vad = derived.targets(votes, fer.fer_index, fer.labels).astype(np.float32)
    fer.vad_is_human = np.zeros(len(fer), dtype=bool)
    # FER2013 holds pixel-identical twins (some across splits): a human label goes to every copy.
    where: dict[bytes, list[int]] = {}
    for i, p in enumerate(fer.pixels):
        where.setdefault(pixel_key(p), []).append(i)
    joined = 0
    for table in human_tables:
        if table.vad is None:
            raise ValueError("a human table without VAD labels cannot label FER2013 faces")
        for p, vad in zip(table.pixels, table.vad):
            rows = where.get(pixel_key(p), [])
            fer.vad[rows] = vad
            fer.vad_is_human[rows] = True
            joined += bool(rows)
    return {"human_labelled": joined, "derived": int(len(fer) - fer.vad_is_human.sum())}


def human_rows_in_split(human: FaceTable, fer: FaceTable, split: str) -> np.ndarray:
    """Mask of the human-labelled rows whose face lies in the given FER2013 split (joined by pixels)."""
    in_split = {pixel_key(p) for p in fer.pixels[fer.usage == split]}
    return np.array([pixel_key(p) in in_split for p in human.pixels], dtype=bool)
