"""Per subject and period features, and the per-session timeline with its alert rule, checked against values
worked out by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import pandas as pd
import pytest

from vadcore.features import (
    FEATURE_COLUMNS,
    SESSION_COLUMNS,
    AlertRule,
    PeriodSpan,
    assign_periods,
    rule_fires,
    rule_status_by_subject,
    session_summary,
    subject_period_features,
)

P1 = PeriodSpan("T1", date(2024, 1, 1), date(2024, 2, 1))
P2 = PeriodSpan("T2", date(2024, 2, 1), date(2024, 3, 1))


def readings(rows):
    frame = pd.DataFrame(rows, columns=["subject_id", "captured_at", "label", "valence", "arousal", "dominance"])
    frame["captured_at"] = pd.to_datetime(frame["captured_at"], utc=True)
    return frame


def test_mean_spread_trend_and_shares_match_hand_computation():
    frame = readings(
        [
            ("A", "2024-01-01", "happy", 0.5, 0.0, 0.1),
            ("A", "2024-01-08", "sad", -0.5, 0.2, 0.1),  # one week later
            ("A", "2024-01-15", "happy", 0.3, 0.4, 0.1),  # two weeks later
        ]
    )
    row = subject_period_features(frame, [P1]).loc[("A", "T1")]
    assert row["n_obs"] == 3
    assert row["valence_mean"] == pytest.approx(0.1)
    assert row["valence_std"] == pytest.approx(np.std([0.5, -0.5, 0.3]))
    assert row["valence_trend"] == pytest.approx(-0.1)  # least squares over weeks 0, 1, 2
    assert row["arousal_trend"] == pytest.approx(0.2)
    assert row["dominance_std"] == pytest.approx(0.0) and row["dominance_trend"] == pytest.approx(0.0)
    assert row["share_happy"] == pytest.approx(2 / 3) and row["share_sad"] == pytest.approx(1 / 3)
    assert row["share_angry"] == 0.0
    assert row["share_negative_valence"] == pytest.approx(1 / 3)
    assert list(row.index) == list(FEATURE_COLUMNS)


def test_one_row_per_subject_and_period_leaving_out_what_has_neither():
    frame = readings(
        [
            ("A", "2024-01-05", "happy", 0.5, 0.0, 0.0),
            ("A", "2024-02-05", "sad", -0.5, 0.0, 0.0),
            ("B", "2024-02-06", "fear", -0.2, 0.5, -0.3),
            (None, "2024-02-06", "fear", -0.2, 0.5, -0.3),  # unassigned face
            ("B", "2025-06-01", "fear", -0.2, 0.5, -0.3),  # outside every period
        ]
    )
    features = subject_period_features(frame, [P1, P2])
    assert list(features.index) == [("A", "T1"), ("A", "T2"), ("B", "T2")]
    single = features.loc[("B", "T2")]
    assert single["n_obs"] == 1 and single["valence_std"] == 0 and single["valence_trend"] == 0


def test_naive_times_are_taken_as_utc_and_period_ends_are_exclusive():
    times = pd.Series(pd.to_datetime(["2024-01-31 23:59", "2024-02-01 00:00", "2023-12-31 12:00"]))
    assert list(assign_periods(times, [P1, P2]).fillna("-")) == ["T1", "T2", "-"]


def test_overlapping_periods_are_refused():
    with pytest.raises(ValueError, match="overlap"):
        assign_periods(
            pd.Series(pd.to_datetime(["2024-01-05"])), [P1, PeriodSpan("X", date(2024, 1, 20), date(2024, 2, 10))]
        )


def test_missing_columns_are_named():
    with pytest.raises(ValueError, match="valence"):
        subject_period_features(pd.DataFrame({"subject_id": [], "captured_at": [], "label": []}), [P1])


def test_no_readings_give_an_empty_frame_with_every_column():
    empty = readings([])
    features = subject_period_features(empty, [P1])
    assert features.empty and list(features.columns) == list(FEATURE_COLUMNS)


# ---------------------------------------------------------------- sessions and the alert rule


def session_readings(rows):
    frame = pd.DataFrame(rows, columns=["session_id", "captured_at", "valence", "arousal", "dominance"])
    frame["captured_at"] = pd.to_datetime(frame["captured_at"], utc=True)
    return frame


def sessions_with_means(valences):
    """One reading per session, a day apart, with these valence values (session ids 1, 2, …)."""
    return session_summary(
        session_readings([(i, f"2024-03-{i:02d} 09:00", v, 0.0, 0.0) for i, v in enumerate(valences, 1)]),
        {},
        {},
    )


def test_session_summary_matches_hand_computation_and_orders_by_start():
    frame = session_readings(
        [
            (7, "2024-01-10 09:00", 0.5, 0.1, 0.0),
            (7, "2024-01-10 09:05", -0.1, 0.3, 0.2),
            (3, "2024-01-12 10:00", -0.4, 0.0, 0.0),
            (5, "2024-01-11 08:00", 0.2, 0.2, 0.2),  # its session started earlier than its reading
        ]
    )
    started = datetime(2024, 1, 9, 8, 0, tzinfo=UTC)
    summary = session_summary(frame, starts={5: started}, notes={7: "maths", 5: ""})
    assert list(summary.columns) == list(SESSION_COLUMNS)
    assert list(summary["session_id"]) == [5, 7, 3]  # by start: given for 5, first reading for 7 and 3
    assert summary.loc[0, "started_at"] == pd.Timestamp(started)
    assert summary.loc[2, "started_at"] == pd.Timestamp("2024-01-12 10:00", tz="UTC")
    assert list(summary["note"]) == ["", "maths", ""]
    row = summary.loc[1]
    assert row["n"] == 2
    assert row["valence_mean"] == pytest.approx(0.2) and row["valence_std"] == pytest.approx(0.3)
    assert row["arousal_mean"] == pytest.approx(0.2) and row["dominance_std"] == pytest.approx(0.1)
    assert summary.loc[2, "valence_std"] == 0.0  # one reading: no spread


def test_session_summary_names_missing_columns():
    with pytest.raises(ValueError, match="dominance"):
        session_summary(pd.DataFrame({"session_id": [], "captured_at": [], "valence": [], "arousal": []}), {}, {})


def test_a_run_of_n_sessions_below_the_threshold_fires_at_the_nth_and_later():
    per_session = sessions_with_means([0.1, -0.3, -0.5, -0.4, -0.6, 0.2])
    fires = rule_fires(per_session, AlertRule("valence", "below", -0.2, 3))
    assert list(fires) == [False, False, False, True, True, False]


def test_a_break_resets_the_run():
    per_session = sessions_with_means([-0.5, -0.5, 0.0, -0.5, -0.5, -0.5])
    fires = rule_fires(per_session, AlertRule("valence", "below", -0.2, 3))
    assert list(fires) == [False, False, False, False, False, True]


def test_above_compares_strictly_and_a_run_of_one_fires_at_each_hit():
    per_session = sessions_with_means([0.3, 0.5, 0.3, 0.6])
    assert list(rule_fires(per_session, AlertRule("valence", "above", 0.3, 1))) == [False, True, False, True]
    assert not rule_fires(per_session, AlertRule("arousal", "above", 0.0, 1)).any()  # arousal is 0 throughout


def test_no_sessions_fire_nothing():
    empty = session_summary(session_readings([]), {}, {})
    assert empty.empty and list(empty.columns) == list(SESSION_COLUMNS)
    assert rule_fires(empty, AlertRule()).empty


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"dim": "joy"}, "dimension"),
        ({"direction": "sideways"}, "direction"),
        ({"threshold": 1.5}, "threshold"),
        ({"threshold": float("nan")}, "threshold"),
        ({"run_length": 0}, "run length"),
        ({"run_length": 51}, "run length"),
        ({"run_length": 2.5}, "whole number"),
    ],
)
def test_an_alert_rule_out_of_range_is_refused(changes, message):
    with pytest.raises(ValueError, match=message):
        AlertRule(**changes)


def test_a_rule_describes_itself_in_words():
    assert AlertRule("arousal", "above", 0.25, 2).describe() == "arousal above +0.25 for 2+ sessions in a row"


def test_flagged_readings_are_left_out_of_every_aggregate_unless_asked_for():
    # Subject 1, one session: a trusted reading at +0.4 and a blurred, low-confidence one at −0.8.
    frame = readings([(1, "2024-01-10 09:00", "happy", 0.4, 0.2, 0.0), (1, "2024-01-10 09:05", "sad", -0.8, -0.2, 0)])
    frame["session_id"] = 7
    frame["subject_code"] = "S-01"
    frame["quality_flags"] = ["", "blurred,low_confidence"]

    features = subject_period_features(frame, [P1])
    assert features.loc[(1, "T1"), "n_obs"] == 1 and features.loc[(1, "T1"), "valence_mean"] == pytest.approx(0.4)
    asked = subject_period_features(frame, [P1], include_flagged=True)
    assert asked.loc[(1, "T1"), "n_obs"] == 2 and asked.loc[(1, "T1"), "valence_mean"] == pytest.approx(-0.2)

    assert session_summary(frame, {}, {})["valence_mean"].tolist() == pytest.approx([0.4])
    assert session_summary(frame, {}, {}, include_flagged=True)["n"].tolist() == [2]

    rule = AlertRule("valence", "below", -0.1, 1)
    assert not rule_status_by_subject(frame, {}, rule)["fires_now"].iloc[0]  # the flagged −0.8 does not count
    assert rule_status_by_subject(frame, {}, rule, include_flagged=True)["fires_now"].iloc[0]

    # Readings never judged (no column, e.g. a simulated cohort) all count.
    assert subject_period_features(frame.drop(columns="quality_flags"), [P1]).loc[(1, "T1"), "n_obs"] == 2
