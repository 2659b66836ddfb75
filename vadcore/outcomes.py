"""Outcomes (grades, at-risk flags): reading them from an uploaded CSV and joining them with features.

- `read_outcomes_csv` validates a CSV (subject_code, period, grade and/or at_risk) and reports
  every row that does not fit, with its line number and reason.
- `training_table` joins features with outcomes and refuses simulated and real data mixed.

What the features can tell about the outcomes (the fair test, the ranked list) is
`vadcore.outcome_study.study_outcomes`.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any, BinaryIO

import numpy as np
import pandas as pd

TARGETS = ("grade", "at_risk")
CSV_COLUMNS = ("subject_code", "period", "grade", "at_risk")
_TRUE = {"1", "true", "yes", "y", "ja", "oui", "x"}
_FALSE = {"0", "false", "no", "n", "nein", "non", ""}
# Without a range of its own a grade beyond ±GRADE_ABS_MAX is refused: one absurd value (1e6) would dominate any
# fit on the grades and flip the study's verdict.
GRADE_ABS_MAX = 1e4


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

    A grade must be a finite number within `grade_range` (inclusive), or within ±GRADE_ABS_MAX when no range
    is given.

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
    finite = grade.notna() & np.isfinite(grade.fillna(0))
    if grade_range is not None:
        lo, hi = grade_range
        flag(finite & ((grade < lo) | (grade > hi)), "grade", f"grade outside {lo:g}…{hi:g}")
    else:
        flag(
            finite & (grade.abs() > GRADE_ABS_MAX),
            "grade",
            f"grade beyond ±{GRADE_ABS_MAX:,.0f} and no grade range is set for the group (an administrator sets one)",
        )

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
