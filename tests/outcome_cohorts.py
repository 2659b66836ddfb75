"""Simulated pilot cohorts for the outcome-study tests: `db.demo.simulate_cohort` (readings → features, outcomes
following a latent wellbeing, readings carrying it only through `signal`), with the at-risk flag set like a pilot's:
the lowest quarter of grades in each period (25% at risk)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from db.demo import SimulatedCohort, default_periods, simulate_cohort
from vadcore.features import subject_period_features
from vadcore.outcomes import training_table

BASE_RATE = 0.25


def pilot_cohort(
    n_subjects: int,
    signal: float,
    seed: int,
    *,
    n_periods: int = 3,
    sessions_per_period: int = 8,
    base_rate: float = BASE_RATE,
) -> SimulatedCohort:
    cohort = simulate_cohort(
        n_subjects,
        periods=default_periods()[:n_periods],
        sessions_per_period=sessions_per_period,
        signal=signal,
        random_state=seed,
    )
    outcomes = cohort.outcomes.copy()
    jitter = np.random.default_rng(seed + 10_000).random(len(outcomes)) * 1e-6  # breaks ties at random
    rank = (outcomes["grade"] + jitter).groupby(outcomes["period"]).rank(pct=True)
    outcomes["at_risk"] = (rank <= base_rate).astype(bool)
    return replace(cohort, outcomes=outcomes)


def pilot_table(cohort: SimulatedCohort) -> tuple[pd.DataFrame, list[str]]:
    """The training table (as `Service.training_data` builds it) and the period names oldest first."""
    table = training_table(subject_period_features(cohort.readings, cohort.periods), cohort.outcomes)
    table["subject_code"] = table["subject_id"]
    return table, [p.name for p in sorted(cohort.periods, key=lambda p: p.starts_on)]
