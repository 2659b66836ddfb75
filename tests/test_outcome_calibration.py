"""How often the outcome study says "beats the baseline": on null cohorts (readings unrelated to outcomes) at most
5% of the time, and on cohorts with a planted signal most of the time at 60 subjects. Simulated pilots: 3 periods
per subject, 8 sessions per period, the 17 default features (18 with attendance), 25% at risk (tests/outcome_cohorts).

The figures in the README come from this file:

    nice -n 5 python -m pytest -s -m slow tests/test_outcome_calibration.py
"""

from __future__ import annotations

import time
from functools import cache

import pytest
from outcome_cohorts import pilot_cohort, pilot_table

from vadcore.outcome_study import study_outcomes

TARGETS = ("at_risk", "grade")
N_NULL = 200  # cohorts of 20 subjects with no signal
N_SIGNAL = 60  # cohorts per size with the simulator's signal (signal=1.0)
SIGNAL = 1.0


@cache
def verdicts(n_subjects: int, signal: float, n_cohorts: int, n_periods: int = 3) -> dict[str, tuple[int, float]]:
    """Per target: in how many of `n_cohorts` seeded cohorts the study passed, and the mean seconds per study."""
    passed = dict.fromkeys(TARGETS, 0)
    seconds = dict.fromkeys(TARGETS, 0.0)
    for seed in range(n_cohorts):
        table, order = pilot_table(pilot_cohort(n_subjects, signal, seed, n_periods=n_periods))
        for target in TARGETS:
            start = time.perf_counter()
            study = study_outcomes(table, target, periods_order=order, random_state=seed)
            seconds[target] += time.perf_counter() - start
            passed[target] += study.passed
    return {t: (passed[t], seconds[t] / n_cohorts) for t in TARGETS}


def report(what: str, target: str, hits: int, n: int, seconds: float) -> None:
    rate = f"{hits}/{n} cohorts ({hits / n:.1%})"
    print(f"\n{what}, {target}: 'beats the baseline' in {rate}; {seconds * 1000:.0f} ms per study")


@pytest.mark.slow
@pytest.mark.parametrize("target", TARGETS)
def test_null_cohorts_of_20_subjects_pass_in_at_most_5_percent(target):
    hits, seconds = verdicts(20, 0.0, N_NULL)[target]
    report("null, 20 subjects, prediction", target, hits, N_NULL, seconds)
    assert hits / N_NULL <= 0.05
    assert seconds < 1.0


@pytest.mark.slow
@pytest.mark.parametrize("target", TARGETS)
def test_null_cohorts_with_one_period_pass_in_at_most_5_percent(target):
    n = N_NULL // 2
    hits, seconds = verdicts(20, 0.0, n, n_periods=1)[target]
    report("null, 20 subjects, one period (association)", target, hits, n, seconds)
    assert hits / n <= 0.05


@pytest.mark.slow
@pytest.mark.parametrize("target", TARGETS)
def test_a_planted_signal_is_detected_in_most_cohorts_of_60_subjects(target):
    hits, seconds = verdicts(60, SIGNAL, N_SIGNAL)[target]
    report(f"signal {SIGNAL:g}, 60 subjects, prediction", target, hits, N_SIGNAL, seconds)
    assert hits / N_SIGNAL > 0.5


@pytest.mark.slow
@pytest.mark.parametrize("target", TARGETS)
def test_detection_at_20_subjects_is_reported_and_above_the_null_rate(target):
    hits, seconds = verdicts(20, SIGNAL, N_SIGNAL)[target]
    report(f"signal {SIGNAL:g}, 20 subjects, prediction", target, hits, N_SIGNAL, seconds)
    assert hits / N_SIGNAL > 0.05
