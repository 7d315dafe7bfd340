"""What a profile would have received in each of the last few weeks, from the stored notices: the sign-up page's
preview, so an SME can sharpen its text before the first digest. Reads only; writes nothing but vectors to the
cache.

Each past week is ranked as the weekly job would have ranked it then: the notices stored by that week's end and
still open then (closing at least matching.min_days_to_close days later), the hard filters as of that day, the
threshold and digest.max_items, and a notice listed in one week is not listed again in a later one.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
from sqlmodel import Session, col, select

from matcher import clock
from matcher.config import Config
from matcher.embed import matching_vectors
from matcher.match import ProfileError, rank, select as select_top
from matcher.match.explain import summary
from matcher.match_week import notice_record
from matcher.schema import ProfileSpec
from matcher.store.engine import as_utc
from matcher.store.models import Notice


@dataclass
class PastItem:
    key: str
    title: str
    buyer: str | None
    score: float
    why: str


@dataclass
class PastWeek:
    week: str
    label: str  # "20 January 2025"
    items: list[PastItem] = field(default_factory=list)


@dataclass
class PastWeeks:
    weeks: list[PastWeek]
    candidates: int
    error: str | None = None  # the profile error that stopped ranking, in words

    @property
    def total(self) -> int:
        return sum(len(w.items) for w in self.weeks)


def past_weeks(session: Session, cfg: Config, spec: ProfileSpec, now: datetime,
               encode: Callable[[list[str]], np.ndarray], weeks: int = 4) -> PastWeeks:
    tz, mcfg = cfg.digest.timezone, cfg.matching
    this_week = clock.week_of(now, tz)
    starts = [clock.week_start(this_week) - timedelta(weeks=k) for k in range(weeks, 0, -1)]
    zone = ZoneInfo(tz)
    ends = [datetime.combine(s + timedelta(days=7), time(0), tzinfo=zone).astimezone(UTC) for s in starts]
    earliest_close = ends[0] - timedelta(days=7) + timedelta(days=mcfg.min_days_to_close)
    rows = list(session.exec(select(Notice).where(
        col(Notice.first_seen) < ends[-1],
        (col(Notice.closes_at).is_(None)) | (col(Notice.closes_at) >= earliest_close))))
    notices = [notice_record(r) for r in rows]
    seen = [as_utc(r.first_seen) for r in rows]
    result = PastWeeks([PastWeek(clock.week_of(e - timedelta(days=1), tz), f"{s.day} {s:%B %Y}") for s, e in zip(starts, ends)],
                       len(notices))
    if not notices:
        return result
    profile_vecs, notice_vecs = matching_vectors(encode, [spec], notices)
    listed: set[str] = set()
    for week, end in zip(result.weeks, ends):
        idx = [j for j, when in enumerate(seen) if when is not None and when < end]
        if not idx:
            continue
        subset = [notices[j] for j in idx]
        try:
            ranked = rank([spec], subset, profile_vecs, notice_vecs[idx], mcfg, end, min_score=mcfg.threshold)
        except ProfileError as e:
            result.error = str(e).split(": ", 1)[-1]
            return result
        for item in select_top(ranked.rankings[0], mcfg.threshold, cfg.digest.max_items, listed):
            n = subset[item.index]
            listed.add(n.key)
            week.items.append(PastItem(n.key, n.title, n.buyer, round(item.score, 3), summary(item, [], [], [])))
    return result
