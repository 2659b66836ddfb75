"""The outcome study: do a cohort's reading features carry information about grades or an at-risk flag?

One call, `study_outcomes(table, target, periods_order=...)`, does the whole workflow and returns an
`OutcomeStudy` that a page only draws:

1. **Mode.** When subjects have outcomes in consecutive periods, the features of period t are paired with the
   outcome of period t+1 (*prediction*). With one period only, or too few consecutive pairs, features and outcome
   of the same period are used and everything is labelled *association, not prediction*.
2. **Model.** Ridge regression on standardised features (median-imputed, scaled on the training fold only), in
   closed form. For the at-risk flag it is a linear discriminant on the 0/1 labels (a risk *score*, not a
   probability). Being linear in the labels, the out-of-fold predictions for the observed labels and for every
   permutation come from one matrix product per fold, which is what makes the permutation test cheap.
3. **A fair test.** Folds hold out whole subjects. The statistic is the pooled out-of-fold ROC-AUC (risk, against
   0.5) or the MAE improvement over predicting the training-fold mean (grade). Its p-value comes from permuting
   the outcomes between subjects: a subject's whole outcome sequence goes to another subject with outcomes in the
   same periods, so the within-subject dependence is kept and, with no link between readings and outcomes, every
   permutation is as likely as the observed one. The study *passes* when p ≤ `alpha` (one-sided 0.025, the level
   of a two-sided 95% test) **and** the 95% subject-bootstrap interval lies above the baseline.
4. **Forward check** (prediction mode, three or more periods): train on the earlier period pairs, test on the
   latest; reported beside the verdict, not part of it.
5. **Nothing ranked unless earned.** Only a study that passes returns the ranked list and the drivers. Every
   subject is scored by the model of the fold that left that subject out (never by a model that saw any of their
   outcomes), from their latest period's features: in prediction mode that is a score for the period after it.
6. **Power up front.** `plan_study` says, from the number of subjects and the base rate, how strong an association
   the test could detect with 80% power: Hanley–McNeil's standard error of the AUC, or Fisher's z for a
   correlation, counting subjects (not periods, which are not independent).

Attendance-like features (`n_obs`: how often someone was photographed) are left out unless asked for, and then
labelled as attendance.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import brentq
from scipy.stats import norm, rankdata

from vadcore.features import FEATURE_COLUMNS
from vadcore.outcomes import TARGETS

log = logging.getLogger(__name__)

MODES = ("auto", "prediction", "association")
ATTENDANCE_FEATURES: tuple[str, ...] = ("n_obs",)
DEFAULT_FEATURES: tuple[str, ...] = tuple(c for c in FEATURE_COLUMNS if c not in ATTENDANCE_FEATURES)
MIN_SUBJECTS = 10  # subjects with an outcome in the rows the study uses
MIN_PER_CLASS = 4  # at-risk: subjects with at least one flagged row, and subjects with at least one unflagged row
ALPHA = 0.025  # one-sided, the same level as a two-sided 95% test or interval
POWER = 0.8
N_PERMUTATIONS = 500
N_BOOTSTRAP = 1000
N_SPLITS = 5
RIDGE = 10.0  # penalty per training row on standardised features: strong shrinkage (few subjects, many features)
TOP_DRIVERS = 3

# What the study can and cannot claim, with the rates measured on simulated pilots by
# `nice -n 5 python -m pytest -s -m slow tests/test_outcome_calibration.py` (README keeps the same figures).
CLAIMS: tuple[str, ...] = (
    "When the study passes, it can claim that in this cohort the readings of one period carry information about "
    "the next period's outcome beyond chance (or, with one period only, about the same period's outcome: "
    "association, not prediction), judged on subjects the model never saw.",
    "On simulated pilots with no link at all (20 subjects, 3 periods, 25% at risk) it passed in 1.5% (at-risk "
    "flag) and 2.0% (grades) of 200 cohorts; the design allows 2.5%. With one period only: 2% and 4% of 100.",
    "With a moderate simulated link it passed in 17% (at-risk) and 37% (grades) of 60 cohorts of 20 subjects, and "
    "in 87% and 90% of 60 cohorts of 60 subjects: a pilot of 20 will miss most real but moderate links.",
    "It cannot claim a cause, that the link holds in another school, class or year, or that any one person is at "
    "risk: the scores rank subjects, they are not probabilities and not a diagnosis.",
    "'Not enough evidence' is not evidence that there is no link: it says this cohort is too small or too noisy "
    "to tell.",
)

RISK_SCORE = "risk score (out-of-fold, SD units)"
GRADE_SCORE = "predicted grade (out-of-fold)"
DRIVERS = "drivers (feature value)"


# --------------------------------------------------------------------------------------------
# Result objects


@dataclass(frozen=True)
class Power:
    """How strong an association the cohort could detect with `power` at one-sided level `alpha`."""

    metric: str  # "AUC" or "correlation"
    detectable: float | None  # None when the cohort is too small for any
    n_subjects: int
    method: str
    text: str


@dataclass(frozen=True)
class StudyPlan:
    """What the data allow before anything is fitted: the mode, the counts, the power, and why not if not."""

    target: str
    mode: str  # "prediction" or "association"
    mode_label: str
    n_subjects: int
    n_rows: int
    n_positive_subjects: int | None  # at-risk only
    n_negative_subjects: int | None
    base_rate: float | None  # at-risk only: share of flagged rows
    features: tuple[str, ...]
    can_fit: bool
    reasons: tuple[str, ...]
    power: Power


@dataclass(frozen=True)
class Estimate:
    """A metric of the out-of-fold predictions with its baseline and 95% subject-bootstrap interval."""

    name: str
    value: float
    baseline: float | None
    low: float | None
    high: float | None
    higher_is_better: bool

    @property
    def vs_baseline(self) -> float | None:
        """How much better than the baseline (positive = better, whichever way the metric runs)."""
        if self.baseline is None:
            return None
        return self.value - self.baseline if self.higher_is_better else self.baseline - self.value

    def text(self) -> str:
        interval = "" if self.low is None or self.high is None else f", 95% interval {self.low:.2f}–{self.high:.2f}"
        base = "" if self.baseline is None else f" vs {self.baseline:.2f} for the baseline"
        return f"{self.name} {self.value:.2f}{base}{interval}"


@dataclass(frozen=True)
class ForwardCheck:
    """Trained on the earlier period pairs, tested on the latest: the same statistic and its permutation p."""

    metric: str
    value: float
    baseline: float
    p_value: float
    n_train_rows: int
    n_test_rows: int
    text: str


@dataclass(frozen=True)
class OutcomeStudy:
    """The whole outcome study, ready to draw. `ranked` and `importance` are None unless `passed`."""

    target: str
    mode: str
    mode_label: str
    fitted: bool
    passed: bool
    verdict: str
    reasons: tuple[str, ...]
    plan: StudyPlan
    n_subjects: int
    n_rows: int
    n_splits: int
    n_permutations: int
    alpha: float
    p_value: float | None
    statistic: str  # what the permutation test compares, in words
    metrics: tuple[Estimate, ...]
    forward: ForwardCheck | None
    scoring: str  # how the ranked list was scored, in words
    score_column: str
    importance: pd.DataFrame | None  # feature, coefficient, sd (over the folds' models)
    importance_label: str
    ranked: pd.DataFrame | None  # subject, features from, score, drivers; rank as index from 1

    def summary(self) -> dict[str, Any]:
        """Plain data for a JSON download: the verdict, the figures and how they were obtained."""
        return {
            "target": self.target,
            "mode": self.mode,
            "mode_label": self.mode_label,
            "fitted": self.fitted,
            "passed": self.passed,
            "verdict": self.verdict,
            "reasons": list(self.reasons),
            "power": self.plan.power.text,
            "n_subjects": self.n_subjects,
            "n_rows": self.n_rows,
            "n_splits": self.n_splits,
            "n_permutations": self.n_permutations,
            "alpha_one_sided": self.alpha,
            "p_value": self.p_value,
            "statistic": self.statistic,
            "metrics": [vars(m) for m in self.metrics],
            "forward_check": None if self.forward is None else vars(self.forward),
            "features": list(self.plan.features),
            "importance": None if self.importance is None else self.importance.to_dict(orient="records"),
        }


# --------------------------------------------------------------------------------------------
# Power


def detectable_auc(n_positive: float, n_negative: float, *, alpha: float = ALPHA, power: float = POWER) -> float | None:
    """The smallest AUC a one-sided test at `alpha` detects with `power`, from Hanley & McNeil's (1982) standard
    error with `n_positive` and `n_negative` independent units; None when not even an AUC of 1 would do."""
    if n_positive < 1 or n_negative < 1:
        return None

    def se(a: float) -> float:
        q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
        var = (a * (1 - a) + (n_positive - 1) * (q1 - a * a) + (n_negative - 1) * (q2 - a * a)) / (
            n_positive * n_negative
        )
        return math.sqrt(max(var, 0.0))

    z_a, z_b = norm.ppf(1 - alpha), norm.ppf(power)

    def gap(a: float) -> float:
        return a - 0.5 - z_a * se(0.5) - z_b * se(a)

    if gap(1.0 - 1e-9) < 0:
        return None
    return float(brentq(gap, 0.5, 1.0 - 1e-9))


def detectable_correlation(n: int, *, alpha: float = ALPHA, power: float = POWER) -> float | None:
    """The smallest correlation a one-sided test at `alpha` detects with `power` among `n` independent units
    (Fisher's z: atanh(r) is normal with standard error 1/sqrt(n − 3)); None below 4 units."""
    if n < 4:
        return None
    return float(math.tanh((norm.ppf(1 - alpha) + norm.ppf(power)) / math.sqrt(n - 3)))


def _power(target: str, n_subjects: int, base_rate: float | None, n_features: int) -> Power:
    level = f"{100 * POWER:.0f}% power at the two-sided 5% level"
    caveat = (
        f"This is the bound for one score chosen in advance; a model fitted on {n_features} features out of fold "
        "needs a stronger link still (see the measured detection rates in the README)."
    )
    if n_subjects == 0:
        metric = "AUC" if target == "at_risk" else "correlation"
        return Power(metric, None, 0, "none", "No subject has readings and outcomes yet: nothing could be detected.")
    if target == "at_risk":
        rate = base_rate or 0.0
        n_pos, n_neg = rate * n_subjects, (1 - rate) * n_subjects
        auc = detectable_auc(n_pos, n_neg)
        method = "Hanley–McNeil closed form for the AUC's standard error, counting subjects, not periods"
        head = f"With {n_subjects} subjects (about {n_pos:.0f} at risk)"
        if auc is None:
            text = f"{head}, no association, however strong, could be detected with {level}."
        else:
            text = (
                f"{head}, the test has {level} only for an association of AUC {auc:.2f} or stronger "
                f"({method}). Weaker links would likely go unnoticed. {caveat}"
            )
        return Power("AUC", auc, n_subjects, method, text)
    r = detectable_correlation(n_subjects)
    method = "Fisher z closed form for a correlation, counting subjects, not periods"
    head = f"With {n_subjects} subjects"
    if r is None:
        text = f"{head}, no association, however strong, could be detected with {level}."
    else:
        text = (
            f"{head}, the test has {level} only for a correlation of {r:.2f} or stronger between predicted and "
            f"actual grades (R² about {r * r:.2f}; {method}). Weaker links would likely go unnoticed. {caveat}"
        )
    return Power("correlation", r, n_subjects, method, text)


# --------------------------------------------------------------------------------------------
# Design: which rows the study uses


@dataclass(frozen=True)
class _Design:
    mode: str
    X: np.ndarray  # rows × features
    y: np.ndarray  # rows
    subject: np.ndarray  # rows: subject index into `subjects`
    slot: np.ndarray  # rows: position of the outcome's period in the period order
    subjects: np.ndarray  # subject ids
    feature_period: np.ndarray  # rows: period name of the features
    positions: dict[str, int]  # period name -> position in the period order


def _outcome_values(series: pd.Series) -> np.ndarray:
    # Outcomes arrive as floats, bools or objects with None (at_risk from the database).
    return np.array([np.nan if v is None or pd.isna(v) else float(v) for v in series], dtype=float)


def _period_positions(table: pd.DataFrame, periods_order: Sequence[str] | None) -> dict[str, int]:
    names = sorted({str(p) for p in table["period"]})
    if periods_order is None:
        log.warning("no period order given: periods ordered by name")
        return {p: i for i, p in enumerate(names)}
    order = [str(p) for p in periods_order]
    unknown = [p for p in names if p not in order]
    if unknown:
        raise ValueError(f"periods {unknown} are not in periods_order")
    return {p: i for i, p in enumerate(order)}


def _design(
    table: pd.DataFrame, target: str, features: Sequence[str], positions: dict[str, int], mode: str, subject_col: str
) -> _Design:
    pos = table["period"].astype(str).map(positions).to_numpy()
    subj = table[subject_col].to_numpy()
    X_all = table[list(features)].to_numpy(dtype=float)
    y_all = _outcome_values(table[target])
    if mode == "association":
        keep = np.flatnonzero(~np.isnan(y_all))
        rows_x, rows_y = keep, keep
    else:
        # Features of period t with the outcome of the next period in the order (t+1), same subject.
        where = {(s, p): i for i, (s, p) in enumerate(zip(subj, pos))}
        pairs = [(i, where[(s, p + 1)]) for i, (s, p) in enumerate(zip(subj, pos)) if (s, p + 1) in where]
        pairs = [(i, j) for i, j in pairs if not np.isnan(y_all[j])]
        rows_x = np.array([i for i, _ in pairs], dtype=int)
        rows_y = np.array([j for _, j in pairs], dtype=int)
    subjects, codes = np.unique(subj[rows_y], return_inverse=True) if len(rows_y) else (np.array([]), np.array([]))
    return _Design(
        mode=mode,
        X=X_all[rows_x],
        y=y_all[rows_y],
        subject=np.asarray(codes, dtype=int),
        slot=pos[rows_y].astype(int),
        subjects=subjects,
        feature_period=table["period"].astype(str).to_numpy()[rows_x],
        positions=positions,
    )


def _shortfall(design: _Design, target: str) -> list[str]:
    """Why these rows are too few to fit (empty when they are enough)."""
    n = len(design.subjects)
    what = "an at-risk flag" if target == "at_risk" else "a grade"
    where = "in two consecutive periods" if design.mode == "prediction" else ""
    if n == 0:
        return [f"No subject has readings and {what} {where}".rstrip() + " yet; import outcomes first."]
    problems = []
    if n < MIN_SUBJECTS:
        problems.append(
            f"{n} subject(s) have readings and {what} {where}".replace("  ", " ").rstrip()
            + f"; at least {MIN_SUBJECTS} are needed."
        )
    if target == "at_risk":
        pos = len(np.unique(design.subject[design.y == 1]))
        neg = len(np.unique(design.subject[design.y == 0]))
        if pos < MIN_PER_CLASS or neg < MIN_PER_CLASS:
            problems.append(
                f"{pos} subject(s) were flagged at risk and {neg} were not; at least {MIN_PER_CLASS} of each are "
                "needed to tell them apart."
            )
    return problems


def _mode_label(mode: str) -> str:
    if mode == "prediction":
        return (
            "Prediction: the features of one period are paired with the outcome of the next period "
            "(periods ordered by start date)."
        )
    return "Association, not prediction: features and outcome come from the same period."


def _plan(
    table: pd.DataFrame,
    target: str,
    periods_order: Sequence[str] | None,
    mode: str,
    include_attendance: bool,
    subject_col: str,
) -> tuple[StudyPlan, _Design]:
    if target not in TARGETS:
        raise ValueError(f"target must be one of {TARGETS}")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}")
    features = DEFAULT_FEATURES + (ATTENDANCE_FEATURES if include_attendance else ())
    missing = [c for c in (subject_col, "period", target, *features) if c not in table.columns]
    if missing:
        raise ValueError(f"the table lacks columns {missing}")
    positions = _period_positions(table, periods_order)
    reasons: list[str] = []
    if mode == "auto":
        design = _design(table, target, features, positions, "prediction", subject_col)
        if not _shortfall(design, target):
            chosen = design
        else:
            chosen = _design(table, target, features, positions, "association", subject_col)
            n_pairs = len(design.subjects)
            periods_with_outcomes = len(set(chosen.feature_period))
            if periods_with_outcomes == 0:
                pass  # nothing to study at all: _shortfall says so
            elif periods_with_outcomes == 1:
                reasons.append("The data hold one period only, so the study measures association, not prediction.")
            else:
                reasons.append(
                    f"Only {n_pairs} subject(s) have outcomes in two consecutive periods (at least {MIN_SUBJECTS}"
                    + (f", with {MIN_PER_CLASS} flagged and {MIN_PER_CLASS} not" if target == "at_risk" else "")
                    + " are needed to predict), so the study measures association, not prediction."
                )
    else:
        chosen = _design(table, target, features, positions, mode, subject_col)
    problems = _shortfall(chosen, target)
    n_sub = len(chosen.subjects)
    is_risk = target == "at_risk"
    base_rate = float(chosen.y.mean()) if is_risk and len(chosen.y) else None
    plan = StudyPlan(
        target=target,
        mode=chosen.mode,
        mode_label=_mode_label(chosen.mode),
        n_subjects=n_sub,
        n_rows=len(chosen.y),
        n_positive_subjects=len(np.unique(chosen.subject[chosen.y == 1])) if is_risk else None,
        n_negative_subjects=len(np.unique(chosen.subject[chosen.y == 0])) if is_risk else None,
        base_rate=base_rate,
        features=tuple(features),
        can_fit=not problems,
        reasons=tuple(reasons + problems),
        power=_power(target, n_sub, base_rate, len(features)),
    )
    return plan, chosen


