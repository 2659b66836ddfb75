"""The outcome study (vadcore.outcome_study): prediction from one period to the next where the data allow it and
association otherwise, labelled so; a verdict in plain words; nothing ranked unless the test passes; every score
out of fold; attendance left out by default; a minimum cohort; power stated before fitting. The false-positive and
detection rates over many simulated cohorts are in tests/test_outcome_calibration.py."""

from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd
import pytest
from outcome_cohorts import pilot_cohort, pilot_table

from vadcore.features import FEATURE_COLUMNS
from vadcore.outcome_study import (
    DEFAULT_FEATURES,
    GRADE_SCORE,
    MIN_PER_CLASS,
    MIN_SUBJECTS,
    RISK_SCORE,
    _design,
    _permutations,
    detectable_auc,
    detectable_correlation,
    plan_study,
    study_outcomes,
)

CHRONOLOGICAL = ["Z-autumn", "M-winter", "A-spring"]  # oldest first: the reverse of alphabetical order


def lagged_table(n_subjects: int = 40, periods: list[str] = CHRONOLOGICAL, seed: int = 0) -> pd.DataFrame:
    """Features drawn afresh each period; a period's grade follows the previous period's valence_mean only, so
    the features predict the next outcome and say nothing about the same period's."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(n_subjects):
        previous = None
        for name in periods:
            features = dict(zip(FEATURE_COLUMNS, rng.normal(size=len(FEATURE_COLUMNS))))
            grade = rng.normal(5, 1) if previous is None else 5 + 1.5 * previous + rng.normal(0, 0.5)
            rows.append({"subject_id": s, "subject_code": f"P-{s:02d}", "period": name, **features, "grade": grade})
            previous = features["valence_mean"]
    table = pd.DataFrame(rows)
    table["at_risk"] = table["grade"] < table.groupby("period")["grade"].transform("quantile", 0.25)
    return table


@pytest.fixture(scope="module")
def signal_cohort() -> tuple[pd.DataFrame, list[str]]:
    return pilot_table(pilot_cohort(60, signal=2.0, seed=7))


@pytest.fixture(scope="module")
def null_cohort() -> tuple[pd.DataFrame, list[str]]:
    return pilot_table(pilot_cohort(20, signal=0.0, seed=4))


# ---------------------------------------------------------------- prediction or association


@pytest.mark.parametrize("target", ["grade", "at_risk"])
def test_features_of_one_period_predict_the_outcome_of_the_next(target):
    table = lagged_table()
    study = study_outcomes(table, target, periods_order=CHRONOLOGICAL)
    assert study.mode == "prediction" and "next period" in study.mode_label
    assert study.n_rows == 40 * 2  # two consecutive pairs per subject
    assert study.passed, study.verdict
    assert study.verdict.startswith("Evidence with 40 subjects that the readings of one period predict")
    # The same data read as association (features and outcome of one period) carry nothing.
    same_period = study_outcomes(table, target, periods_order=CHRONOLOGICAL, mode="association")
    assert not same_period.passed and "association, not prediction" in same_period.verdict


def test_periods_are_paired_in_the_order_given_not_by_name():
    table = lagged_table()
    assert study_outcomes(table, "grade", periods_order=CHRONOLOGICAL).passed
    by_name = study_outcomes(table, "grade", periods_order=sorted(CHRONOLOGICAL))  # backwards in time
    assert not by_name.passed
    with pytest.raises(ValueError, match="not in periods_order"):
        study_outcomes(table, "grade", periods_order=CHRONOLOGICAL[:2])


def test_one_period_only_is_studied_and_labelled_as_association_not_prediction():
    table, order = pilot_table(pilot_cohort(30, signal=2.0, seed=3, n_periods=1))
    study = study_outcomes(table, "at_risk", periods_order=order)
    assert study.mode == "association" and study.forward is None
    assert study.mode_label.startswith("Association, not prediction")
    assert "association, not prediction" in study.verdict
    assert any("one period only" in r for r in study.reasons)
    if study.ranked is not None:
        assert "for the same period" in study.scoring


def test_the_forward_check_trains_on_earlier_pairs_and_tests_on_the_latest(signal_cohort):
    table, order = signal_cohort
    study = study_outcomes(table, "grade", periods_order=order)
    assert study.forward is not None
    assert study.forward.n_train_rows == 60 and study.forward.n_test_rows == 60
    assert study.forward.value > 0 and "Forward-in-time check" in study.forward.text
    two_periods = table[table["period"] != order[-1]]
    assert study_outcomes(two_periods, "grade", periods_order=order).forward is None  # one pair per subject


# ---------------------------------------------------------------- the verdict and what it earns


def test_a_cohort_without_signal_gets_a_plain_verdict_and_no_ranked_list(null_cohort):
    table, order = null_cohort
    for target, figure in (("at_risk", "AUC"), ("grade", "MAE improvement")):
        study = study_outcomes(table, target, periods_order=order)
        assert study.fitted and not study.passed
        assert study.ranked is None and study.importance is None
        assert study.verdict.startswith("Not enough evidence with 20 subjects")
        assert f"{figure} " in study.verdict and "95% interval" in study.verdict and "permutation p = " in study.verdict
        assert any("No ranked list" in r for r in study.reasons)


def test_a_cohort_with_signal_gets_a_list_scored_out_of_fold(signal_cohort):
    table, order = signal_cohort
    risk = study_outcomes(table, "at_risk", periods_order=order)
    assert risk.passed and risk.p_value is not None and risk.p_value <= risk.alpha
    auc = risk.metrics[0]
    assert auc.name == "AUC" and auc.baseline == 0.5 and auc.low is not None and auc.low > 0.5
    ranked = risk.ranked
    assert ranked is not None and len(ranked) == 60 and list(ranked.index) == list(range(1, 61))
    assert ranked[RISK_SCORE].is_monotonic_decreasing
    assert (ranked["features from"] == order[-1]).all()  # scored for the period after the latest
    assert ranked["drivers (feature value)"].str.len().gt(0).all()
    assert "left that subject out" in risk.scoring
    assert risk.importance is not None and set(risk.importance["feature"]) == set(DEFAULT_FEATURES)

    grade = study_outcomes(table, "grade", periods_order=order)
    assert grade.passed and grade.ranked is not None
    assert grade.ranked[GRADE_SCORE].is_monotonic_increasing  # lowest predicted grade first
    assert [m.name for m in grade.metrics] == ["MAE", "MAE improvement", "R²"]


def test_a_subjects_score_never_comes_from_a_model_that_saw_their_outcomes(signal_cohort):
    table, order = signal_cohort
    before = study_outcomes(table, "grade", periods_order=order).ranked
    changed = table.assign(grade=np.where(table["subject_code"] == "SIM-005", table["grade"] + 3, table["grade"]))
    after = study_outcomes(changed, "grade", periods_order=order).ranked
    assert before is not None and after is not None
    score = {name: frame.set_index("subject")[GRADE_SCORE] for name, frame in (("before", before), ("after", after))}
    assert score["after"]["SIM-005"] == pytest.approx(score["before"]["SIM-005"], abs=1e-9)
    moved = (score["after"] - score["before"].reindex(score["after"].index)).abs()
    assert (moved > 1e-6).any()  # the others' models did see SIM-005 and moved


def test_attendance_is_left_out_unless_asked_for_and_then_labelled(signal_cohort):
    table, order = signal_cohort
    assert "n_obs" not in plan_study(table, "grade", periods_order=order).features
    study = study_outcomes(table, "grade", periods_order=order, include_attendance=True)
    assert "n_obs" in study.plan.features
    assert study.importance is not None and "n_obs (attendance)" in set(study.importance["feature"])


def test_below_the_minimum_cohort_the_study_explains_why_it_does_not_fit():
    table, order = pilot_table(pilot_cohort(MIN_SUBJECTS - 2, signal=2.0, seed=1))
    study = study_outcomes(table, "grade", periods_order=order)
    assert not study.fitted and not study.passed and study.ranked is None and study.p_value is None
    assert study.verdict.startswith("Not fitted:") and f"at least {MIN_SUBJECTS}" in study.verdict

    table, order = pilot_table(pilot_cohort(30, signal=2.0, seed=1))
    flagged = table["subject_code"].isin(sorted(table.loc[table["at_risk"], "subject_code"].unique())[:3])
    few = table.assign(at_risk=table["at_risk"] & flagged)  # three subjects flagged at all
    study = study_outcomes(few, "at_risk", periods_order=order)
    assert not study.fitted and f"at least {MIN_PER_CLASS} of each" in study.verdict


def test_too_few_consecutive_pairs_fall_back_to_association_and_say_why():
    table, order = pilot_table(pilot_cohort(24, signal=1.0, seed=2))
    # Most subjects keep one period's outcome only: too few pairs to predict, enough rows to associate.
    keep = (table["period"] == order[0]) | (table["subject_code"] <= "SIM-005")
    study = study_outcomes(table[keep], "grade", periods_order=order)
    assert study.mode == "association"
    assert any("two consecutive periods" in r and "association, not prediction" in r for r in study.reasons)


# ---------------------------------------------------------------- power, up front


def test_power_is_stated_before_fitting_and_grows_with_the_cohort(null_cohort):
    table, order = null_cohort
    plan = plan_study(table, "at_risk", periods_order=order)
    assert plan.mode == "prediction" and plan.can_fit and plan.n_subjects == 20
    assert 0.2 <= (plan.base_rate or 0) <= 0.3
    assert plan.power.metric == "AUC" and plan.power.detectable is not None and 0.75 < plan.power.detectable < 0.95
    assert "Hanley–McNeil" in plan.power.text and "80% power" in plan.power.text
    assert f"{plan.power.detectable:.2f}" in plan.power.text
    grade = plan_study(table, "grade", periods_order=order).power
    assert grade.metric == "correlation" and "Fisher z" in grade.text
    assert grade.detectable == pytest.approx(math.tanh((1.959964 + 0.841621) / math.sqrt(17)), abs=1e-4)

    smaller, larger = detectable_auc(5, 15), detectable_auc(15, 45)
    assert smaller is not None and larger is not None and 0.5 < larger < smaller < 1
    assert detectable_auc(1, 2) is None and detectable_correlation(3) is None


# ---------------------------------------------------------------- the permutation scheme, speed, refusals


def test_permutations_move_whole_subjects_outcomes_between_subjects_with_the_same_periods():
    table = lagged_table(n_subjects=12)
    table = table[~((table["subject_id"] == 0) & (table["period"] == CHRONOLOGICAL[0]))]  # one pattern apart
    positions = {p: i for i, p in enumerate(CHRONOLOGICAL)}
    design = _design(table, "grade", DEFAULT_FEATURES, positions, "association", "subject_id")
    rows = _permutations(design, 50, np.random.default_rng(0))
    lone = design.subject == 0
    assert (rows[:, lone] == np.flatnonzero(lone)).all()  # no other subject has its periods: it stays
    for perm in rows:
        assert (design.slot[perm] == design.slot).all()  # an outcome stays in its period
        donors = pd.Series(design.subject[perm]).groupby(design.subject).nunique()
        assert (donors == 1).all()  # all of a subject's outcomes come from one other subject
    assert (rows != np.arange(len(design.y))).any()


def test_one_study_takes_well_under_a_second(signal_cohort):
    table, order = signal_cohort
    for target in ("at_risk", "grade"):
        start = time.perf_counter()
        study_outcomes(table, target, periods_order=order)
        assert time.perf_counter() - start < 1.0


def test_unknown_targets_modes_and_missing_columns_are_refused(null_cohort):
    table, order = null_cohort
    with pytest.raises(ValueError, match="target"):
        study_outcomes(table, "happiness", periods_order=order)
    with pytest.raises(ValueError, match="mode"):
        study_outcomes(table, "grade", periods_order=order, mode="guess")
    with pytest.raises(ValueError, match="valence_mean"):
        study_outcomes(table.drop(columns="valence_mean"), "grade", periods_order=order)


def test_a_table_without_outcomes_is_explained_not_fitted(null_cohort):
    table, order = null_cohort
    empty = table.iloc[:0]
    plan = plan_study(empty, "at_risk", periods_order=order)
    assert not plan.can_fit and plan.power.detectable is None and "No subject" in plan.power.text
    study = study_outcomes(empty, "grade", periods_order=order)
    assert not study.fitted and study.verdict.startswith("Not fitted: No subject has readings and a grade")
