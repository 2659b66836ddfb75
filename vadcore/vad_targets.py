"""Per-face VAD targets for FER2013: human labels where they exist, a calibrated prior elsewhere.

Only 230 FER2013 faces carry human VAD labels (the paper authors' `vad_seed/`). For the rest, a
target is derived, never presented as annotation:
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

import numpy as np
import torch

from vadcore.consistency import violations
from vadcore.data import FERPLUS_COLUMNS, FERPLUS_TO_CLASS, FaceTable, pixel_key
from vadcore.taxonomy import CLASS_NAMES, NUM_CLASSES, RUSSELL_MEHRABIAN_PAD

SHRINKAGE_K = 10.0


@dataclass
class VADPrior:
    prototypes: np.ndarray  # (7, 3) on −1…+1
    human_counts: np.ndarray  # (7,) human rows per class used in calibration

    def expected(self, class_probs: np.ndarray) -> np.ndarray:
        return class_probs @ self.prototypes

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
    fer: FaceTable, votes: np.ndarray, prior: VADPrior, human_tables: list[FaceTable]
) -> dict[str, int]:
    """Fill `fer.vad` and `fer.vad_is_human` in place; returns how many faces got human labels."""
    fer.vad = prior.expected(vote_distribution(votes, fer.fer_index, fer.labels)).astype(np.float32)
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
