"""Per subject and period aggregates of face readings, the predictor's inputs.

For each (subject, period): the number of observations; mean, spread (population standard
deviation) and trend (least-squares slope per week) of valence, arousal and dominance; the share
of readings of each class; and the share with negative valence.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from vadcore.taxonomy import CLASS_NAMES, VAD_DIMS

FEATURE_COLUMNS: tuple[str, ...] = (
    ("n_obs",)
    + tuple(f"{d}_{stat}" for d in VAD_DIMS for stat in ("mean", "std", "trend"))
    + tuple(f"share_{c}" for c in CLASS_NAMES)
    + ("share_negative_valence",)
)
REQUIRED_COLUMNS = ("label", *VAD_DIMS)


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
) -> pd.DataFrame:
    """Aggregate readings into one row per (subject, period), columns FEATURE_COLUMNS.

    Readings without a subject or outside every period are left out. Spread is 0 and trend is 0
    where a subject has one observation (or all at one instant) in a period.
    """
    missing = [c for c in (subject_col, time_col, *REQUIRED_COLUMNS) if c not in readings.columns]
    if missing:
        raise ValueError(f"readings lack columns {missing}")
    df = readings[[subject_col, time_col, *REQUIRED_COLUMNS]].copy()
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