def plan_study(
    table: pd.DataFrame,
    target: str,
    *,
    periods_order: Sequence[str] | None = None,
    mode: str = "auto",
    include_attendance: bool = False,
    subject_col: str = "subject_id",
) -> StudyPlan:
    """What `study_outcomes` would do with `table` (see there), before fitting anything: the mode, the counts,
    the power statement, and the reasons it would not fit."""
    return _plan(table, target, periods_order, mode, include_attendance, subject_col)[0]


# --------------------------------------------------------------------------------------------
# The linear model, for the observed labels and every permutation at once


@dataclass(frozen=True)
class _Fit:
    scores: np.ndarray  # test rows × label columns (risk: centred score; grade: predicted grade)
    baseline: np.ndarray  # label columns: the training mean of each column
    coef: np.ndarray  # features × label columns
    median: np.ndarray  # features: the training rows' medians (for imputing)
    mean: np.ndarray  # features: the training rows' means
    sd: np.ndarray  # features: the training rows' SDs (inf for a constant feature)

    def standardise(self, X: np.ndarray) -> np.ndarray:
        """X imputed and scaled as the training rows were."""
        return (np.where(np.isnan(X), self.median, X) - self.mean) / self.sd


def _fit_predict(X_train: np.ndarray, X_test: np.ndarray, Y_train: np.ndarray, ridge: float, centred: bool) -> _Fit:
    """Ridge on features median-imputed and standardised with the training rows only; Y_train holds one label
    column per permutation, so one solve serves them all."""
    all_missing = np.isnan(X_train).all(axis=0)
    median = np.where(all_missing, 0.0, np.nanmedian(np.where(all_missing, 0.0, X_train), axis=0))
    X_train = np.where(np.isnan(X_train), median, X_train)
    mean, sd = X_train.mean(axis=0), X_train.std(axis=0)
    sd = np.where(sd > 1e-12, sd, np.inf)  # a constant feature contributes nothing
    Z_train, Z_test = (X_train - mean) / sd, (np.where(np.isnan(X_test), median, X_test) - mean) / sd
    y_mean = Y_train.mean(axis=0)
    gram = Z_train.T @ Z_train + ridge * len(Z_train) * np.eye(Z_train.shape[1])
    coef = np.linalg.solve(gram, Z_train.T @ (Y_train - y_mean))
    # For the risk AUC the fold's intercept (its training base rate) is left out: it is anti-correlated with the
    # test fold's own base rate and would pull the pooled AUC below 0.5, the flaw of the old prior baseline.
    scores = Z_test @ coef if centred else y_mean + Z_test @ coef
    return _Fit(scores=scores, baseline=y_mean, coef=coef, median=median, mean=mean, sd=sd)


