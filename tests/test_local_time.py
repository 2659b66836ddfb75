"""Times in the user's zone (issue 14): stored UTC moments read as local time with the zone's name, and a
filter's days are the user's days, also on daylight-saving days and around midnight."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from helpers import PASSWORDS, app_log_in, record_lawful_deployment

LA = ZoneInfo("America/Los_Angeles")
AUCKLAND = ZoneInfo("Pacific/Auckland")
DAY = date(2026, 11, 29)
LATE = datetime(2026, 11, 29, 23, 30, tzinfo=LA)  # 07:30 on 30 November in UTC


@pytest.fixture
def server_zone(monkeypatch):
    """The server's zone named by TZ, as a deployment may set it; the zone cache is emptied around the test."""
    from ui import local_time

    def use(name: str) -> None:
        monkeypatch.setenv("TZ", name)
        local_time.local_zone.cache_clear()

    yield use
    monkeypatch.undo()
    local_time.local_zone.cache_clear()


def test_a_stored_moment_reads_as_local_time_with_the_zones_short_name():
    from ui.local_time import local_text

    assert local_text(LATE.astimezone(UTC), LA) == "2026-11-29 23:30 PST"
    assert local_text(datetime(2026, 11, 28, 11, 0, tzinfo=UTC), AUCKLAND) == "2026-11-29 00:00 NZDT"  # midnight
    assert local_text(datetime(2026, 11, 28, 10, 59, tzinfo=UTC), AUCKLAND) == "2026-11-28 23:59 NZDT"
    assert local_text(datetime(2026, 7, 1, 6, 59, tzinfo=UTC), LA) == "2026-06-30 23:59 PDT"  # summer time
    assert local_text(datetime(2026, 3, 8, 10, 0, tzinfo=UTC), LA) == "2026-03-08 03:00 PDT"  # 02:00-03:00 skipped
    assert local_text(LATE, UTC) == "2026-11-30 07:30 UTC"


def test_a_local_day_range_becomes_utc_bounds_also_on_daylight_saving_days():
    from ui.local_time import day_bounds

    assert day_bounds(DAY, DAY, LA) == (datetime(2026, 11, 29, 8, tzinfo=UTC), datetime(2026, 11, 30, 8, tzinfo=UTC))
    two_days = day_bounds(DAY, DAY + timedelta(days=1), AUCKLAND)
    assert two_days == (datetime(2026, 11, 28, 11, tzinfo=UTC), datetime(2026, 11, 30, 11, tzinfo=UTC))
    start, end = day_bounds(date(2026, 3, 8), date(2026, 3, 8), LA)  # clocks go forward: a 23-hour day
    assert (start, end - start) == (datetime(2026, 3, 8, 8, tzinfo=UTC), timedelta(hours=23))
    start, end = day_bounds(date(2026, 4, 5), date(2026, 4, 5), AUCKLAND)  # clocks go back: a 25-hour day
    assert (start, end - start) == (datetime(2026, 4, 4, 11, tzinfo=UTC), timedelta(hours=25))
    start, end = day_bounds(DAY, DAY, LA)
    assert start <= LATE < end and not (LATE < day_bounds(DAY, DAY, UTC)[1])  # 23:30 there is the next UTC day


def test_the_zone_is_the_browsers_when_it_names_one_else_the_servers_with_its_rules(server_zone):
    from ui import local_time

    assert local_time.local_zone("Pacific/Auckland") == AUCKLAND
    server_zone("America/Los_Angeles")
    assert local_time.local_zone(None) == LA  # a named zone: summer and winter times, not today's offset
    assert local_time.local_zone("Mars/Olympus_Mons") == LA  # a name unknown here: the server's
    assert local_time.user_zone() == LA  # outside a page run no browser speaks
    assert local_time.zone_name(LA) == "America/Los_Angeles"


