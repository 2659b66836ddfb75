"""The class→sign rules tying the emotion class to V, A and D (Huo & Ge 2024, Table 1 / eq. 5, 9, 13).

The paper's own material gives three versions of the rules (see ../shared/notes/vad-targets.md); they
are kept here as data, selectable by name. The default, "equations", is the paper's formal
definition (eq. 5/9/13). A rule is one of ">0", ">=0", "<0", "<=0", "=0" (|x| ≤ tolerance) or None
(free). Rules apply to values on any symmetric scale; the tolerance is on the model's −1…+1 scale.
"""

from __future__ import annotations

import torch

from vadcore.taxonomy import CLASS_NAMES, VAD_DIMS

Rule = str | None

# class → (V, A, D) rules
RULE_SETS: dict[str, dict[str, tuple[Rule, Rule, Rule]]] = {
    # eq. 5/9/13: cost 1 when the stated condition holds; the rule is its negation.
    "equations": {
        "angry": ("<0", ">0", ">0"),
        "disgust": ("<0", ">0", ">0"),
        "fear": ("<0", None, None),
        "happy": (">0", ">0", ">0"),
        "sad": ("<0", "<=0", "<=0"),
        "surprise": (None, ">0", None),
        "neutral": ("=0", "=0", "=0"),
    },
    "table1": {
        "angry": ("<0", ">0", None),
        "disgust": ("<0", ">0", ">0"),
        "fear": ("<0", "<0", "<0"),
        "happy": (">0", ">0", ">0"),
        "sad": ("<0", "<0", None),
        "surprise": (None, ">0", "<0"),
        "neutral": ("=0", "=0", "=0"),
    },
    # the authors' spreadsheet, which their published code uses
    "spreadsheet": {
        "angry": ("<0", ">=0", None),
        "disgust": ("<0", ">=0", ">0"),
        "fear": ("<0", None, "<0"),
        "happy": (">0", ">0", ">=0"),
        "sad": ("<0", "<0", "<0"),
        "surprise": (None, ">0", "<0"),
        "neutral": ("=0", "=0", None),
    },
}
DEFAULT_RULES = "equations"
# Half-width of the "= 0" band for neutral on the −1…+1 scale: a continuous output is never exactly 0.
# 0.25 is half a step of the authors' integer −2…+2 labels (0.5 on that scale).
NEUTRAL_TOLERANCE = 0.25


def rule_table(rules: str = DEFAULT_RULES) -> dict[str, tuple[Rule, Rule, Rule]]:
    if rules not in RULE_SETS:
        raise ValueError(f"unknown rule set {rules!r}; choose one of {sorted(RULE_SETS)}")
    return RULE_SETS[rules]


def _violates(rule: Rule, x: torch.Tensor, tolerance: float) -> torch.Tensor:
    if rule is None:
        return torch.zeros_like(x, dtype=torch.bool)
    return {
        ">0": lambda: x <= 0,
        ">=0": lambda: x < 0,
        "<0": lambda: x >= 0,
        "<=0": lambda: x > 0,
        "=0": lambda: x.abs() > tolerance,
    }[rule]()


def violations(
    labels: torch.Tensor,
    vad: torch.Tensor,
    rules: str = DEFAULT_RULES,
    dims: tuple[int, ...] = (0, 1, 2),
    tolerance: float = NEUTRAL_TOLERANCE,
) -> torch.Tensor:
    """The paper's 0/1 cost per face and dimension: (N, 3) bool, True where the sign is violated.

    `labels` are class ids (N,), `vad` is (N, 3). Dimensions not in `dims` never count.
    """
    table = rule_table(rules)
    out = torch.zeros(vad.shape, dtype=torch.bool, device=vad.device)
    for c, name in enumerate(CLASS_NAMES):
        rows = labels == c
        if not rows.any():
            continue
        for d in dims:
            out[rows, d] = _violates(table[name][d], vad[rows, d], tolerance)
    return out


def paper_cost(
    labels: torch.Tensor,
    vad: torch.Tensor,
    rules: str = DEFAULT_RULES,
    dims: tuple[int, ...] = (0, 1, 2),
    tolerance: float = NEUTRAL_TOLERANCE,
) -> torch.Tensor:
    """The paper's cost: mean over faces of the number of violated signs (no gradient, by design)."""
    return violations(labels, vad, rules, dims, tolerance).float().sum(1).mean()


def consistency_violation_rate(
    labels: torch.Tensor,
    vad: torch.Tensor,
    rules: str = DEFAULT_RULES,
    dims: tuple[int, ...] = (0, 1, 2),
    tolerance: float = NEUTRAL_TOLERANCE,
) -> dict[str, float]:
    """Share of faces with at least one violated sign, and the share per dimension."""
    v = violations(labels, vad, rules, dims, tolerance)
    rates = {"any": v.any(1).float().mean().item()}
    for d in dims:
        rates[VAD_DIMS[d]] = v[:, d].float().mean().item()
    return rates


def _penalty_matrix(rules: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(sign, is_band) per class and dim, as tensors, for the differentiable surrogate."""
    table = rule_table(rules)
    sign = torch.zeros(len(CLASS_NAMES), 3)
    band = torch.zeros(len(CLASS_NAMES), 3)
    for c, name in enumerate(CLASS_NAMES):
        for d, rule in enumerate(table[name]):
            if rule in (">0", ">=0"):
                sign[c, d] = 1.0
            elif rule in ("<0", "<=0"):
                sign[c, d] = -1.0
            elif rule == "=0":
                band[c, d] = 1.0
    return sign, band


def soft_consistency(
    class_probs: torch.Tensor,
    vad: torch.Tensor,
    rules: str = DEFAULT_RULES,
    dims: tuple[int, ...] = (0, 1, 2),
    margin: float = 0.05,
    tolerance: float = NEUTRAL_TOLERANCE,
) -> torch.Tensor:
    """Differentiable surrogate of the paper's cost, computed on predictions.

    For each class c and dimension d, a hinge on the wrong side of the required sign
    (relu(margin − s·x)), or relu(|x| − tolerance) for a "= 0" rule, weighted by the predicted
    probability of c. Gradients reach both the VAD head and the class head.
    """
    sign, band = _penalty_matrix(rules)
    sign, band = sign.to(vad), band.to(vad)
    mask = torch.zeros(3, device=vad.device, dtype=vad.dtype)
    mask[list(dims)] = 1.0
    x = vad.unsqueeze(1)  # N×1×3 against 7×3 rules
    hinge = torch.relu(margin - sign * x) * (sign != 0)
    hinge = hinge + torch.relu(x.abs() - tolerance) * band
    per_class = (hinge * mask).sum(-1)  # N×7
    return (class_probs * per_class).sum(1).mean()