def _statistic(Y: np.ndarray, pred: np.ndarray, base: np.ndarray, is_risk: bool) -> np.ndarray:
    """Per label column: the AUC of the scores (risk) or the MAE improvement over the baseline (grade)."""
    if is_risk:
        n_pos = Y[:, 0].sum()
        n_neg = len(Y) - n_pos
        if n_pos == 0 or n_neg == 0:
            return np.full(Y.shape[1], np.nan)
        ranks = rankdata(pred, axis=0)
        return ((ranks * Y).sum(axis=0) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    return np.abs(Y - base).mean(axis=0) - np.abs(Y - pred).mean(axis=0)


def _folds(n_subjects: int, n_splits: int, rng: np.random.Generator) -> np.ndarray:
    """Fold of each subject: shuffled, balanced sizes, and independent of the outcomes (so that every
    permutation is judged on the same folds as the observed labels)."""
    folds = np.empty(n_subjects, dtype=int)
    folds[rng.permutation(n_subjects)] = np.arange(n_subjects) % n_splits
    return folds


def _permutations(design: _Design, n_permutations: int, rng: np.random.Generator) -> np.ndarray:
    """Row indices (permutations × rows): each subject takes over the outcome sequence of another subject with
    outcomes in the same periods, so the within-subject dependence is kept."""
    n_sub = len(design.subjects)
    n_slots = int(design.slot.max()) + 1
    row_at = np.full((n_sub, n_slots), -1)
    row_at[design.subject, design.slot] = np.arange(len(design.y))
    patterns: dict[bytes, list[int]] = {}
    for s in range(n_sub):
        patterns.setdefault((row_at[s] >= 0).tobytes(), []).append(s)
    blocks = [np.array(members) for members in patterns.values() if len(members) > 1]
    out = np.empty((n_permutations, len(design.y)), dtype=int)
    donor = np.arange(n_sub)
    for k in range(n_permutations):
        for members in blocks:
            donor[members] = rng.permutation(members)
        out[k] = row_at[donor[design.subject], design.slot]
    return out


def _bootstrap_weights(design: _Design, n_bootstrap: int, rng: np.random.Generator) -> np.ndarray:
    """Bootstrap × rows: how often each row's subject was drawn (whole subjects are resampled)."""
    n_sub = len(design.subjects)
    counts = rng.multinomial(n_sub, np.full(n_sub, 1.0 / n_sub), size=n_bootstrap)
    return counts[:, design.subject].astype(float)


def _weighted_auc(y: np.ndarray, score: np.ndarray, W: np.ndarray) -> np.ndarray:
    pos, neg = y == 1, y == 0
    wins = (score[pos][:, None] > score[neg][None, :]) + 0.5 * (score[pos][:, None] == score[neg][None, :])
    num = ((W[:, pos] @ wins) * W[:, neg]).sum(axis=1)
    den = W[:, pos].sum(axis=1) * W[:, neg].sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / den, np.nan)


