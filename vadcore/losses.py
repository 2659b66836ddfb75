"""The multi-task loss: cross-entropy + MSE per regressed dimension + λ · consistency (eq. 1/6/10/14)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from vadcore.consistency import DEFAULT_RULES, paper_cost, soft_consistency

CONSISTENCY_KINDS = ("none", "paper", "soft")
# The paper's four training modes: which of V, A, D are regressed beside the class.
MODES: dict[str, tuple[int, ...]] = {"v": (0,), "a": (1,), "d": (2,), "vad": (0, 1, 2)}


@dataclass(frozen=True)
class LossConfig:
    mode: str = "vad"
    consistency: str = "soft"
    lam: float = 0.1
    rules: str = DEFAULT_RULES
    vad_weight: float = 1.0
    ortho: float = 0.0  # orthogonal regularisation weight (0.5 in the authors' code)
    label_smoothing: float = 0.0

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {sorted(MODES)}")
        if self.consistency not in CONSISTENCY_KINDS:
            raise ValueError(f"consistency must be one of {CONSISTENCY_KINDS}")

    @property
    def dims(self) -> tuple[int, ...]:
        return MODES[self.mode]


def orthogonal_penalty(weights: list[torch.Tensor]) -> torch.Tensor:
    """Σ ||W Wᵀ − I||² over conv weights reshaped to (out, in·k·k)."""
    total = weights[0].new_zeros(())
    for w in weights:
        m = w.flatten(1)
        gram = m @ m.t()
        total = total + ((gram - torch.eye(gram.shape[0], device=w.device, dtype=w.dtype)) ** 2).sum()
    return total


def multitask_loss(
    logits: torch.Tensor,
    vad_pred: torch.Tensor,
    labels: torch.Tensor,
    vad_target: torch.Tensor,
    cfg: LossConfig,
    ortho_weights: list[torch.Tensor] | None = None,
    class_targets: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """Returns the total and its parts (for logging). VAD targets that are NaN do not count.

    `class_targets` (N, 7), when given, replaces the hard labels in the cross-entropy (soft targets)."""
    target = labels if class_targets is None else class_targets
    parts: dict[str, torch.Tensor] = {"ce": F.cross_entropy(logits, target, label_smoothing=cfg.label_smoothing)}
    total = parts["ce"]
    dims = list(cfg.dims)
    known = ~torch.isnan(vad_target[:, dims])
    err = (vad_pred[:, dims] - torch.nan_to_num(vad_target[:, dims])) ** 2
    parts["mse"] = (err * known).sum() / known.sum().clamp(min=1) * len(dims)
    total = total + cfg.vad_weight * parts["mse"]
    if cfg.consistency == "soft":
        parts["consistency"] = soft_consistency(logits.softmax(1), vad_pred, cfg.rules, cfg.dims)
    elif cfg.consistency == "paper":
        # The paper's 0/1 cost on the predictions: a constant with no gradient, kept for the ablation.
        parts["consistency"] = paper_cost(logits.argmax(1), vad_pred.detach(), cfg.rules, cfg.dims)
    if "consistency" in parts:
        total = total + cfg.lam * parts["consistency"]
    if cfg.ortho > 0 and ortho_weights:
        parts["ortho"] = orthogonal_penalty(ortho_weights)
        total = total + cfg.ortho * parts["ortho"]
    parts["total"] = total
    return parts
