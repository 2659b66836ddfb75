"""The check a checkpoint must pass before it may serve readings: run it on real faces it was not trained on.

`check_checkpoint(path)` loads the checkpoint (`vadcore.checkpoint`, weights only), takes the check faces from
the FER2013 CSV in the data directory (`VADLENS_DATA_DIR`, by default ../shared/data): the first 10 PrivateTest
faces of each class in file order, 70 in all (the same rows as the PrivateTest part of
`tests/fixtures/fer2013_sample.csv.gz`; no Training face, so a model trained on Training is not checked on what
it learnt), and measures, single crop:

- accuracy against the FER2013 labels;
- VAD sign agreement: of the (face, dimension) pairs that the sign rules (`vadcore.consistency`, the
  checkpoint's rule set) constrain for the face's *labelled* class, the share whose predicted V/A/D sign
  obeys the rule.

Floors, set from measurements on this sample (2026-11-29): the shipped model reaches accuracy 0.614 and sign
agreement 0.876; a 1-epoch smoke model trained on the committed sample (`vadcore.train --smoke`) 0.200 and
0.824. The accuracy floor lies well below the first and well above the second. Sign agreement does not tell
them apart (a VAD head that has learnt only the common signs, V < 0, A > 0, D > 0, already agrees often): its
floor catches a VAD head that is broken or inverted, and the smoke model is refused on accuracy.

Without the data no check can run: `CheckUnavailable` is raised and nothing is registered (the app then serves
the shipped model).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from vadcore.checkpoint import CheckpointError, load_model
from vadcore.consistency import DEFAULT_RULES, rule_table, violations
from vadcore.data import DataFormatError, FaceTable, fer_csv_path, file_sha256, load_fer2013_cached
from vadcore.inference import predict_arrays
from vadcore.settings import get_settings
from vadcore.taxonomy import CLASS_NAMES

logger = logging.getLogger(__name__)

CHECK_SPLIT = "PrivateTest"
CHECK_FACES_PER_CLASS = 10
MIN_ACCURACY = 0.45
MIN_SIGN_AGREEMENT = 0.65


class CheckUnavailable(RuntimeError):
    """The check faces cannot be read (no FER2013 CSV in the data directory): no model can be checked."""


def check_faces(data_dir: Path | None = None) -> FaceTable:
    """The check faces: the first CHECK_FACES_PER_CLASS faces of each class of CHECK_SPLIT, in file order, from
    the FER2013 CSV under `data_dir` (default: the `VADLENS_DATA_DIR` setting). Raises `CheckUnavailable`."""
    try:
        path = fer_csv_path(data_dir or get_settings().data_dir)
    except FileNotFoundError as e:
        raise CheckUnavailable(f"no check faces: {e} (set VADLENS_DATA_DIR)") from e
    stat = path.stat()
    return _check_faces(str(path.resolve()), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=2)
def _check_faces(path: str, size: int, mtime_ns: int) -> FaceTable:
    # Keyed by size and mtime too: the app checks at every first start of a database, the file rarely changes.
    try:
        table = load_fer2013_cached(Path(path)).split(CHECK_SPLIT)
    except (DataFormatError, OSError) as e:
        raise CheckUnavailable(f"the check faces in {path} cannot be read: {e}") from e
    first = np.concatenate([np.flatnonzero(table.labels == c)[:CHECK_FACES_PER_CLASS] for c in range(len(CLASS_NAMES))])
    return table.subset(np.sort(first))


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


def check_checkpoint(path: str | Path, data_dir: Path | None = None) -> CheckReport:
    """Load `path` and measure it on the check faces (`check_faces(data_dir)`); a file that cannot be loaded
    fails the check "loads". Raises `CheckUnavailable` without the data, before loading anything."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    table = check_faces(data_dir)
    digest = file_sha256(path)
    try:
        model, meta = load_model(path)
    except CheckpointError as e:
        logger.warning("checkpoint %s failed to load: %s", path, e)
        return CheckReport(str(path), digest, "", 0, None, None, failed=(f"loads: {e}",))
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
