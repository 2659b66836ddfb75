"""SIMULATED demo cohort: invented subjects, readings and outcomes, so the whole chain can be
shown without real people. Everything it writes is flagged `is_simulated`, lives in groups whose
names start with "[SIMULATED]", and is refused by the service layer in any real group.

Model: each subject has a latent wellbeing w (per period: a stable part plus drift). Valence and
dominance of their readings rise with w times `signal`, arousal falls slightly; the class follows
from the (valence, arousal) point. Grades rise with w, and the at-risk flag marks low w. With
`signal=0` the readings carry no information about the outcomes (pure noise).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd

from db.services import Service
from db.views import UserInfo
from vadcore.features import PeriodSpan
from vadcore.readings import FaceReading
from vadcore.taxonomy import CLASS_NAMES

SIMULATED_PREFIX = "[SIMULATED]"
MODEL_VERSION = "simulated-v1"
# Rough (valence, arousal) position of each class, for turning a simulated VAD point into a class.
_PROTOTYPES = np.array([(-0.6, 0.6), (-0.6, 0.2), (-0.5, 0.7), (0.7, 0.4), (-0.6, -0.4), (0.3, 0.8), (0.0, -0.1)])


@dataclass
class SimulatedCohort:
    readings: pd.DataFrame  # subject_id (code), session, captured_at, label, p_*, valence, arousal, dominance
    outcomes: pd.DataFrame  # subject_id (code), period, grade, at_risk
    periods: list[PeriodSpan]


def default_periods(year: int = 2024) -> list[PeriodSpan]:
    return [PeriodSpan(f"SIM-{year}-T{i + 1}", date(year, 1 + 3 * i, 1), date(year, 4 + 3 * i, 1)) for i in range(3)]


def simulate_cohort(
    n_subjects: int = 120,
    periods: list[PeriodSpan] | None = None,
    sessions_per_period: int = 8,
    attendance: float = 0.8,
    signal: float = 1.0,
    random_state: int = 0,
) -> SimulatedCohort:
    """A simulated cohort; outcomes always follow the latent wellbeing, readings only via `signal`."""
    rng = np.random.default_rng(random_state)
    periods = periods or default_periods()
    codes = [f"SIM-{i:03d}" for i in range(1, n_subjects + 1)]
    stable = rng.normal(size=n_subjects)
    reading_rows, outcome_rows = [], []
    for period in periods:
        w = 0.8 * stable + 0.6 * rng.normal(size=n_subjects)
        span_days = (period.ends_on - period.starts_on).days
        for k in range(sessions_per_period):
            when = datetime.combine(period.starts_on, datetime.min.time(), UTC) + timedelta(
                days=span_days * (k + 0.5) / sessions_per_period, hours=9
            )
            present = np.flatnonzero(rng.random(n_subjects) < attendance)
            s = signal * w[present]
            v = np.tanh(0.35 * s + rng.normal(0, 0.45, len(present)))
            a = np.tanh(0.1 - 0.15 * s + rng.normal(0, 0.4, len(present)))
            d = np.tanh(0.2 * s + rng.normal(0, 0.4, len(present)))
            dist = ((np.c_[v, a][:, None, :] - _PROTOTYPES[None]) ** 2).sum(-1)
            probs = np.exp(-dist / 0.1)
            probs /= probs.sum(axis=1, keepdims=True)
            drawn = (probs.cumsum(axis=1) > rng.random((len(present), 1))).argmax(axis=1)
            labels = [CLASS_NAMES[i] for i in drawn]
            for j, i in enumerate(present):
                reading_rows.append(
                    {
                        "subject_id": codes[i],
                        "session": f"{period.name}-{k}",
                        "captured_at": when,
                        "label": labels[j],
                        **{f"p_{c}": probs[j, m] for m, c in enumerate(CLASS_NAMES)},
                        "valence": v[j],
                        "arousal": a[j],
                        "dominance": d[j],
                    }
                )
        grade = np.clip(np.round(7 + 1.2 * w + rng.normal(0, 0.8, n_subjects), 1), 1, 10)
        at_risk = (w + rng.normal(0, 0.5, n_subjects)) < -0.9
        outcome_rows += [
            {"subject_id": c, "period": period.name, "grade": g, "at_risk": bool(r)}
            for c, g, r in zip(codes, grade, at_risk)
        ]
    readings = pd.DataFrame(reading_rows)
    readings["captured_at"] = pd.to_datetime(readings["captured_at"], utc=True)
    return SimulatedCohort(readings, pd.DataFrame(outcome_rows), periods)


def load_demo_cohort(service: Service, admin: UserInfo, cohort: SimulatedCohort, group_name: str = "Demo class") -> int:
    """Write a simulated cohort through the service layer into a new simulated group; returns
    the group id. Outcomes go in through the same CSV import real users use."""
    group = service.create_group(admin, f"{SIMULATED_PREFIX} {group_name}", "class", is_simulated=True)
    known = {p.name for p in service.list_periods(admin)}
    for p in cohort.periods:
        if p.name not in known:
            service.create_period(admin, p.name, p.starts_on, p.ends_on)
    ids = {
        code: service.create_subject(admin, group.id, code, consent="granted", is_simulated=True).id
        for code in sorted(cohort.readings["subject_id"].unique())
    }
    for session_name, rows in cohort.readings.groupby("session", sort=False):
        when = rows["captured_at"].iloc[0].to_pydatetime()
        meeting = service.create_session(admin, group.id, when, f"{SIMULATED_PREFIX} {session_name}")
        faces = [
            FaceReading(
                label=r.label,
                probabilities={c: float(getattr(r, f"p_{c}")) for c in CLASS_NAMES},
                valence=float(r.valence),
                arousal=float(r.arousal),
                dominance=float(r.dominance),
                model_version=MODEL_VERSION,
            )
            for r in rows.itertuples()
        ]
        checksum = hashlib.sha256(f"simulated {group.id} {session_name}".encode()).hexdigest()
        service.save_capture(
            admin, meeting.id, faces, [ids[c] for c in rows["subject_id"]], checksum, "simulated", captured_at=when
        )
    csv = cohort.outcomes.rename(columns={"subject_id": "subject_code"}).to_csv(index=False)
    report = service.import_outcomes(admin, group.id, csv)
    if not report.problems.empty:
        raise RuntimeError(f"simulated outcomes did not import:\n{report.problems}")
    return group.id
