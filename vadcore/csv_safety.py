"""CSV files that a spreadsheet opens as data, never as formulas (CSV or "formula" injection).

A cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return is run as a formula by Excel,
LibreOffice and Google Sheets (`=HYPERLINK(...)`, `=cmd|' /C calc'!A0`). OWASP's rule: such a text cell gets
a leading apostrophe, which the spreadsheet shows as text. Numbers stay numbers: numeric columns are left
alone, and so is a text cell that is just a number ("-1.5"). Every CSV that VAD Lens writes goes through
`to_csv` here.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pandas as pd

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")

__all__ = ["FORMULA_PREFIXES", "neutralise_cell", "neutralise_frame", "to_csv"]


def neutralise_cell(value: Any) -> Any:
    """`value` with a leading apostrophe when it is text a spreadsheet would run as a formula; anything
    else (numbers, dates, missing values, harmless text) unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES) and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def _neutralise_index(index: pd.Index) -> pd.Index:
    if isinstance(index, pd.MultiIndex):
        return pd.MultiIndex.from_tuples(
            [tuple(neutralise_cell(v) for v in t) for t in index], names=[neutralise_cell(n) for n in index.names]
        )
    if index.dtype == object or pd.api.types.is_string_dtype(index):
        return pd.Index([neutralise_cell(v) for v in index], name=neutralise_cell(index.name), dtype=object)
    return index.rename(neutralise_cell(index.name))


def neutralise_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of `frame` whose text cells, column names and index labels are neutralised."""
    out = frame.copy()
    for column in out.columns:
        series = out[column]
        if (
            series.dtype == object
            or pd.api.types.is_string_dtype(series)
            or isinstance(series.dtype, pd.CategoricalDtype)
        ):
            out[column] = series.astype(object).map(neutralise_cell)
    out.columns = _neutralise_index(out.columns)
    out.index = _neutralise_index(out.index)
    return out


def to_csv(frame: pd.DataFrame, path: str | Path | None = None, **kwargs: Any) -> str | None:
    """`frame.to_csv(path, **kwargs)` with formula cells neutralised: the CSV text when `path` is None.

    Rows end in CRLF (RFC 4180): then a cell holding a carriage return is quoted. With pandas' default "\n" it
    is not, and a spreadsheet starts a new row at the "\r", whose first cell ("a\r=1+1") is a formula again."""
    kwargs.setdefault("lineterminator", "\r\n")
    return neutralise_frame(frame).to_csv(path, **kwargs)
