"""The check a checkpoint must pass before it may serve readings: run it on real faces it was not trained on.

`check_checkpoint(path)` loads the checkpoint (`vadcore.checkpoint`, weights only), reads the 70 committed
FER2013 PrivateTest faces in `models/check_faces_fer2013.csv.gz` (10 per class, the first in file order; the
PrivateTest rows of `tests/fixtures/fer2013_sample.csv.gz`, made by `tests/fixtures/make_fixtures.py`;
FER2013 Training faces are never in it, so a model trained on Training is not checked on what it learnt),
and measures, single crop:

- accuracy against the FER2013 labels;
- VAD sign agreement: of the (face, dimension) pairs that the sign rules (`vadcore.consistency`, the
  checkpoint's rule set) constrain for the face's *labelled* class, the share whose predicted V/A/D sign
  obeys the rule.

Floors, set from measurements on this sample (2026-11-29): the shipped model reaches accuracy 0.614 and sign
agreement 0.876; a 1-epoch smoke model trained on the committed sample (`vadcore.train --smoke`) 0.200 and
0.824. The accuracy floor lies well below the first and well above the second. Sign agreement does not tell
them apart (a VAD head that has learnt only the common signs, V < 0, A > 0, D > 0, already agrees often): its
floor catches a VAD head that is broken or inverted, and the smoke model is refused on accuracy.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from vadcore.checkpoint import CheckpointError, load_model
from vadcore.consistency import DEFAULT_RULES, rule_table, violations
from vadcore.data import DataFormatError, file_sha256, load_fer2013
from vadcore.inference import predict_arrays
from vadcore.settings import PROJECT_ROOT
from vadcore.taxonomy import CLASS_NAMES

logger = logging.getLogger(__name__)

CHECK_FACES = PROJECT_ROOT / "models" / "check_faces_fer2013.csv.gz"
MIN_ACCURACY = 0.45
MIN_SIGN_AGREEMENT = 0.65


@dataclass(frozen=True)
class CheckReport:
    """What the check measured, against which floors, and which checks failed (empty when it passed)."""

    path: str
    sha256: str
    model_version: str  # "" when the file could not be loaded
    faces: int
    accuracy: float | None
    sign_agreement: float | None
    min_accuracy: float = MIN_ACCURACY
    min_sign_agreement: float = MIN_SIGN_AGREEMENT
    failed: tuple[str, ...] = field(default_factory=tuple)  # one plain sentence per failed check

    @property
    def passed(self) -> bool:
        return not self.failed

    def to_dict(self) -> dict:
        return asdict(self) | {"failed": list(self.failed), "passed": self.passed}

    @classmethod
    def from_dict(cls, data: dict) -> CheckReport:
        fields = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        fields["failed"] = tuple(fields.get("failed", ()))
        return cls(**fields)


def sign_agreement(labels: np.ndarray, vad: np.ndarray, rules: str = DEFAULT_RULES) -> float:
    """Share of the rule-constrained (face, dimension) pairs, under each face's labelled class, whose sign obeys."""
    table = rule_table(rules)
    constrained = np.array([[rule is not None for rule in table[name]] for name in CLASS_NAMES])[labels]
    bad = violations(torch.as_tensor(labels), torch.as_tensor(vad), rules).numpy()
    total = int(constrained.sum())
    return float((constrained & ~bad).sum() / total) if total else 0.0


def check_checkpoint(path: str | Path, faces_path: str | Path = CHECK_FACES) -> CheckReport:
    """Load `path` and measure it on the check faces; a file that cannot be loaded fails the check "loads"."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    digest = file_sha256(path)
    try:
        model, meta = load_model(path)
    except CheckpointError as e:
        logger.warning("checkpoint %s failed to load: %s", path, e)
        return CheckReport(str(path), digest, "", 0, None, None, failed=(f"loads: {e}",))
    try:
        table = load_fer2013(faces_path)
    except (DataFormatError, OSError) as e:
        raise RuntimeError(f"the check faces {faces_path} cannot be read: {e}") from e
    probs, vad = predict_arrays(model, table.pixels, device=torch.device("cpu"))
    accuracy = float((probs.argmax(1) == table.labels).mean())
    agreement = sign_agreement(table.labels, vad)  # one rule set for every model, so floors compare alike
    failed = []
    if accuracy < MIN_ACCURACY:
        failed.append(f"accuracy: {accuracy:.1%} on {len(table)} faces, below the floor of {MIN_ACCURACY:.0%}")
    if agreement < MIN_SIGN_AGREEMENT:
        failed.append(f"VAD signs: {agreement:.1%} agree with the label, below the floor of {MIN_SIGN_AGREEMENT:.0%}")
    report = CheckReport(
        str(path), digest, str(meta.get("model_version", "")), len(table), accuracy, agreement, failed=tuple(failed)
    )
    logger.info("checked %s: accuracy %.3f, sign agreement %.3f, passed=%s", path, accuracy, agreement, report.passed)
    return report
