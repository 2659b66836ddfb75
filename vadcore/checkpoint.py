"""Saving and loading checkpoints that say what they are and refuse to load into the wrong code.

A checkpoint holds tensors and plain metadata only (dicts, lists, str, int, float, bool, None), and is read
with `torch.load(weights_only=True)`: a pickle can name any callable to run while it loads, so a checkpoint
that holds anything else (a planted `__reduce__`, but also a numpy array or a dataclass) is refused instead
of executed.

Optional metadata key `calibration`: {"temperature": T, "fitted_on": split, "ece_before": …, "ece_after": …}
(`vadcore.calibration`); inference divides the logits by T, and a checkpoint without it reads with T = 1.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vadcore.model import ModelConfig, VADNet, build_model
from vadcore.settings import get_settings
from vadcore.taxonomy import CLASS_NAMES, VAD_DIMS, VAD_MAX, VAD_MIN

CHECKPOINT_FORMAT = 1

logger = logging.getLogger(__name__)


class CheckpointError(ValueError):
    """A file is not a VAD Lens checkpoint, or was made for different code."""


def save_checkpoint(
    path: str | Path, model: VADNet, *, model_version: str, data_checksum: str, training: dict, half: bool = False
) -> None:
    """Write the weights with their config, class order, VAD scale and the training data's checksum."""
    state = {
        k: (v.half() if half and v.is_floating_point() else v).cpu() for k, v in _unwrap(model).state_dict().items()
    }
    payload = {
        "format": CHECKPOINT_FORMAT,
        "model_version": model_version,
        "config": plain(_unwrap(model).config.to_dict()),
        "class_names": list(CLASS_NAMES),
        "vad_dims": list(VAD_DIMS),
        "vad_scale": [VAD_MIN, VAD_MAX],
        "data_checksum": str(data_checksum),
        "training": plain(training),  # what `read_checkpoint` (weights_only) can load back
        "state_dict": state,
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)  # never leave a half-written checkpoint behind


def _unwrap(model: torch.nn.Module) -> VADNet:
    """The VADNet itself, also when DistributedDataParallel wraps it (as `.module`)."""
    inner = getattr(model, "module", model)
    if not isinstance(inner, VADNet):
        raise TypeError(f"expected a VADNet, got {type(inner).__name__}")
    return inner


def plain(value: Any) -> Any:
    """`value` as plain Python (dict with str keys, list, str, int, float, bool, None) for checkpoint metadata:
    numpy scalars and arrays, tensors, tuples, paths and dataclasses are converted; anything else is a
    TypeError, so that no object that only a full unpickler could read is ever written."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (np.ndarray, torch.Tensor)):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return plain(dataclasses.asdict(value))
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    raise TypeError(f"checkpoint metadata must be plain data, not {type(value).__name__}")


def _unpickler_reason(error: Exception) -> str:
    """The one line of torch's long weights_only refusal that names what was refused."""
    for line in str(error).splitlines():
        if "WeightsUnpickler error:" in line:
            return line.split("WeightsUnpickler error:", 1)[1].strip().split(". Please")[0][:200]
    return type(error).__name__


def read_checkpoint(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        # weights_only: tensors and plain containers only; a pickle that names any other callable is refused
        # before it runs (weights_only=False would execute code planted in the file)
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "Weights only load failed" not in str(e) or "Unsupported operand" in str(e):  # bytes that are no pickle
            raise CheckpointError(f"{path.name} is not a readable PyTorch checkpoint ({type(e).__name__}: {e})") from e
        logger.warning("refused checkpoint %s: it holds objects other than tensors and plain data", path)
        raise CheckpointError(
            f"{path.name} holds objects other than weights and plain metadata, and was refused: loading it "
            f"could run code planted in it ({_unpickler_reason(e)})"
        ) from e
    except Exception as e:  # torch raises many types for a file that is not a checkpoint
        raise CheckpointError(f"{path.name} is not a readable PyTorch checkpoint ({type(e).__name__}: {e})") from e
    if not isinstance(payload, dict) or "state_dict" not in payload or "config" not in payload:
        raise CheckpointError(f"{path.name} is not a VAD Lens checkpoint (no config/state_dict)")
    if payload.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(
            f"{path.name} has checkpoint format {payload.get('format')!r}; this code reads format {CHECKPOINT_FORMAT}"
        )
    if list(payload.get("class_names", [])) != list(CLASS_NAMES):
        raise CheckpointError(
            f"{path.name} was trained with classes {payload.get('class_names')}; this code expects {list(CLASS_NAMES)}"
        )
    if list(payload.get("vad_scale", [])) != [VAD_MIN, VAD_MAX]:
        raise CheckpointError(f"{path.name} uses VAD scale {payload.get('vad_scale')}; expected {[VAD_MIN, VAD_MAX]}")
    return payload


def load_model(path: str | Path | None = None) -> tuple[VADNet, dict]:
    """The network in float32 and eval mode, and the checkpoint's metadata (without the weights).

    `path` defaults to the configured checkpoint (`VADLENS_CHECKPOINT`, else the shipped model)."""
    path = get_settings().checkpoint if path is None else Path(path)
    payload = read_checkpoint(path)
    try:
        config = ModelConfig.from_dict(payload["config"])
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{Path(path).name}: {e}") from e
    model = build_model(config)
    state = {k: v.float() if v.is_floating_point() else v for k, v in payload["state_dict"].items()}
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise CheckpointError(
            f"{Path(path).name}: weights do not fit the model its config describes: {str(e).splitlines()[0]}"
        ) from e
    model.eval()
    meta = {k: v for k, v in payload.items() if k != "state_dict"}
    return model, meta


def checkpoint_temperature(meta: Mapping[str, Any]) -> float:
    """The temperature a checkpoint's metadata stores (`calibration.temperature`), 1.0 when it stores none."""
    calibration = meta.get("calibration") or {}
    try:
        temperature = float(calibration.get("temperature", 1.0))
    except (TypeError, ValueError, AttributeError) as e:
        raise CheckpointError(f"checkpoint calibration must be a mapping with a numeric temperature ({e})") from e
    if not math.isfinite(temperature) or temperature <= 0:
        raise CheckpointError(f"checkpoint calibration temperature must be a positive number, got {temperature!r}")
    return temperature


def write_calibration(path: str | Path, calibration: Mapping[str, Any], out: str | Path | None = None) -> None:
    """Rewrite the checkpoint at `path` (or write it to `out`) with metadata key `calibration` set, the weights and
    every other key unchanged; atomically. The file's content, hence its sha256, changes: the app's model
    registry treats it as a new model that must be checked and activated again."""
    payload = read_checkpoint(path)
    payload["calibration"] = plain(dict(calibration))
    checkpoint_temperature(payload)  # refuse to write a temperature that inference would refuse
    target = Path(out) if out is not None else Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(target.suffix + ".tmp")
    torch.save(payload, tmp)
    tmp.replace(target)