def _interval(draws: np.ndarray) -> tuple[float, float]:
    lo, hi = np.nanpercentile(draws, [2.5, 97.5])
    return float(lo), float(hi)


# --------------------------------------------------------------------------------------------
# The study


def study_outcomes(
    table: pd.DataFrame,
    target: str,
    *,
    periods_order: Sequence[str] | None = None,
    mode: str = "auto",
    include_attendance: bool = False,
    n_permutations: int = N_PERMUTATIONS,
    n_bootstrap: int = N_BOOTSTRAP,
    n_splits: int = N_SPLITS,
    alpha: float = ALPHA,
    ridge: float = RIDGE,
    random_state: int = 0,
    subject_col: str = "subject_id",
    code_col: str = "subject_code",
) -> OutcomeStudy:
    """Test whether the reading features of `table` carry information about `target` ('grade' or 'at_risk'),
    and rank subjects only if they do (module docstring).

    `table` has one row per (subject, period): `subject_col`, `period`, the feature columns and the outcome, as
    `Service.training_data` returns it. `periods_order` lists the period names oldest first (by start date);
    without it periods are ordered by name. `mode` is 'auto' (prediction where the data allow it), 'prediction'
    or 'association'. Raises ValueError for an unknown target or mode, or columns missing from the table.
    """
    if n_permutations < 1 or n_bootstrap < 1 or n_splits < 2:
        raise ValueError("n_permutations and n_bootstrap must be positive and n_splits at least 2")
    plan, design = _plan(table, target, periods_order, mode, include_attendance, subject_col)
    is_risk = target == "at_risk"
    score_column = RISK_SCORE if is_risk else GRADE_SCORE
    importance_label = (
        "change in the risk score (SD units) per standard deviation of the feature"
        if is_risk
        else "change in the predicted grade (points) per standard deviation of the feature"
    )
    statistic = (
        "pooled out-of-fold ROC-AUC against 0.5 (chance)"
        if is_risk
        else "out-of-fold MAE improvement over predicting the training folds' mean grade"
    )
    common: dict[str, Any] = dict(
        target=target,
        mode=plan.mode,
        mode_label=plan.mode_label,
        plan=plan,
        n_subjects=plan.n_subjects,
        n_rows=plan.n_rows,
        n_permutations=n_permutations,
        alpha=alpha,
        statistic=statistic,
        score_column=score_column,
        importance_label=importance_label,
    )
    if not plan.can_fit:
        verdict = "Not fitted: " + " ".join(_shortfall(design, target))
        log.info("outcome study of %s not fitted: %s", target, verdict)
        return OutcomeStudy(
            **common,
            fitted=False,
            passed=False,
            verdict=verdict,
            reasons=plan.reasons,
            n_splits=0,
            p_value=None,
            metrics=(),
            forward=None,
            scoring="No subject was scored.",
            importance=None,
            ranked=None,
        )

    rng = np.random.default_rng(random_state)
    n_sub = len(design.subjects)
    k = min(n_splits, n_sub)
    fold_of_subject = _folds(n_sub, k, rng)
    fold = fold_of_subject[design.subject]
    perm_rows = _permutations(design, n_permutations, rng)
    Y = np.column_stack([design.y, design.y[perm_rows].T])  # rows × (observed + permutations)

    pred = np.empty_like(Y)
    base = np.empty_like(Y)
    fold_fits: dict[int, _Fit] = {}
    for f in range(k):
        train, test = fold != f, fold == f
        fit = _fit_predict(design.X[train], design.X[test], Y[train], ridge, centred=is_risk)
        pred[test], base[test] = fit.scores, fit.baseline
        fold_fits[f] = fit
    stats = _statistic(Y, pred, base, is_risk)
    observed = float(stats[0])
    p_value = float((1 + np.sum(stats[1:] >= observed - 1e-12)) / (1 + n_permutations))

    W = _bootstrap_weights(design, n_bootstrap, rng)
    y, p, b = design.y, pred[:, 0], base[:, 0]
    metrics: tuple[Estimate, ...]
    if is_risk:
        lo, hi = _interval(_weighted_auc(y, p, W))
        metrics = (Estimate("AUC", observed, 0.5, lo, hi, True),)
        baseline_value, beaten = 0.5, lo > 0.5
    else:
        err_m, err_b = np.abs(y - p), np.abs(y - b)
        gain_draws = (W @ (err_b - err_m)) / W.sum(axis=1)
        mean_w = (W @ y) / W.sum(axis=1)
        ss_tot = (W * (y[None, :] - mean_w[:, None]) ** 2).sum(axis=1)
        r2_draws = 1 - (W @ (y - p) ** 2) / np.where(ss_tot > 0, ss_tot, np.nan)
        ss = float(((y - y.mean()) ** 2).sum())
        r2 = 1 - float(((y - p) ** 2).sum()) / ss if ss > 0 else float("nan")
        r2_base = 1 - float(((y - b) ** 2).sum()) / ss if ss > 0 else float("nan")
        g_lo, g_hi = _interval(gain_draws)
        r_lo, r_hi = _interval(r2_draws)
        metrics = (
            Estimate("MAE", float(err_m.mean()), float(err_b.mean()), None, None, False),
            Estimate("MAE improvement", observed, 0.0, g_lo, g_hi, True),
            Estimate("R²", r2, r2_base, r_lo, r_hi, True),
        )
        baseline_value, beaten = 0.0, g_lo > 0.0
    passed = bool(p_value <= alpha and observed > baseline_value and beaten)

    forward = _forward_check(design, Y, ridge, is_risk, n_permutations) if design.mode == "prediction" else None
    verdict = _verdict(target, plan.mode, n_sub, passed, metrics, p_value)
    reasons = list(plan.reasons)
    reasons.append(
        f"Decision: passes when the permutation p-value is at most {alpha:g} (one-sided; {n_permutations} "
        "permutations of whole subjects' outcomes) and the 95% subject-bootstrap interval lies above the baseline."
    )
    if forward is not None:
        reasons.append(forward.text)
        if passed and forward.value <= forward.baseline:
            reasons.append("Caution: the forward-in-time check does not confirm the result.")
    if not passed:
        reasons.append("No ranked list and no drivers are shown: the test did not pass.")

    ranked = importance = None
    scoring = "No subject was scored: the test did not pass."
    if passed:
        # A risk score has no unit of its own: it is expressed in SDs of the out-of-fold scores (0 = average).
        spread = float(np.std(pred[:, 0])) if is_risk else 1.0
        scale = 1.0 / spread if spread > 0 else 1.0
        ranked, scoring = _ranked(
            table, design, plan, fold_of_subject, fold_fits, is_risk, scale, subject_col, code_col
        )
        coefs = scale * np.array([fold_fits[f].coef[:, 0] for f in range(k)])
        importance = (
            pd.DataFrame(
                {
                    "feature": [_label(c) for c in plan.features],
                    "coefficient": coefs.mean(axis=0),
                    "sd": coefs.std(axis=0),
                }
            )
            .assign(_size=lambda d: d["coefficient"].abs())
            .sort_values("_size", ascending=False, ignore_index=True)
            .drop(columns="_size")
        )
    log.info("outcome study of %s (%s): %s", target, plan.mode, verdict)
    return OutcomeStudy(
        **common,
        fitted=True,
        passed=passed,
        verdict=verdict,
        reasons=tuple(reasons),
        n_splits=k,
        p_value=p_value,
        metrics=metrics,
        forward=forward,
        scoring=scoring,
        importance=importance,
        ranked=ranked,
    )


