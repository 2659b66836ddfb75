"""Batched inference: face crops in, `FaceReading`s out. CPU or CUDA, picked automatically."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from vadcore.calibration import view_probabilities
from vadcore.checkpoint import checkpoint_temperature, load_model
from vadcore.consistency import DEFAULT_RULES, violations
from vadcore.model import VADNet
from vadcore.readings import FaceReading
from vadcore.taxonomy import CLASS_NAMES, FACE_SIZE, VAD_DIMS, VAD_MAX, VAD_MIN
from vadcore.transforms import center_crop, ten_crop, to_tensor

VIEWS = ("single", "mirror", "ten_crop")


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda was asked for, but no CUDA device is available")
    return torch.device(name)


@torch.inference_mode()
def predict_logits(
    model: VADNet,
    faces: np.ndarray,
    *,
    use_ten_crop: bool = False,
    use_mirror: bool = False,
    batch_size: int = 256,
    device: torch.device | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(N, 48, 48) uint8 faces → class logits (views, N, 7) and V, A, D (views, N, 3) of every view (ten-crop:
    `transforms.ten_crop`'s ten; `use_mirror`: the centre crop and its mirror image; else the centre crop)."""
    device = device or next(model.parameters()).device
    size = model.config.input_size
    logits_out, vads = [], []
    for i in range(0, len(faces), batch_size):
        x = to_tensor(faces[i : i + batch_size]).to(device)
        if use_ten_crop:
            views = ten_crop(x, size)
        elif use_mirror:
            centre = center_crop(x, size)
            views = torch.stack([centre, centre.flip(-1)])
        else:
            views = center_crop(x, size).unsqueeze(0)
        logits, vad = model(views.flatten(0, 1).contiguous(memory_format=torch.channels_last))
        logits_out.append(logits.float().view(len(views), -1, logits.shape[1]).cpu())
        vads.append(vad.float().view(len(views), -1, 3).cpu())
    if not logits_out:
        n_views = 10 if use_ten_crop else 2 if use_mirror else 1
        return np.zeros((n_views, 0, len(CLASS_NAMES)), np.float32), np.zeros((n_views, 0, 3), np.float32)
    return torch.cat(logits_out, 1).numpy(), torch.cat(vads, 1).numpy()


def view_vad(view_vads: np.ndarray) -> np.ndarray:
    """(views, N, 3) V, A, D → (N, 3): averaged over the views, then held to −1…+1."""
    return torch.as_tensor(view_vads).mean(0).clamp(VAD_MIN, VAD_MAX).numpy()


def predict_arrays(
    model: VADNet,
    faces: np.ndarray,
    *,
    use_ten_crop: bool = False,
    use_mirror: bool = False,
    batch_size: int = 256,
    device: torch.device | None = None,
    temperature: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """(N, 48, 48) uint8 faces → class probabilities (N, 7) and V, A, D (N, 3) on −1…+1.

    Ten-crop averages the probabilities and the VAD values over the ten views; `use_mirror` (without
    ten-crop) over the centre crop and its mirror image, at a fifth of ten-crop's cost. `temperature`
    divides the logits before the softmax (the checkpoint's calibration; 1.0 reads the raw softmax).
    """
    logits, vads = predict_logits(
        model, faces, use_ten_crop=use_ten_crop, use_mirror=use_mirror, batch_size=batch_size, device=device
    )
    return view_probabilities(logits, temperature), view_vad(vads)


def as_face_array(faces: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
    """Any face crops (grey or RGB, any size) → (N, 48, 48) uint8 grey."""
    if (
        isinstance(faces, np.ndarray)
        and faces.ndim == 3
        and faces.shape[1:] == (FACE_SIZE, FACE_SIZE)
        and faces.dtype == np.uint8
    ):
        return faces
    out = []
    for f in faces:
        f = np.asarray(f)
        if f.ndim not in (2, 3) or f.size == 0:
            raise ValueError(f"a face must be an H×W or H×W×C image, got shape {f.shape}")
        img = Image.fromarray(f.astype(np.uint8) if f.dtype != np.uint8 else f)
        out.append(np.asarray(img.convert("L").resize((FACE_SIZE, FACE_SIZE), Image.Resampling.BILINEAR)))
    return np.stack(out) if out else np.zeros((0, FACE_SIZE, FACE_SIZE), np.uint8)


class EmotionPredictor:
    """Load a checkpoint once (default: the configured one); `predict` turns batches of face crops into
    readings."""

    def __init__(
        self,
        checkpoint: str | Path | None = None,
        device: str = "auto",
        use_ten_crop: bool = True,
        batch_size: int = 64,
    ) -> None:
        self.device = resolve_device(device)
        self.model, self.meta = load_model(checkpoint)
        self.model.to(self.device).to(memory_format=torch.channels_last)
        self.use_ten_crop = use_ten_crop
        self.batch_size = batch_size
        self.rules = self.meta.get("training", {}).get("rules", DEFAULT_RULES)
        self.temperature = checkpoint_temperature(self.meta)  # 1.0 for a checkpoint never calibrated

    @property
    def model_version(self) -> str:
        return self.meta["model_version"]

    def predict(
        self,
        faces: Sequence[np.ndarray] | np.ndarray,
        boxes: Sequence[tuple[int, int, int, int]] | None = None,
        detection_scores: Sequence[float] | None = None,
        *,
        views: str | None = None,
    ) -> list[FaceReading]:
        """Readings of face crops; `views` ("single", "mirror", "ten_crop") overrides the predictor's
        default (ten-crop when it was built with `use_ten_crop`, else single)."""
        views = views or ("ten_crop" if self.use_ten_crop else "single")
        if views not in VIEWS:
            raise ValueError(f"views must be one of {VIEWS}")
        arr = as_face_array(faces)
        probs, vad = predict_arrays(
            self.model,
            arr,
            use_ten_crop=views == "ten_crop",
            use_mirror=views == "mirror",
            batch_size=self.batch_size,
            device=self.device,
            temperature=self.temperature,
        )
        labels = probs.argmax(1)
        bad = violations(torch.as_tensor(labels), torch.as_tensor(vad), self.rules).numpy()
        readings = []
        for i in range(len(arr)):
            readings.append(
                FaceReading(
                    label=CLASS_NAMES[labels[i]],
                    probabilities={c: float(p) for c, p in zip(CLASS_NAMES, probs[i])},
                    valence=float(vad[i, 0]),
                    arousal=float(vad[i, 1]),
                    dominance=float(vad[i, 2]),
                    model_version=self.model_version,
                    consistency_violations=tuple(d for d, b in zip(VAD_DIMS, bad[i]) if b),
                    box=_pixel_box(boxes[i]) if boxes is not None else None,
                    detection_score=float(detection_scores[i]) if detection_scores is not None else None,
                )
            )
        return readings


def _pixel_box(box: Sequence[int]) -> tuple[int, int, int, int]:
    x, y, width, height = (int(v) for v in box)
    return x, y, width, height
