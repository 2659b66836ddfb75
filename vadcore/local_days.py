"""Calendar days in a time zone, for code that stores UTC moments: where a run of local days begins and ends,
and the zone's name as labels and logs give it. Shared by the pages (ui/local_time.py) and the service layer."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, tzinfo


def zone_name(zone: tzinfo) -> str:
    """The zone as labels name it: "Europe/Berlin" (or "CET" for a bare offset)."""
    return getattr(zone, "key", None) or zone.tzname(None) or "UTC"


def day_bounds(first: date, last: date, zone: tzinfo) -> tuple[datetime, datetime]:
    """The UTC moments where local day `first` begins (included) and local day `last` ends (excluded); a day
    with a daylight-saving change is 23 or 25 hours long."""
    start = datetime.combine(first, time.min, zone)
    end = datetime.combine(last + timedelta(days=1), time.min, zone)
    return start.astimezone(UTC), end.astimezone(UTC)