def _forward_check(design: _Design, Y: np.ndarray, ridge: float, is_risk: bool, n_perm: int) -> ForwardCheck | None:
    last = int(design.slot.max())
    train, test = design.slot < last, design.slot == last
    if not train.any() or not test.any():
        return None
    if is_risk and len(np.unique(Y[test, 0])) < 2:
        return None
    fit = _fit_predict(design.X[train], design.X[test], Y[train], ridge, centred=is_risk)
    stats = _statistic(Y[test], fit.scores, fit.baseline, is_risk)
    p = float((1 + np.sum(stats[1:] >= stats[0] - 1e-12)) / (1 + n_perm))
    metric, baseline = ("AUC", 0.5) if is_risk else ("MAE improvement", 0.0)
    text = (
        f"Forward-in-time check (trained on the earlier period pairs, {int(train.sum())} rows; tested on the latest, "
        f"{int(test.sum())} rows): {metric} {stats[0]:.2f} against {baseline:g}, permutation p = {p:.3f}."
    )
    return ForwardCheck(metric, float(stats[0]), baseline, p, int(train.sum()), int(test.sum()), text)


def _verdict(target: str, mode: str, n: int, passed: bool, metrics: tuple[Estimate, ...], p: float) -> str:
    what = "the at-risk flag" if target == "at_risk" else "grades"
    if mode == "prediction":
        claim = f"the readings of one period predict {what} of the next period better than the baseline"
    else:
        claim = f"the readings are associated with {what} of the same period"
    main = metrics[0] if target == "at_risk" else metrics[1]
    figures = f"{main.name} {main.value:.2f}, 95% interval {main.low:.2f}–{main.high:.2f}"
    if target == "grade":
        figures = f"MAE {metrics[0].value:.2f} vs {metrics[0].baseline:.2f} for the mean; {figures}"
    figures += f", permutation p = {p:.3f}"
    tail = "" if mode == "prediction" else " This is association, not prediction."
    if passed:
        return f"Evidence with {n} subjects that {claim} ({figures}).{tail}"
    return f"Not enough evidence with {n} subjects that {claim} ({figures}).{tail}"


