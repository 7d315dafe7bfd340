"""Period labels in SQL: 'earlier' across weekly ('2025-W04') and daily ('2025-01-23') labels, and the cut-off
of each daily SME's previous digest (matcher.period has the rules)."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, false, or_
from sqlmodel import Session, col, select

from matcher.period import Period, local_midnight, on_day, parse
from matcher.store import as_utc
from matcher.store.models import Digest, WeekOutcome

LOOKBACK_WEEKS = 8  # how far back a daily SME's previous digest is looked for (older: the window starts here)
# the window reaches back this far before the previous cut-off, so a notice a poll stored (first_seen stamped)
# but had not committed when the previous run read is not missed; what the SME already got, or has in a digest
# on its way, is skipped (never listed twice), so the overlap only re-scores a few notices
OVERLAP = timedelta(hours=1)


def _is_week(column: Any) -> Any:
    return col(column).like("%-W%")


def ended_before(column: Any, period: Period) -> Any:
    """Labels whose period was over before `period` began (their digest can no longer go out in its period)."""
    return or_(and_(_is_week(column), column < period.week),
               and_(~_is_week(column), column < period.start.isoformat()))


def started_before(column: Any, period: Period) -> Any:
    """Labels whose period began before `period` did (a week begins on its Monday)."""
    same_week = and_(_is_week(column), column == period.week) if period.start.weekday() else false()
    return or_(and_(_is_week(column), column < period.week), same_week,
               and_(~_is_week(column), column < period.start.isoformat()))


def started_since(column: Any, day: date) -> Any:
    """Labels whose period began on `day` or later."""
    week = on_day(day, "weekly")
    in_week = column >= week.label if day.weekday() == 0 else column > week.label
    return or_(and_(_is_week(column), in_week), and_(~_is_week(column), column >= day.isoformat()))


def daily_since(session: Session, profile_ids: Sequence[str], period: Period, now: datetime,
                tz: str) -> dict[str, datetime]:
    """Per daily SME, the time after which a notice first seen is new to it in `period`: the cut-off of its
    previous digest of either cadence (the match run's `now`, WeekOutcome.seen_until; a digest without one counts
    from the start of its period; an empty one without one, e.g. while its profile could not be matched, does not
    count) less OVERLAP, a day before `now` for an SME with no digest yet, and at most LOOKBACK_WEEKS back."""
    oldest = period.start - timedelta(weeks=LOOKBACK_WEEKS)
    floor = local_midnight(oldest, tz)
    out = {pid: now - timedelta(days=1) for pid in profile_ids}
    found: dict[str, datetime] = {}
    ids = list(profile_ids)
    for start in range(0, len(ids), 500):
        stmt = (
            select(Digest.profile_id, Digest.week, Digest.state, WeekOutcome.seen_until)
            .join(WeekOutcome, and_(WeekOutcome.profile_id == Digest.profile_id, WeekOutcome.week == Digest.week),
                  isouter=True)
            .where(col(Digest.profile_id).in_(ids[start : start + 500]), started_before(Digest.week, period),
                   started_since(Digest.week, oldest))
        )
        for pid, label, state, seen_until in session.exec(stmt):
            if seen_until is None and state == "empty":  # nothing was matched for it: the window stays open
                continue
            cut = as_utc(seen_until) if seen_until is not None else local_midnight(parse(label).start, tz)
            if pid not in found or cut > found[pid]:
                found[pid] = cut
    for pid, cut in found.items():
        out[pid] = max(cut - OVERLAP, floor)
    return out


def week_and_days(week: str) -> list[str]:
    """The labels a week's desk page reads: the week's own (weekly digests) and its days' (daily digests)."""
    return [week, *parse(week).days]


def labels_by_week(weeks: Sequence[str]) -> dict[str, str]:
    """{label: week} over the weeks' own labels and their days'."""
    return {label: week for week in weeks for label in week_and_days(week)}


def week_of_label(label: str) -> str:
    return parse(label).week


def up_to_week(column: Any, week: str) -> Any:
    """Labels of periods that began by the end of `week` (the week itself, its days, and every earlier one)."""
    end = parse(week).end
    return or_(and_(_is_week(column), column <= week), and_(~_is_week(column), column <= end.isoformat()))


def one_per_sme(rows: Sequence[Any], sent_states: Sequence[str] = ("sent",)) -> dict[str, tuple[Any, list[Any]]]:
    """A week's digest rows (each with .profile_id, .week, .state, .id; a daily SME has one a day) as one per SME:
    (the row that stands for the week, the ids whose items the week shows). With anything sent: every sent row's
    items, under the week's own digest if it was sent, else the latest sent day; with nothing sent: the week's
    own digest, else the latest day, as it is."""
    by_sme: dict[str, list[Any]] = {}
    for r in rows:
        by_sme.setdefault(r.profile_id, []).append(r)
    out = {}
    for pid, mine in by_sme.items():
        mine.sort(key=lambda r: ("-W" not in r.week, r.week))  # the week's own row first, then the days in order
        sent = [r for r in mine if r.state in sent_states]
        if sent:
            out[pid] = (sent[0] if "-W" in sent[0].week else sent[-1], [r.id for r in sent])
        else:
            stands = mine[0] if "-W" in mine[0].week else mine[-1]
            out[pid] = (stands, [stands.id])
    return out
