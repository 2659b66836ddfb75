"""Aggregates of face readings: per subject and period (the predictor's inputs) and per session (timelines).

For each (subject, period): the number of observations; mean, spread (population standard
deviation) and trend (least-squares slope per week) of valence, arousal and dominance; the share
of readings of each class; and the share with negative valence.

For one subject's timeline: `session_summary` (per session: count, mean and spread of V, A and D, start and
note) and `rule_fires`, where an `AlertRule` ("valence below −0.2 for 3 sessions in a row") fires. For a whole
group: `rule_status_by_subject`, which subjects the rule fires for at their latest session, and since when.

Readings whose quality verdict flags them (a non-empty `quality_flags` column: a small, blurred, turned or
cut-off face, or a low-confidence reading; vadcore.quality) are left out of every aggregate unless the call
asks for them with `include_flagged=True` (`trusted`).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
import pandas as pd

from vadcore.taxonomy import CLASS_NAMES, VAD_DIMS, VAD_MAX, VAD_MIN

FEATURE_COLUMNS: tuple[str, ...] = (
    ("n_obs",)
    + tuple(f"{d}_{stat}" for d in VAD_DIMS for stat in ("mean", "std", "trend"))
    + tuple(f"share_{c}" for c in CLASS_NAMES)
    + ("share_negative_valence",)
)
REQUIRED_COLUMNS = ("label", *VAD_DIMS)
QUALITY_COLUMN = "quality_flags"  # comma-separated vadcore.quality codes; "" when nothing stood out


def trusted(readings: pd.DataFrame, include_flagged: bool = False) -> pd.DataFrame:
    """`readings` less those with quality flags, unless `include_flagged`. Readings without the column (never
    judged, e.g. a simulated cohort) are all kept."""
    if include_flagged or QUALITY_COLUMN not in readings.columns:
        return readings
    return readings[readings[QUALITY_COLUMN].fillna("").astype(str) == ""]


@dataclass(frozen=True)
class PeriodSpan:
    """A named period from `starts_on` (inclusive) to `ends_on` (exclusive), in UTC dates."""

    name: str
    starts_on: date
    ends_on: date

    def __post_init__(self) -> None:
        if not self.starts_on < self.ends_on:
            raise ValueError(f"period {self.name!r} must start before it ends")


def assign_periods(times: pd.Series, periods: Sequence[PeriodSpan]) -> pd.Series:
    """The name of the period each timestamp falls in (NaN outside every period).

    Naive timestamps are taken as UTC; overlapping periods are refused because a reading would
    then count twice.
    """
    spans = sorted(periods, key=lambda p: p.starts_on)
    for a, b in zip(spans, spans[1:]):
        if b.starts_on < a.ends_on:
            raise ValueError(f"periods {a.name!r} and {b.name!r} overlap")
    days = pd.to_datetime(times, utc=True).dt.tz_localize(None).dt.normalize()
    out = pd.Series(np.nan, index=times.index, dtype=object)
    for p in spans:
        inside = (days >= pd.Timestamp(p.starts_on)) & (days < pd.Timestamp(p.ends_on))
        out[inside] = p.name
    return out


def subject_period_features(
    readings: pd.DataFrame,
    periods: Sequence[PeriodSpan],
    *,
    subject_col: str = "subject_id",
    time_col: str = "captured_at",
    include_flagged: bool = False,
) -> pd.DataFrame:
    """Aggregate readings into one row per (subject, period), columns FEATURE_COLUMNS.

    Readings without a subject or outside every period are left out, and so are flagged ones unless
    `include_flagged` (`trusted`). Spread is 0 and trend is 0 where a subject has one observation (or all
    at one instant) in a period.
    """
    missing = [c for c in (subject_col, time_col, *REQUIRED_COLUMNS) if c not in readings.columns]
    if missing:
        raise ValueError(f"readings lack columns {missing}")
    df = trusted(readings, include_flagged)[[subject_col, time_col, *REQUIRED_COLUMNS]].copy()
    df["period"] = assign_periods(df[time_col], periods)
    df = df.dropna(subset=[subject_col, "period"])
    index_names = [subject_col, "period"]
    if df.empty:
        empty_index = pd.MultiIndex.from_tuples([], names=index_names)
        return pd.DataFrame(columns=list(FEATURE_COLUMNS), index=empty_index, dtype=float)

    starts = {p.name: pd.Timestamp(p.starts_on, tz="UTC") for p in periods}
    stamps = pd.to_datetime(df[time_col], utc=True)
    df["_t"] = (stamps - df["period"].map(starts)).dt.total_seconds() / (7 * 86400.0)  # weeks
    grouped = df.groupby(index_names, sort=True)

    out = pd.DataFrame({"n_obs": grouped.size().astype(float)})
    for dim in VAD_DIMS:
        out[f"{dim}_mean"] = grouped[dim].mean()
        out[f"{dim}_std"] = grouped[dim].std(ddof=0)
        out[f"{dim}_trend"] = _slopes(df, index_names, grouped.size(), dim)
    shares = pd.crosstab([df[subject_col], df["period"]], df["label"], normalize="index")
    for name in CLASS_NAMES:
        out[f"share_{name}"] = shares[name] if name in shares.columns else 0.0
    out["share_negative_valence"] = (df["valence"] < 0).groupby([df[subject_col], df["period"]]).mean()
    return out[list(FEATURE_COLUMNS)].astype(float)


def _slopes(df: pd.DataFrame, keys: list[str], n: pd.Series, dim: str) -> pd.Series:
    """Least-squares slope of `dim` against time, per group, from sums (no per-group Python loop)."""
    tmp = df.assign(_tv=df["_t"] * df[dim], _tt=df["_t"] ** 2)
    sums = tmp.groupby(keys, sort=True)[["_t", dim, "_tv", "_tt"]].sum()
    sxx = sums["_tt"] - sums["_t"] ** 2 / n
    sxy = sums["_tv"] - sums["_t"] * sums[dim] / n
    # A relative tolerance: all readings at one instant leave only rounding error in sxx.
    flat = sxx <= 1e-12 * (1.0 + sums["_tt"])
    return (sxy / sxx.where(~flat, 1.0)).where(~flat, 0.0)


# ---------------------------------------------------------------- one subject's sessions and the alert rule

ALERT_DIRECTIONS: tuple[str, ...] = ("below", "above")
MAX_RUN_LENGTH = 50
SESSION_COLUMNS: tuple[str, ...] = ("session_id", "started_at", "note", "n") + tuple(
    f"{d}_{stat}" for d in VAD_DIMS for stat in ("mean", "std")
)


@dataclass(frozen=True)
class AlertRule:
    """Fires at a session whose mean `dim` is `direction` `threshold` and that ends a run of at least
    `run_length` such sessions in a row. Raises ValueError on values out of range."""

    dim: str = "valence"
    direction: str = "below"
    threshold: float = -0.2
    run_length: int = 3

    def __post_init__(self) -> None:
        if self.dim not in VAD_DIMS:
            raise ValueError(f"dimension must be one of {VAD_DIMS}")
        if self.direction not in ALERT_DIRECTIONS:
            raise ValueError(f"direction must be one of {ALERT_DIRECTIONS}")
        if not (math.isfinite(self.threshold) and VAD_MIN <= self.threshold <= VAD_MAX):
            raise ValueError(f"the threshold must lie in {VAD_MIN:+g}…{VAD_MAX:+g}")
        if isinstance(self.run_length, bool) or not isinstance(self.run_length, numbers.Integral):
            raise ValueError("the run length must be a whole number of sessions")
        if not 1 <= self.run_length <= MAX_RUN_LENGTH:
            raise ValueError(f"the run length must be 1…{MAX_RUN_LENGTH} sessions")

    def describe(self) -> str:
        return f"{self.dim} {self.direction} {self.threshold:+.2f} for {self.run_length}+ sessions in a row"


DEFAULT_ALERT_RULE = AlertRule()


def session_summary(
    readings: pd.DataFrame,
    starts: Mapping[int, datetime],
    notes: Mapping[int, str],
    include_flagged: bool = False,
) -> pd.DataFrame:
    """One row per session of `readings` (session_id, captured_at and V/A/D columns), oldest first, with the
    columns SESSION_COLUMNS: the session's start (from `starts`, else its first reading), its note ("" when
    none), the number of readings and the mean and spread (population SD) of each dimension. Flagged readings
    are left out unless `include_flagged` (`trusted`); a session with none left has no row."""
    missing = [c for c in ("session_id", "captured_at", *VAD_DIMS) if c not in readings.columns]
    if missing:
        raise ValueError(f"readings lack columns {missing}")
    readings = trusted(readings, include_flagged)
    grouped = readings.groupby("session_id")
    out = pd.DataFrame({"n": grouped.size()})
    for dim in VAD_DIMS:
        out[f"{dim}_mean"] = grouped[dim].mean()
        out[f"{dim}_std"] = grouped[dim].std(ddof=0)
    first_reading = pd.to_datetime(grouped["captured_at"].min(), utc=True)
    known = pd.to_datetime(pd.Series({i: starts[i] for i in out.index if i in starts}, dtype=object), utc=True)
    out["started_at"] = known.reindex(out.index).fillna(first_reading)
    out["note"] = [notes.get(i) or "" for i in out.index]
    out = out.reset_index()
    return out.sort_values(["started_at", "session_id"], ignore_index=True)[list(SESSION_COLUMNS)]


def rule_fires(per_session: pd.DataFrame, rule: AlertRule) -> pd.Series:
    """True at each session (row of `session_summary`, in time order) where `rule` fires: the session meets
    the condition and ends a run of at least `rule.run_length` consecutive sessions that meet it."""
    values = per_session[f"{rule.dim}_mean"]
    hit = values < rule.threshold if rule.direction == "below" else values > rule.threshold
    run = hit.astype(int).groupby((~hit).cumsum()).cumsum()  # length of the current run; a miss resets it
    return (run >= rule.run_length).rename("fires")


# ---------------------------------------------------------------- a group's subjects under the alert rule

CASELOAD_COLUMNS: tuple[str, ...] = (
    "subject_id",
    "subject_code",
    "sessions",
    "last_session",
    "fires_now",
    "since",
    "latest_mean",
    "sessions_fired",
)


def rule_status_by_subject(
    readings: pd.DataFrame, starts: Mapping[int, datetime], rule: AlertRule, include_flagged: bool = False
) -> pd.DataFrame:
    """One row per subject with readings in `readings` (subject_id, subject_code, session_id, captured_at and
    V/A/D columns; unassigned readings are left out), with the columns CASELOAD_COLUMNS: the number of their
    sessions, the start of their latest session, whether `rule` fires at that session, since when (the start of
    the first session of the run the latest session ends; NaT while it does not fire), the latest session's
    mean of `rule.dim`, and in how many of their sessions the rule fired. Sessions are those of
    `session_summary` (its start from `starts`, else the first reading). Subjects whose rule fires now come
    first, the longest run first; then the others; by code within each. Flagged readings are left out unless
    `include_flagged` (`trusted`)."""
    missing = [c for c in ("subject_id", "subject_code", "session_id", "captured_at", *VAD_DIMS) if c not in readings]
    if missing:
        raise ValueError(f"readings lack columns {missing}")
    rows = []
    kept = trusted(readings, include_flagged)
    for subject_id, theirs in kept.dropna(subset=["subject_id"]).groupby("subject_id", sort=False):
        per_session = session_summary(theirs, starts, {}, include_flagged=True)  # judged above
        fires = rule_fires(per_session, rule)
        latest = per_session.iloc[-1]
        since = pd.NaT
        if fires.iloc[-1]:
            # The run that ends at the latest session: it fires at its run_length-th session and each one after.
            meets = fires.iloc[::-1].cumprod().sum() + rule.run_length - 1
            since = per_session["started_at"].iloc[-int(meets)]
        rows.append(
            {
                "subject_id": int(subject_id),
                "subject_code": str(theirs["subject_code"].iloc[0]),
                "sessions": len(per_session),
                "last_session": latest["started_at"],
                "fires_now": bool(fires.iloc[-1]),
                "since": since,
                "latest_mean": float(latest[f"{rule.dim}_mean"]),
                "sessions_fired": int(fires.sum()),
            }
        )
    out = pd.DataFrame(rows, columns=list(CASELOAD_COLUMNS))
    out = out.astype({"subject_id": int, "sessions": int, "fires_now": bool, "sessions_fired": int})
    out["latest_mean"] = out["latest_mean"].astype(float)
    for column in ("last_session", "since"):
        out[column] = pd.to_datetime(out[column], utc=True)
    return out.sort_values(
        ["fires_now", "since", "subject_code"], ascending=[False, True, True], na_position="last", ignore_index=True
    )
