"""The caseload view: for each subject of a group, whether the alert rule fires at their latest session and
since when, checked against values worked out by hand."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest

from vadcore.features import CASELOAD_COLUMNS, AlertRule, rule_status_by_subject

RULE = AlertRule("valence", "below", -0.2, 3)


def readings(rows):
    """Rows of (subject_id, subject_code, session_id, captured_at, valence); arousal and dominance 0."""
    frame = pd.DataFrame(rows, columns=["subject_id", "subject_code", "session_id", "captured_at", "valence"])
    frame["captured_at"] = pd.to_datetime(frame["captured_at"], utc=True)
    return frame.assign(arousal=0.0, dominance=0.0)


def sessions(subject_id, code, valences, first_day=1):
    """One reading per session, a day apart from March `first_day` 2024 (session ids subject_id*100 + 0, 1, …)."""
    return [
        (subject_id, code, subject_id * 100 + i, f"2024-03-{first_day + i:02d} 09:00", v)
        for i, v in enumerate(valences)
    ]


def day(d: int) -> pd.Timestamp:
    return pd.Timestamp(f"2024-03-{d:02d} 09:00", tz="UTC")


def test_a_subject_whose_last_sessions_are_below_fires_since_the_first_session_of_the_run():
    status = rule_status_by_subject(readings(sessions(1, "S-01", [0.1, 0.3, -0.3, -0.5, -0.4, -0.6])), {}, RULE)
    assert list(status.columns) == list(CASELOAD_COLUMNS)
    row = status.iloc[0]
    assert row["subject_id"] == 1 and row["subject_code"] == "S-01"
    assert row["sessions"] == 6 and row["last_session"] == day(6)
    assert row["fires_now"]
    assert row["since"] == day(3)  # the run of four sessions below −0.2 began on the 3rd
    assert row["latest_mean"] == pytest.approx(-0.6)
    assert row["sessions_fired"] == 2  # the 5th and 6th end a run of 3+


def test_since_is_the_sessions_stored_start_and_the_latest_mean_averages_its_readings():
    rows = sessions(1, "S-01", [-0.5, -0.5]) + [
        (1, "S-01", 102, "2024-03-03 09:00", -0.1),
        (1, "S-01", 102, "2024-03-03 09:05", -0.5),
    ]
    started = datetime(2024, 2, 28, 8, 0, tzinfo=UTC)  # session 100 began before its first reading
    row = rule_status_by_subject(readings(rows), {100: started}, RULE).iloc[0]
    assert row["sessions"] == 3 and row["fires_now"]
    assert row["since"] == pd.Timestamp(started)
    assert row["latest_mean"] == pytest.approx(-0.3)


def test_a_subject_who_recovered_does_not_fire_but_keeps_the_count_of_sessions_fired():
    row = rule_status_by_subject(readings(sessions(2, "S-02", [-0.5, -0.5, -0.5, -0.5, 0.1])), {}, RULE).iloc[0]
    assert not row["fires_now"] and pd.isna(row["since"])
    assert row["sessions_fired"] == 2 and row["latest_mean"] == pytest.approx(0.1)


def test_fewer_sessions_than_the_run_length_do_not_fire():
    row = rule_status_by_subject(readings(sessions(3, "S-03", [-0.9, -0.9])), {}, RULE).iloc[0]
    assert row["sessions"] == 2 and not row["fires_now"] and row["sessions_fired"] == 0


def test_above_uses_the_rules_dimension_and_direction():
    frame = readings(sessions(1, "S-01", [0.0, 0.0])).assign(arousal=[0.1, 0.6])
    row = rule_status_by_subject(frame, {}, AlertRule("arousal", "above", 0.5, 1)).iloc[0]
    assert row["fires_now"] and row["since"] == day(2) and row["latest_mean"] == pytest.approx(0.6)


def test_firing_subjects_come_first_longest_run_first_then_the_others_by_code():
    frame = readings(
        sessions(1, "D", [0.5, 0.5, 0.5])
        + sessions(2, "A", [0.5, -0.5, -0.5, -0.5])  # fires since the 2nd
        + sessions(3, "C", [-0.5, -0.5, -0.5, -0.5])  # fires since the 1st
        + sessions(4, "B", [-0.5])
        + [(None, None, 500, "2024-03-01 09:00", -0.9)]  # an unassigned reading names no one: left out
    )
    status = rule_status_by_subject(frame, {}, RULE)
    assert list(status["subject_code"]) == ["C", "A", "B", "D"]
    assert list(status["fires_now"]) == [True, True, False, False]


def test_no_readings_give_an_empty_table_with_every_column():
    status = rule_status_by_subject(readings([]), {}, RULE)
    assert status.empty and list(status.columns) == list(CASELOAD_COLUMNS)


def test_missing_columns_are_named():
    with pytest.raises(ValueError, match="subject_code"):
        rule_status_by_subject(readings([]).drop(columns="subject_code"), {}, RULE)
