"""Per subject and period features, checked against values worked out by hand."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from vadcore.features import FEATURE_COLUMNS, PeriodSpan, assign_periods, subject_period_features

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
