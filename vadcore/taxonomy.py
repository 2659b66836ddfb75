"""Names and scales shared by every part of VAD Lens."""

from __future__ import annotations

# FER2013 class ids, in this order everywhere (model outputs, tables, checkpoints).
CLASS_NAMES: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
NUM_CLASSES = len(CLASS_NAMES)

VAD_DIMS: tuple[str, ...] = ("valence", "arousal", "dominance")

# The model's VAD scale is PAD's −1…+1 (Russell & Mehrabian). The authors' human labels are
# integers on −2…+2; they are divided by HUMAN_VAD_SCALE on the way in.
VAD_MIN, VAD_MAX = -1.0, 1.0
HUMAN_VAD_SCALE = 2.0

FACE_SIZE = 48  # FER2013 faces are 48×48 grey
