"""Times as the user reads them: the database stores UTC moments; pages show them in the user's time zone (the
browser's, else the server's) and count a filter's days in that zone. CSV exports stay in UTC (ISO 8601).

`user_zone()` is the zone of this run; `local_text` writes a moment ("2026-11-29 09:00 CET"), `clock_time` a
time of day ("14:05"), `zone_name` names the zone in labels ("Europe/Berlin"), `day_bounds` turns local days
into UTC bounds, `in_zone` moves a column of moments into the zone for figures, and `datetime_column` shows one
in a dataframe.
"""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime, timedelta, tzinfo
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd
import streamlit as st
from streamlit.elements.lib.column_types import ColumnConfig

from vadcore.local_days import day_bounds as day_bounds  # re-exported: pages count local days with it
from vadcore.local_days import zone_name

log = logging.getLogger(__name__)

ZONEINFO_LINK = Path("/etc/localtime")  # on Linux and macOS a link into the zone database names the server's zone


def user_zone() -> tzinfo:
    """The zone of the browser of this run (`st.context.timezone`), else the server's."""
    return local_zone(st.context.timezone)


@cache  # one lookup (and one log line for an unknown name) per zone name, not per call
def local_zone(name: str | None) -> tzinfo:
    """The time zone named by the browser (e.g. "Europe/Berlin") when it is known here; otherwise the server's
    own local zone."""
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            log.info("unknown browser time zone %r; using the server's", name)
    return _server_zone()


def _server_zone() -> tzinfo:
    # A named zone knows its daylight-saving rules; the fixed offset of today (the last resort) does not.
    name = os.environ.get("TZ", "").removeprefix(":")
    if not name and ZONEINFO_LINK.is_symlink():
        _, found, name = str(ZONEINFO_LINK.resolve()).partition("zoneinfo/")
        name = name if found else ""
    try:
        return ZoneInfo(name) if name else _offset_now()
    except (ZoneInfoNotFoundError, ValueError):
        return _offset_now()


def _offset_now() -> tzinfo:
    return datetime.now().astimezone().tzinfo or UTC  # astimezone() of a naive moment sets the local zone


def local_text(moment: datetime, zone: tzinfo) -> str:
    """A stored moment in `zone` with the zone's short name there and then: "2026-11-29 09:00 CET"."""
    local = moment.astimezone(zone)
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()}"


def clock_time(moment: datetime, zone: tzinfo) -> str:
    """ "14:05" in `zone`, with the date in front when it is not today there."""
    local = moment.astimezone(zone)
    return f"{local:%H:%M}" if local.date() == datetime.now(zone).date() else f"{local:%Y-%m-%d %H:%M}"


def in_zone(moments: pd.Series, zone: tzinfo) -> pd.Series:
    """A column of stored moments in `zone` (figures draw the local clock time)."""
    return pd.to_datetime(moments, utc=True).dt.tz_convert(zone)


def datetime_column(label: str, zone: tzinfo, *, with_time: bool = True, help: str | None = None) -> ColumnConfig:
    """A dataframe column of stored moments shown in `zone`, its label naming the zone."""
    minutes = int((zone.utcoffset(None) or timedelta(0)).total_seconds() // 60)
    # the table takes a zone name, or else a fixed offset ("+05:30")
    where = (
        getattr(zone, "key", None) or f"{'-' if minutes < 0 else '+'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    )
    return st.column_config.DatetimeColumn(
        f"{label} ({zone_name(zone)})",
        format="YYYY-MM-DD HH:mm" if with_time else "YYYY-MM-DD",
        timezone=where,
        help=help,
    )
