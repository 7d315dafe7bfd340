"""Digest periods: a weekly SME's period is its ISO week ('2025-W04'), a daily SME's is its ISO date ('2025-01-23'),
both in the digest's time zone. Digest, Match and WeekOutcome rows are keyed by the label (10 characters at most).

Labels of one kind order as strings; across kinds, compare `start` dates (a week starts on its Monday), or use
the SQL conditions of matcher.store.periods, which read the kind from the label.

Daily cadence ("daily for new notices only"): a daily SME's digest lists only notices first seen since the
cut-off of its previous digest (the `now` of the match run that digest was built from, kept as
WeekOutcome.seen_until), never one it already got; a day with nothing new sends nothing (the digest is 'empty').

Switching cadence (the SME's own page, or an import) loses nothing and sends nothing twice:
- weekly -> daily: the first daily digest takes the notices first seen since the cut-off of the last weekly
  digest; what a weekly digest already sent is never listed again; an unsent weekly digest is still retried in
  its week, and if it never goes, its items come back in the next digest (carry-over reads any cadence).
- daily -> weekly: the weekly digest takes every open notice not sent before, so nothing first seen on the
  days in between is missed, and nothing a daily digest sent is listed again.
- a digest is built only for the SME's cadence at the time; one built before the switch is sent, retried, or
  given up ('dead') once its period is over, and its items carried into the next digest, as usual.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

Cadence = Literal["weekly", "daily"]
CADENCES: tuple[Cadence, ...] = ("weekly", "daily")
WEEK_RE = re.compile(r"^(\d{4})-W(\d{2})$")
DAY_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")


class PeriodError(ValueError):
    """A label that is neither an ISO week (2025-W04) nor an ISO date (2025-01-23)."""


@dataclass(frozen=True, order=False)
class Period:
    cadence: Cadence
    label: str
    start: date  # the first day (a week's Monday)
    end: date  # the last day (a week's Sunday)

    def __str__(self) -> str:
        return self.label

    def __lt__(self, other: Period) -> bool:  # by first day, then a week before the days it starts with
        return (self.start, self.cadence != "weekly") < (other.start, other.cadence != "weekly")

    @property
    def week(self) -> str:
        """The ISO week the period falls in (a week's own label)."""
        year, number, _ = self.start.isocalendar()
        return f"{year}-W{number:02d}"

    @property
    def days(self) -> list[str]:
        """The day labels the period covers."""
        return [(self.start + timedelta(days=i)).isoformat() for i in range((self.end - self.start).days + 1)]

    def shift(self, n: int) -> Period:
        """The period `n` periods later (earlier if negative), of the same cadence."""
        step = timedelta(weeks=n) if self.cadence == "weekly" else timedelta(days=n)
        return on_day(self.start + step, self.cadence)

    def describe(self) -> str:
        """For people: 'week of 27 January 2025' or 'Monday 27 January 2025'."""
        s = self.start
        return f"week of {s.day} {s:%B %Y}" if self.cadence == "weekly" else f"{s:%A} {s.day} {s:%B %Y}"


def on_day(day: date, cadence: Cadence) -> Period:
    if cadence == "daily":
        return Period("daily", day.isoformat(), day, day)
    monday = day - timedelta(days=day.weekday())
    year, number, _ = monday.isocalendar()
    return Period("weekly", f"{year}-W{number:02d}", monday, monday + timedelta(days=6))


def period_of(now: datetime, cadence: Cadence = "weekly", tz: str = "Europe/London") -> Period:
    """The period `now` falls in, in the digest's time zone."""
    if cadence not in CADENCES:
        raise PeriodError(f"cadence {cadence!r} is not one of {', '.join(CADENCES)}")
    return on_day(now.astimezone(ZoneInfo(tz)).date(), cadence)


def parse(label: str) -> Period:
    """A stored or typed label back to its period, or a PeriodError saying what is expected."""
    value = label.strip()
    try:
        if m := WEEK_RE.match(value):
            return on_day(date.fromisocalendar(int(m[1]), int(m[2]), 1), "weekly")
        if DAY_RE.match(value):
            return on_day(date.fromisoformat(value), "daily")
    except ValueError:
        raise PeriodError(f"period {label!r} does not exist") from None
    raise PeriodError(f"period {label!r} is neither an ISO week such as 2025-W04 nor a date such as 2025-01-23")


def cadence_of(label: str) -> Cadence:
    return "weekly" if "-W" in label else "daily"


def local_midnight(day: date, tz: str) -> datetime:
    return datetime.combine(day, datetime.min.time(), tzinfo=ZoneInfo(tz))