def test_a_table_column_shows_moments_in_the_zone_and_its_label_says_which():
    from ui.local_time import datetime_column

    column = datetime_column("at", AUCKLAND)
    assert (column["label"], column["type_config"]["timezone"]) == ("at (Pacific/Auckland)", "Pacific/Auckland")
    assert datetime_column("at", AUCKLAND, with_time=False)["type_config"]["format"] == "YYYY-MM-DD"
    india = timezone(timedelta(hours=5, minutes=30), "IST")  # a bare offset: the table takes "+05:30"
    assert datetime_column("at", india)["type_config"]["timezone"] == "+05:30"
    assert datetime_column("at", timezone(-timedelta(hours=3)))["type_config"]["timezone"] == "-03:00"


def _late_reading(service, admin, make_reading):
    """A group with one reading taken at 23:30 on 29 November in Los Angeles (30 November in UTC)."""
    group = service.create_group(admin, "7a", "class")
    meeting = service.create_session(admin, group.id, LATE - timedelta(minutes=30), "evening")
    service.save_capture(admin, meeting.id, [make_reading()], [None], "ab" * 32, "upload", captured_at=LATE)
    return group


def test_the_day_filters_count_local_days(service, admin, make_reading):
    from sqlalchemy import select, update
    from sqlalchemy.orm import Session

    from db.models import AuditEntry
    from ui import figures
    from ui.local_time import day_bounds

    group = _late_reading(service, admin, make_reading)
    start, end = day_bounds(DAY, DAY, LA)
    local_day = service.readings_frame(admin, group_id=group.id, start=start, end=end)
    assert len(local_day) == 1
    start, end = day_bounds(DAY, DAY, UTC)
    assert service.readings_frame(admin, group_id=group.id, start=start, end=end).empty  # 30 November in UTC
    hover = figures.vad_projections(local_day, LA).data[0].hovertext
    assert "2026-11-29 23:30 PST" in hover[0]
    exported = pd.read_csv(io.StringIO(service.export_readings_csv(admin, group_id=group.id)))
    assert list(exported["captured_at"]) == ["2026-11-30T07:30:00Z"]  # exports stay in UTC

    with Session(service.engine) as s, s.begin():  # the group was created at 23:30 in Los Angeles
        s.execute(update(AuditEntry).where(AuditEntry.action == "create_group").values(at=LATE))
        assert s.scalar(select(AuditEntry.at).where(AuditEntry.action == "create_group")) == LATE
    created = service.audit_log(admin, action="create_group", since=DAY, until=DAY, zone=LA)
    assert list(created["object_id"]) == [group.id]
    assert service.audit_log(admin, action="create_group", since=DAY, until=DAY).empty  # a UTC day by default
    assert service.audit_log(admin, action="create_group", until=DAY - timedelta(days=1), zone=LA).empty
    reads = set(service.audit_log(admin, action="view_audit_log")["detail"])
    assert "rows=1 action='create_group' since=2026-11-29 until=2026-11-29 zone=America/Los_Angeles" in reads


@pytest.mark.slow
def test_the_explorer_shows_and_filters_in_the_servers_zone_when_the_browser_names_none(
    app_service, make_reading, server_zone
):
    svc = app_service
    admin = svc.create_first_admin("admin", PASSWORDS["admin"], "Ada Admin")
    record_lawful_deployment(svc, admin)
    _late_reading(svc, admin, make_reading)
    server_zone("America/Los_Angeles")

    at = app_log_in("admin", timeout=300)
    at.switch_page("pages/explorer.py").run()
    assert not at.exception, at.exception
    dates = at.date_input(key="explore_dates")
    assert dates.label == "Dates (America/Los_Angeles)"
    assert at.selectbox(key="explore_session").options[1].endswith("2026-11-29 23:00 PST — evening")
    dates.set_value((DAY, DAY)).run()
    assert at.metric[0].value == "1", "the reading at 23:30 is on 29 November there"
    at.date_input(key="explore_dates").set_value((DAY + timedelta(days=1), DAY + timedelta(days=1))).run()
    assert not at.exception, at.exception
    assert "No readings match these filters" in at.info[0].value
