"""Outcomes (grades, at-risk flags) from an uploaded CSV, and the predictors fed by features.

- `read_outcomes_csv` validates a CSV (subject_code, period, grade and/or at_risk) and reports
  every row that does not fit, with its line number and reason.
- `training_table` joins features with outcomes and refuses simulated and real data mixed.
- `GradePredictor` (ridge regression) and `RiskPredictor` (logistic regression, calibrated) are
  scikit-learn estimators; `evaluate` cross-validates them grouped by subject against a baseline
  that predicts the mean / the majority class, with permutation importance.
- `save_predictor` / `load_predictor` keep a fitted model with its feature list and version.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import numpy as np
import pandas as pd
from scipy.stats import rankdata
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.impute import SimpleImputer
from sklearn.inspection import permutation_importance
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import balanced_accuracy_score, brier_score_loss, mean_absolute_error, r2_score, roc_auc_score
from sklearn.model_selection import GroupKFold, StratifiedGroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import check_is_fitted, column_or_1d

from vadcore.features import FEATURE_COLUMNS

TARGETS = ("grade", "at_risk")
CSV_COLUMNS = ("subject_code", "period", "grade", "at_risk")
_TRUE = {"1", "true", "yes", "y", "ja", "oui", "x"}
_FALSE = {"0", "false", "no", "n", "nein", "non", ""}
MODEL_FORMAT = 1


class OutcomeCSVError(ValueError):
    """The file as a whole cannot be read as an outcomes CSV (no row-level report possible)."""


class MixedDataError(ValueError):
    """Simulated and real data were about to be used together."""


# --------------------------------------------------------------------------------------------
# CSV import


@dataclass
class OutcomeImport:
    """Rows that fit (`rows`: subject_code, period, grade, at_risk, line) and those that do not
    (`problems`: line, column, value, problem). Line numbers count the header as line 1."""

    rows: pd.DataFrame
    problems: pd.DataFrame

    @property
    def ok(self) -> bool:
        return self.problems.empty


def read_outcomes_csv(
    source: str | bytes | BinaryIO,
    *,
    known_subjects: set[str] | None = None,
    known_periods: set[str] | None = None,
    grade_range: tuple[float, float] | None = None,
) -> OutcomeImport:
    """Parse and validate an outcomes CSV (comma or semicolon separated, UTF-8).

    Every row that fails a check is reported once per failed check and left out of `rows`;
    rows repeating a (subject_code, period) pair are all left out, since which one is right
    cannot be told.
    """
    text = _decode(source)
    raw, n_header = _parse(text)
    problems: list[dict[str, Any]] = []

    def flag(mask: pd.Series, column: str, why: str) -> None:
        for idx in raw.index[mask]:
            problems.append(
                {
                    "line": int(raw.at[idx, "line"]),
                    "column": column,
                    "value": raw.at[idx, column] if column in raw else "",
                    "problem": why,
                }
            )

    flag(raw["n_cells"] != n_header, "n_cells", f"row does not have the header's {n_header} cells")
    code = raw["subject_code"].str.strip()
    period = raw["period"].str.strip()
    flag(code == "", "subject_code", "missing subject code")
    flag(period == "", "period", "missing period")
    if known_subjects is not None:
        flag((code != "") & ~code.isin(known_subjects), "subject_code", "unknown subject code")
    if known_periods is not None:
        flag((period != "") & ~period.isin(known_periods), "period", "unknown period")

    grade_text = raw["grade"].str.strip().str.replace(",", ".", regex=False)
    grade = pd.to_numeric(grade_text.where(grade_text != ""), errors="coerce")
    flag((grade_text != "") & (grade.isna() | ~np.isfinite(grade.fillna(0))), "grade", "grade is not a number")
    if grade_range is not None:
        lo, hi = grade_range
        flag(grade.notna() & ((grade < lo) | (grade > hi)), "grade", f"grade outside {lo:g}…{hi:g}")

    risk_text = raw["at_risk"].str.strip().str.lower()
    at_risk = risk_text.map(lambda v: True if v in _TRUE else (False if v in _FALSE and v else None))
    flag(~risk_text.isin(_TRUE | _FALSE), "at_risk", "at_risk must be yes/no, true/false or 1/0")
    flag((grade_text == "") & (risk_text == ""), "grade", "neither grade nor at_risk given")

    key = code + "\x00" + period
    flag((code != "") & key.duplicated(keep=False), "subject_code", "subject and period repeated in the file")

    problem_frame = pd.DataFrame(problems, columns=["line", "column", "value", "problem"])
    bad_lines = set(problem_frame["line"])
    rows = pd.DataFrame(
        {
            "subject_code": code,
            "period": period,
            "grade": grade,
            "at_risk": at_risk.astype(object),
            "line": raw["line"],
        }
    )
    rows = rows[~rows["line"].isin(bad_lines)].reset_index(drop=True)
    return OutcomeImport(rows=rows, problems=problem_frame.sort_values(["line", "column"], ignore_index=True))


def _decode(source: str | bytes | BinaryIO) -> str:
    if hasattr(source, "read"):
        source = source.read()
    if isinstance(source, bytes):
        try:
            return source.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise OutcomeCSVError("the file is not UTF-8 text (save it as 'CSV UTF-8')") from exc
    return source


def _parse(text: str) -> tuple[pd.DataFrame, int]:
    """The CSV's cells as text, one row per non-blank line, and the header's width."""
    if not text.strip():
        raise OutcomeCSVError("the file is empty")
    first_line = text.lstrip().splitlines()[0]
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    try:
        records = list(csv.reader(io.StringIO(text.lstrip()), delimiter=delimiter))
    except csv.Error as exc:
        raise OutcomeCSVError(f"not a readable CSV file: {exc}") from exc
    header = [h.strip().lower() for h in records[0]]
    for required in ("subject_code", "period"):
        if required not in header:
            raise OutcomeCSVError(f"column {required!r} is missing (found {header})")
    if "grade" not in header and "at_risk" not in header:
        raise OutcomeCSVError("the file needs a 'grade' or an 'at_risk' column (or both)")
    unknown = sorted(set(header) - set(CSV_COLUMNS))
    if unknown:
        raise OutcomeCSVError(f"unexpected columns {unknown}; expected {list(CSV_COLUMNS)}")

    data = []
    for line_no, rec in enumerate(records[1:], start=2):
        if not any(cell.strip() for cell in rec):
            continue  # blank lines are not rows
        cells = dict(zip(header, rec))
        row: dict[str, str | int] = {col: cells.get(col, "") for col in CSV_COLUMNS}
        row["line"] = line_no
        row["n_cells"] = len(rec)
        data.append(row)
    frame = pd.DataFrame(data, columns=[*CSV_COLUMNS, "line", "n_cells"])
    if frame.empty:
        raise OutcomeCSVError("the file has a header but no rows")
    return frame.astype({c: str for c in CSV_COLUMNS}), len(header)


# --------------------------------------------------------------------------------------------
# Training table


def training_table(features: pd.DataFrame, outcomes: pd.DataFrame, *, subject_col: str = "subject_id") -> pd.DataFrame:
    """Features joined with outcomes on (subject, period); refuses simulated and real mixed.

    `features` is indexed by (subject, period) as `subject_period_features` returns it;
    `outcomes` has columns subject, period, grade, at_risk. Either may carry an `is_simulated`
    column, and all its values together must agree.
    """
    flags = {bool(v) for frame in (features, outcomes) if "is_simulated" in frame for v in frame["is_simulated"]}
    if len(flags) > 1:
        raise MixedDataError("simulated and real subjects cannot be used together")
    table = features.reset_index().merge(
        outcomes.drop(columns="is_simulated", errors="ignore"), on=[subject_col, "period"], how="inner"
    )
    return table.sort_values([subject_col, "period"], ignore_index=True)


# --------------------------------------------------------------------------------------------
# Estimators


def _features_frame(X: Any, expected: list[str] | None = None) -> pd.DataFrame:
    """The feature columns of X, in the order the model was fitted with."""
    if not isinstance(X, pd.DataFrame):
        raise TypeError("X must be a pandas DataFrame with named feature columns")
    names = expected if expected is not None else [c for c in X.columns if c in FEATURE_COLUMNS]
    missing = [c for c in names if c not in X.columns]
    if missing or not names:
        raise ValueError(f"X lacks feature columns {missing or list(FEATURE_COLUMNS)}")
    return X[names].astype(float)


class GradePredictor(RegressorMixin, BaseEstimator):
    """Grade from features: median imputation, standardisation, ridge regression."""

    def __init__(self, alpha: float = 10.0):
        self.alpha = alpha

    def fit(self, X: pd.DataFrame, y: Any, groups: Any = None) -> GradePredictor:
        Xf = _features_frame(X)
        y = column_or_1d(np.asarray(y, dtype=float))
        if not np.all(np.isfinite(y)):
            raise ValueError("grades must be finite numbers")
        self.pipeline_ = make_pipeline(
            SimpleImputer(strategy="median", keep_empty_features=True), StandardScaler(), Ridge(alpha=self.alpha)
        )
        self.pipeline_.fit(Xf, y)
        self.feature_names_in_ = np.asarray(Xf.columns, dtype=object)
        self.n_features_in_ = len(Xf.columns)
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "pipeline_")
        return self.pipeline_.predict(_features_frame(X, list(self.feature_names_in_)))


class RiskPredictor(ClassifierMixin, BaseEstimator):
    """At-risk flag from features: logistic regression with balanced class weights, then
    calibrated (`calibration` = "sigmoid" or "isotonic") on folds grouped by subject, so that
    `predict_proba` reads as a probability.

    `predict` flags a row when its calibrated risk exceeds the base rate seen in training: at a
    rare flag a 0.5 threshold would almost never fire.
    """

    def __init__(
        self, C: float = 0.3, calibration: str = "sigmoid", n_calibration_splits: int = 3, random_state: int | None = 0
    ):
        self.C = C
        self.calibration = calibration
        self.n_calibration_splits = n_calibration_splits
        self.random_state = random_state

    def fit(self, X: pd.DataFrame, y: Any, groups: Any = None) -> RiskPredictor:
        Xf = _features_frame(X)
        y = column_or_1d(np.asarray(y)).astype(int)
        if type_of_target(y) != "binary" or set(np.unique(y)) != {0, 1}:
            raise ValueError("at_risk must hold both 0 and 1")
        base = make_pipeline(
            SimpleImputer(strategy="median", keep_empty_features=True),
            StandardScaler(),
            LogisticRegression(C=self.C, class_weight="balanced", max_iter=1000, random_state=self.random_state),
        )
        splitter = StratifiedGroupKFold(self.n_calibration_splits, shuffle=True, random_state=self.random_state)
        groups = np.arange(len(y)) if groups is None else np.asarray(groups)
        splits = list(splitter.split(Xf, y, groups))
        self.model_ = CalibratedClassifierCV(base, method=self.calibration, cv=splits).fit(Xf, y)
        self.classes_ = self.model_.classes_
        self.threshold_ = float(y.mean())
        self.feature_names_in_ = np.asarray(Xf.columns, dtype=object)
        self.n_features_in_ = len(Xf.columns)
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "model_")
        return self.model_.predict_proba(_features_frame(X, list(self.feature_names_in_)))

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] > self.threshold_).astype(int)


def make_predictor(target: str, random_state: int | None = 0) -> GradePredictor | RiskPredictor:
    """The estimator for `target` ('grade' or 'at_risk') with its default settings."""
    if target == "grade":
        return GradePredictor()
    if target == "at_risk":
        return RiskPredictor(random_state=random_state)
    raise ValueError(f"target must be one of {TARGETS}")


# --------------------------------------------------------------------------------------------
# Evaluation


@dataclass
class Evaluation:
    """Grouped cross-validation of a predictor against its baseline.

    `metrics` and `baseline` are computed on out-of-fold predictions pooled over the folds.
    `improvement` is how much better the model's primary metric is than the baseline's (MAE
    lower, ROC-AUC higher), with a 95% interval from resampling subjects; the model is said to
    beat the baseline only when that whole interval is above zero.
    """

    target: str
    n_rows: int
    n_subjects: int
    n_splits: int
    primary_metric: str
    metrics: dict[str, float]
    baseline: dict[str, float]
    improvement: float
    improvement_ci: tuple[float, float]
    importance: pd.DataFrame = field(repr=False)

    @property
    def beats_baseline(self) -> bool:
        return self.improvement_ci[0] > 0

    def summary(self) -> str:
        m, b = self.metrics, self.baseline
        scores = ", ".join(f"{k} {m[k]:.3f} (baseline {b[k]:.3f})" for k in m)
        lo, hi = self.improvement_ci
        verdict = "beats" if self.beats_baseline else "does not beat"
        return (
            f"{self.target}: {self.n_rows} rows, {self.n_subjects} subjects, {self.n_splits} grouped folds; "
            f"{scores}; {self.primary_metric} improvement {self.improvement:+.3f} "
            f"[95% {lo:+.3f}, {hi:+.3f}] → {verdict} the baseline"
        )


def evaluate(
    estimator: GradePredictor | RiskPredictor,
    X: pd.DataFrame,
    y: Any,
    groups: Any,
    *,
    n_splits: int = 5,
    n_repeats: int = 5,
    n_bootstrap: int = 1000,
    random_state: int = 0,
) -> Evaluation:
    """Cross-validate `estimator` with folds grouped by subject (`groups`) and compare it with a
    baseline fitted on the same folds; permutation importance is measured on held-out folds."""
    is_risk = isinstance(estimator, RiskPredictor)
    Xf = _features_frame(X)
    y = column_or_1d(np.asarray(y, dtype=float))
    groups = np.asarray(groups)
    if is_risk:
        splitter = StratifiedGroupKFold(n_splits, shuffle=True, random_state=random_state)
        baseline_est = DummyClassifier(strategy="prior")  # majority label, base-rate probability
        scoring = "roc_auc"
    else:
        splitter = GroupKFold(n_splits, shuffle=True, random_state=random_state)
        baseline_est = DummyRegressor(strategy="mean")
        scoring = "neg_mean_absolute_error"

    pred = np.empty(len(y))
    base = np.empty(len(y))
    hard = np.empty(len(y))
    importances = []
    for k, (train, test) in enumerate(splitter.split(Xf, y.astype(int) if is_risk else y, groups)):
        model = clone(estimator).fit(Xf.iloc[train], y[train], groups=groups[train])
        dummy = clone(baseline_est).fit(Xf.iloc[train], y[train])
        if is_risk:
            pred[test] = model.predict_proba(Xf.iloc[test])[:, 1]
            hard[test] = model.predict(Xf.iloc[test])
            base[test] = dummy.predict_proba(Xf.iloc[test])[:, 1]
        else:
            pred[test] = model.predict(Xf.iloc[test])
            base[test] = dummy.predict(Xf.iloc[test])
        imp = permutation_importance(
            model, Xf.iloc[test], y[test], scoring=scoring, n_repeats=n_repeats, random_state=random_state + k
        )
        importances.append(imp.importances_mean)

    if is_risk:
        metrics = {
            "roc_auc": roc_auc_score(y, pred),
            "balanced_accuracy": balanced_accuracy_score(y, hard),
            "brier": brier_score_loss(y, pred),
        }
        baseline = {
            "roc_auc": roc_auc_score(y, base),
            "balanced_accuracy": balanced_accuracy_score(y, base > 0.5),
            "brier": brier_score_loss(y, base),
        }
        primary, gain = "roc_auc", lambda yt, p, b: _auc(yt, p) - _auc(yt, b)
    else:
        metrics = {"mae": mean_absolute_error(y, pred), "r2": r2_score(y, pred)}
        baseline = {"mae": mean_absolute_error(y, base), "r2": r2_score(y, base)}
        primary, gain = "mae", lambda yt, p, b: np.mean(np.abs(yt - b)) - np.mean(np.abs(yt - p))

    imp = np.vstack(importances)
    importance = pd.DataFrame({"feature": Xf.columns, "importance": imp.mean(axis=0), "std": imp.std(axis=0)})
    return Evaluation(
        target="at_risk" if is_risk else "grade",
        n_rows=len(y),
        n_subjects=len(np.unique(groups)),
        n_splits=n_splits,
        primary_metric=primary,
        metrics={k: float(v) for k, v in metrics.items()},
        baseline={k: float(v) for k, v in baseline.items()},
        improvement=float(gain(y, pred, base)),
        improvement_ci=_subject_bootstrap(gain, y, pred, base, groups, n_bootstrap, random_state),
        importance=importance.sort_values("importance", ascending=False, ignore_index=True),
    )


def _auc(y: np.ndarray, p: np.ndarray) -> float:
    """ROC-AUC from ranks (Mann–Whitney U); roc_auc_score's checks dominate a 1000-fold bootstrap."""
    positive = y == 1
    n_pos, n_neg = positive.sum(), len(y) - positive.sum()
    if n_pos == 0 or n_neg == 0:
        return np.nan
    return float((rankdata(p)[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _subject_bootstrap(gain, y, pred, base, groups, n_bootstrap: int, random_state: int) -> tuple[float, float]:
    """95% percentile interval of `gain` over resamples of whole subjects (their rows move together)."""
    rng = np.random.default_rng(random_state)
    subjects, codes = np.unique(groups, return_inverse=True)
    rows_of = [np.flatnonzero(codes == i) for i in range(len(subjects))]
    draws = []
    for _ in range(n_bootstrap):
        rows = np.concatenate([rows_of[i] for i in rng.integers(0, len(subjects), len(subjects))])
        draws.append(gain(y[rows], pred[rows], base[rows]))
    lo, hi = np.nanpercentile(draws, [2.5, 97.5])
    return float(lo), float(hi)
