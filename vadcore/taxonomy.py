"""Names, scales, class colours and PAD prototypes shared by every part of VAD Lens (numpy only, no torch)."""

from __future__ import annotations

import numpy as np

# FER2013 class ids, in this order everywhere (model outputs, tables, checkpoints).
CLASS_NAMES: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
NUM_CLASSES = len(CLASS_NAMES)

VAD_DIMS: tuple[str, ...] = ("valence", "arousal", "dominance")

# Dominance is experimental wherever it is shown (app, charts, exports): few faces carry a human rating of it, so
# its training target is derived from the emotion class, and it agrees least with people's ratings.
DOMINANCE_LABEL = "dominance (experimental)"
DOMINANCE_HELP = (
    "Dominance is experimental: derived from the emotion class rather than annotated face by face, and less "
    "reliable than valence and arousal."
)
# Column names of CSV exports of readings: the experimental dimension says so in its header.
EXPORT_COLUMNS = {"dominance": "dominance_experimental"}

# The model's VAD scale is PAD's −1…+1 (Russell & Mehrabian). The authors' human labels are
# integers on −2…+2; they are divided by HUMAN_VAD_SCALE on the way in.
VAD_MIN, VAD_MAX = -1.0, 1.0
HUMAN_VAD_SCALE = 2.0

FACE_SIZE = 48  # FER2013 faces are 48×48 grey

# One colour per class, in CLASS_NAMES order (colour-blind-safe Okabe–Ito palette).
CLASS_COLOURS: dict[str, str] = {
    "angry": "#D55E00",
    "disgust": "#009E73",
    "fear": "#CC79A7",
    "happy": "#E69F00",
    "sad": "#0072B2",
    "surprise": "#56B4E9",
    "neutral": "#999999",
}

# Russell & Mehrabian (1977) PAD, as widely reproduced; rows in CLASS_NAMES order. The prior of the VAD
# targets (vadcore.vad_targets) and the anchors the figures draw. Read-only: every user shares this array.
RUSSELL_MEHRABIAN_PAD = np.array(
    [
        [-0.51, 0.59, 0.25],  # angry
        [-0.60, 0.35, 0.11],  # disgust(ed)
        [-0.64, 0.60, -0.43],  # fear(ful)
        [0.81, 0.51, 0.46],  # happy
        [-0.63, -0.27, -0.33],  # sad
        [0.40, 0.67, -0.13],  # surprise(d)
        [0.0, 0.0, 0.0],  # neutral: a convention, not a norm
    ],
    dtype=np.float32,
)
RUSSELL_MEHRABIAN_PAD.setflags(write=False)