def _label(feature: str) -> str:
    return f"{feature} (attendance)" if feature in ATTENDANCE_FEATURES else feature


def _ranked(
    table: pd.DataFrame,
    design: _Design,
    plan: StudyPlan,
    fold_of_subject: np.ndarray,
    fits: dict[int, _Fit],
    is_risk: bool,
    scale: float,
    subject_col: str,
    code_col: str,
) -> tuple[pd.DataFrame, str]:
    """Each studied subject's latest period, scored by the model of the fold that held that subject out."""
    features = list(plan.features)
    latest = (
        table.assign(_pos=table["period"].astype(str).map(design.positions))
        .sort_values([subject_col, "_pos"])
        .groupby(subject_col, sort=False)
        .tail(1)
    )
    index_of = {s: i for i, s in enumerate(design.subjects)}
    latest = latest[latest[subject_col].isin(index_of)]
    X = latest[features].to_numpy(dtype=float)
    folds = np.array([fold_of_subject[index_of[s]] for s in latest[subject_col]], dtype=int)
    scores = np.empty(len(latest))
    contrib = np.empty_like(X)
    for f in np.unique(folds):
        here = folds == f
        fit = fits[int(f)]  # the model that never saw these subjects, with the scaling of its training rows
        Z = fit.standardise(X[here])
        contrib[here] = Z * fit.coef[:, 0] * scale
        scores[here] = contrib[here].sum(axis=1) + (0.0 if is_risk else fit.baseline[0])
    toward_risk = contrib if is_risk else -contrib  # a lower grade is the risky direction
    drivers = []
    for i in range(len(latest)):
        top = [j for j in np.argsort(-toward_risk[i])[:TOP_DRIVERS] if toward_risk[i, j] > 0]
        drivers.append(", ".join(f"{_label(features[j])} {X[i, j]:+.2f}" for j in top) or "—")
    codes = latest[code_col] if code_col in latest.columns else latest[subject_col]
    score_name = RISK_SCORE if is_risk else GRADE_SCORE
    ranked = pd.DataFrame(
        {
            "subject": codes.astype(str).to_numpy(),
            "features from": latest["period"].astype(str).to_numpy(),
            score_name: scores,
            DRIVERS: drivers,
        }
    ).sort_values(score_name, ascending=not is_risk, ignore_index=True)
    ranked.index += 1
    target_words = "the period after it (not yet known)" if design.mode == "prediction" else "the same period"
    units = (
        "The risk score is in standard deviations of the out-of-fold scores, 0 for the cohort average and higher "
        "for subjects more like those flagged; it is not a probability."
        if is_risk
        else "The predicted grade is in grade points."
    )
    scoring = (
        f"Each subject is scored from their latest period's features, for {target_words}, by the model of the "
        "cross-validation fold that left that subject out: no score comes from a model that saw any of the "
        f"subject's outcomes. {units} Drivers are the features pushing most towards risk (coefficient × "
        "standardised value), shown with the feature's value."
    )
    return ranked, scoring
