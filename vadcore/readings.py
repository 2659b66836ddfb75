"""What the engine reports for one face."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FaceReading:
    """One face's emotion class and position in VAD space (VAD on the −1…+1 scale).

    `box` is (x, y, width, height) in pixels of the EXIF-upright photo, or None when the input was
    already a face crop. `consistency_violations` names the dimensions whose sign contradicts the
    predicted class under the paper's equations 5/9/13 (empty when the reading is consistent).
    `quality_flags` are the reasons to distrust it (`vadcore.quality`: small, blurred, turned, cut off, low
    confidence); empty when nothing stands out.
    """

    label: str
    probabilities: dict[str, float]
    valence: float
    arousal: float
    dominance: float
    model_version: str
    consistency_violations: tuple[str, ...] = ()
    box: tuple[int, int, int, int] | None = None
    detection_score: float | None = None
    quality_flags: tuple[str, ...] = ()

    @property
    def confidence(self) -> float:
        return self.probabilities[self.label]

    @property
    def is_consistent(self) -> bool:
        return not self.consistency_violations

    @property
    def is_flagged(self) -> bool:
        return bool(self.quality_flags)
