"""The class→sign rules: the paper's 0/1 cost on hand-worked cases, and the trainable surrogate."""

import pytest
import torch

from vadcore.consistency import NEUTRAL_TOLERANCE, consistency_violation_rate, paper_cost, soft_consistency, violations
from vadcore.taxonomy import CLASS_NAMES

ANGRY, DISGUST, FEAR, HAPPY, SAD, SURPRISE, NEUTRAL = range(7)


def cost(label: int, v: float, a: float, d: float, rules: str = "equations") -> list[bool]:
    return violations(torch.tensor([label]), torch.tensor([[v, a, d]]), rules)[0].tolist()


@pytest.mark.parametrize(
    "label, vad, expected",
    [
        # eq. 5/9/13, happy: cost 1 when V ≤ 0, A ≤ 0, D ≤ 0
        (HAPPY, (0.5, 0.5, 0.5), [False, False, False]),
        (HAPPY, (-0.5, 0.0, 0.5), [True, True, False]),
        # sad: cost when V ≥ 0, A > 0, D > 0 — so A = 0 and D = 0 are not violations
        (SAD, (-0.5, 0.0, 0.0), [False, False, False]),
        (SAD, (0.0, 0.5, 0.5), [True, True, True]),
        # fear: only V is constrained by the equations
        (FEAR, (-0.5, 0.9, 0.9), [False, False, False]),
        (FEAR, (0.1, -0.9, -0.9), [True, False, False]),
        # angry and disgust: V < 0, A > 0, D > 0
        (ANGRY, (-0.5, 0.5, 0.0), [False, False, True]),
        (DISGUST, (0.2, -0.1, 0.3), [True, True, False]),
        # surprise: A > 0, V and D free
        (SURPRISE, (0.9, 0.0, -0.9), [False, True, False]),
        # neutral: all three within the tolerance band around 0
        (NEUTRAL, (0.1, -0.1, 0.0), [False, False, False]),
        (NEUTRAL, (0.6, 0.0, -0.6), [True, False, True]),
    ],
)
def test_paper_cost_matches_hand_worked_equations(label, vad, expected):
    assert cost(label, *vad) == expected


def test_rule_sets_differ_where_the_paper_does():
    # angry with D < 0 breaks the equations but not Table 1 (D free there)
    assert cost(ANGRY, -0.5, 0.5, -0.5, "equations")[2]
    assert not cost(ANGRY, -0.5, 0.5, -0.5, "table1")[2]
    # fear with A > 0 breaks Table 1 only
    assert cost(FEAR, -0.5, 0.5, -0.5, "table1")[1]
    assert not cost(FEAR, -0.5, 0.5, -0.5, "equations")[1]
    with pytest.raises(ValueError, match="unknown rule set"):
        cost(HAPPY, 0, 0, 0, "nonsense")


def test_paper_cost_counts_violated_signs_per_face():
    labels = torch.tensor([HAPPY, SAD])
    vad = torch.tensor([[-1.0, -1.0, -1.0], [-1.0, -1.0, -1.0]])
    assert paper_cost(labels, vad).item() == pytest.approx(1.5)  # 3 violations, then 0
    rate = consistency_violation_rate(labels, vad)
    assert rate["any"] == pytest.approx(0.5) and rate["valence"] == pytest.approx(0.5)


def test_dimensions_outside_the_mode_never_count():
    assert paper_cost(torch.tensor([HAPPY]), torch.tensor([[1.0, -1.0, -1.0]]), dims=(0,)).item() == 0


def test_soft_consistency_has_gradient_on_violations_and_none_when_satisfied():
    probs_logits = torch.zeros(1, 7, requires_grad=True)
    vad = torch.tensor([[-0.5, -0.5, -0.5]], requires_grad=True)
    one_hot_happy = torch.nn.functional.one_hot(torch.tensor([HAPPY]), 7).float() * 10
    loss = soft_consistency((probs_logits + one_hot_happy).softmax(1), vad)
    loss.backward()
    assert loss.item() > 0
    assert (vad.grad < 0).all(), "descending the loss must push a happy face's V, A, D up"
    assert probs_logits.grad.abs().sum() > 0, "the class head must receive gradient too"

    satisfied = torch.tensor([[0.5, 0.5, 0.5]], requires_grad=True)
    loss = soft_consistency(torch.nn.functional.one_hot(torch.tensor([HAPPY]), 7).float(), satisfied)
    loss.backward()
    assert loss.item() == 0 and satisfied.grad.abs().sum() == 0


def test_soft_consistency_neutral_band():
    neutral = torch.nn.functional.one_hot(torch.tensor([NEUTRAL]), 7).float()
    inside = torch.full((1, 3), NEUTRAL_TOLERANCE / 2)
    outside = torch.full((1, 3), NEUTRAL_TOLERANCE + 0.3)
    assert soft_consistency(neutral, inside).item() == 0
    assert soft_consistency(neutral, outside).item() == pytest.approx(0.9, abs=1e-5)


def test_every_class_has_rules_in_every_set():
    from vadcore.consistency import RULE_SETS

    for table in RULE_SETS.values():
        assert set(table) == set(CLASS_NAMES)
