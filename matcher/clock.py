"""Time in one place: 'now' is always passed in (aware UTC), so jobs can run as of any day (the demo does)."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo


def utc_now() -> datetime:
    return datetime.now(UTC)


def parse_now(value: str | None) -> datetime:
    """--now/--today values: '2025-01-23' or an ISO datetime; none means the real now."""
    if not value:
        return utc_now()
    dt = datetime.fromisoformat(value)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def week_of(now: datetime, tz: str = "Europe/London") -> str:
    """The ISO week label ('2025-W04') of `now` in the digest's time zone: one digest per SME per label."""
    local = now.astimezone(ZoneInfo(tz))
    year, week, _ = local.isocalendar()
    return f"{year}-W{week:02d}"


def week_start(week: str) -> date:
    year, w = week.split("-W")
    return date.fromisocalendar(int(year), int(w), 1)


def days_until(when: datetime | None, now: datetime) -> float | None:
    if when is None:
        return None
    return (when - now) / timedelta(days=1)
