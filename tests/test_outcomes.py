"""Outcome CSVs are validated row by row; features and outcomes join through the service layer; simulated and
real data never train together. The outcome study itself: tests/test_outcome_study.py and
tests/test_outcome_calibration.py."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from db.demo import load_demo_cohort, simulate_cohort
from db.services import InvalidInput, MixedDataError
from vadcore.features import FEATURE_COLUMNS, subject_period_features
from vadcore.outcomes import OutcomeCSVError, read_outcomes_csv, training_table

SUBJECTS, PERIODS = {"S1", "S2", "S3", "S4"}, {"T1", "T2"}


def test_rows_that_do_not_fit_are_reported_with_line_and_reason():
    csv = "\n".join(
        [
            "subject_code,period,grade,at_risk",
            "S1,T1,4.5,no",  # 2 ok
            "S9,T1,4,no",  # 3 unknown subject
            "S2,T9,4,no",  # 4 unknown period
            "S2,T1,four,no",  # 5 grade not a number
            "S2,T2,4,maybe",  # 6 at_risk not boolean
            "S3,T1,,",  # 7 neither value
            "S3,T2,4,no",  # 8 duplicate pair ...
            "S3,T2,5,no",  # 9 ... both refused
            ",T2,5,no",  # 10 missing code
            "S1,T2,5",  # 11 too few cells
            "S2,T2,7,yes",  # 12 out of range
            "",  # blank line: ignored
            "S4, T1 ,3,yes",  # 14 ok (whitespace trimmed)
        ]
    )
    result = read_outcomes_csv(csv, known_subjects=SUBJECTS, known_periods=PERIODS, grade_range=(1, 6))
    reasons = result.problems.groupby("line")["problem"].apply(" | ".join).to_dict()
    assert set(reasons) == {3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
    assert "unknown subject" in reasons[3] and "unknown period" in reasons[4]
    assert "not a number" in reasons[5] and "yes/no" in reasons[6] and "neither" in reasons[7]
    assert "repeated" in reasons[8] and "repeated" in reasons[9] and "missing subject" in reasons[10]
    assert "cells" in reasons[11] and "outside" in reasons[12]
    assert result.rows[["subject_code", "period", "grade", "at_risk", "line"]].values.tolist() == [
        ["S1", "T1", 4.5, False, 2],
        ["S4", "T1", 3.0, True, 14],
    ]
    assert not result.ok


def test_semicolon_files_with_decimal_commas_and_a_bom_are_read():
    data = "\ufeffsubject_code;period;grade\nS1;T1;4,5\n".encode("utf-8")
    result = read_outcomes_csv(data, known_subjects=SUBJECTS, known_periods=PERIODS)
    assert result.ok and result.rows.loc[0, "grade"] == 4.5 and result.rows.loc[0, "at_risk"] is None


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "empty"),
        ("subject_code,grade\nS1,4\n", "period"),
        ("subject_code,period\nS1,T1\n", "grade"),
        ("subject_code,period,grade,name\nS1,T1,4,Anna\n", "unexpected"),
        ("subject_code,period,grade\n", "no rows"),
    ],
)
def test_files_that_are_not_outcome_tables_are_refused_as_a_whole(text, message):
    with pytest.raises(OutcomeCSVError, match=message):
        read_outcomes_csv(text)


def test_non_utf8_files_are_refused():
    with pytest.raises(OutcomeCSVError, match="UTF-8"):
        read_outcomes_csv("subject_code,period,grade\nSÖ,T1,4\n".encode("latin-1"))


def cohort_table(signal: float, random_state: int = 1) -> pd.DataFrame:
    cohort = simulate_cohort(n_subjects=120, signal=signal, random_state=random_state)
    return training_table(subject_period_features(cohort.readings, cohort.periods), cohort.outcomes)


@pytest.fixture(scope="module")
def simulated():
    return cohort_table(signal=1.0)


def test_training_on_simulated_and_real_rows_together_is_refused(simulated):
    features = simulated.set_index(["subject_id", "period"])[list(FEATURE_COLUMNS)].assign(is_simulated=True)
    outcomes = simulated[["subject_id", "period", "grade", "at_risk"]].assign(is_simulated=False)
    with pytest.raises(MixedDataError):
        training_table(features, outcomes)


# ---- the whole chain through the database


@pytest.fixture
def demo_group(service, admin):
    cohort = simulate_cohort(n_subjects=40, sessions_per_period=4, random_state=3)
    return load_demo_cohort(service, admin, cohort), cohort


def test_the_demo_cohort_goes_through_the_service_layer_into_a_training_table(service, admin, demo_group):
    group_id, cohort = demo_group
    group = next(g for g in service.list_groups(admin) if g.id == group_id)
    assert group.is_simulated and group.name.startswith("[SIMULATED]")
    table = service.training_data(admin, [group_id])
    assert len(table) == 40 * len(cohort.periods)
    expected = training_table(subject_period_features(cohort.readings, cohort.periods), cohort.outcomes)
    np.testing.assert_allclose(
        table.sort_values(["subject_code", "period"])["valence_mean"],
        expected.sort_values(["subject_id", "period"])["valence_mean"],
    )


def test_training_on_a_simulated_and_a_real_group_together_is_refused(service, admin, demo_group):
    real = service.create_group(admin, "7a", "class")
    with pytest.raises(MixedDataError):
        service.training_data(admin, [demo_group[0], real.id])


def test_outcome_import_writes_the_good_rows_and_reports_the_rest(service, admin):
    group = service.create_group(admin, "7a", "class")
    for code in ("S1", "S2"):
        service.create_subject(admin, group.id, code, consent="granted")
    service.create_period(admin, "T1", date(2024, 1, 1), date(2024, 4, 1))
    csv = "subject_code,period,grade,at_risk\nS1,T1,4,no\nS3,T1,5,yes\nS2,T1,x,no\n"
    preview = service.import_outcomes(admin, group.id, csv, dry_run=True)
    assert preview.imported == 1 and set(preview.problems["line"]) == {3, 4}
    assert service.outcomes_frame(admin, group.id).empty
    report = service.import_outcomes(admin, group.id, csv)
    assert report.imported == 1
    again = service.import_outcomes(admin, group.id, "subject_code,period,grade\nS1,T1,2.5\n")  # corrects S1
    assert again.imported == 1
    frame = service.outcomes_frame(admin, group.id)
    assert frame[["subject_code", "period", "grade"]].values.tolist() == [["S1", "T1", 2.5]]
    with pytest.raises(InvalidInput):
        service.create_period(admin, "T1b", date(2024, 3, 1), date(2024, 5, 1))  # overlaps T1
