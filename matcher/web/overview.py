"""The champions' week overview at national scale: the week's figures from aggregate queries, and one page of SMEs
(and one page of those that got nothing) read with light column selects over that page's SMEs only.

It shows what `matcher.web.champion.week_report` shows (the same words, figures, order and reasons;
tests/test_champion_overview.py holds it to that), without loading every SME's items as ORM objects:
  week_index()  once per week and data version: each SME's (id, name, active, digest state) in the report's order
                (name casefolded, then id), who got nothing, and the figures, counted in the database
  sme_rows()    one page: items, verdicts and best match per SME, grouped in the database over the page's digests
  quiet_rows()  one page of the SMEs that got nothing, with when they last got items and (desk_report) why
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import and_, case, func, or_
from sqlmodel import Session, col, select

from matcher import clock
from matcher.store.models import Digest, Feedback, Match, Notice, Profile
from matcher.store.periods import one_per_sme, up_to_week, week_and_days, week_of_label
from matcher.web.champion import NO_DIGEST, SENT_STATES, Figures, QuietSme, parse_week, shift_week
from matcher.web.desk_report import sent_counts


@dataclass(frozen=True)
class Entry:
    """One SME in the week's list: what ordering, paging and the got-nothing test need."""

    profile_id: str
    name: str
    active: bool
    state: str  # the digest state, or 'no digest'
    digest_id: int | None
    digest_ids: tuple[int, ...] = ()  # the digests whose items the week shows (a daily SME's sent days)


@dataclass
class WeekIndex:
    week: str
    week_start: date
    quiet_weeks: int
    figures: Figures
    smes: list[Entry]  # every active SME and every SME with a digest this week, in the report's order
    quiet: list[Entry]  # the active ones that got nothing, in the same order


@dataclass
class SmeRow:
    """One row of the overview's SME table."""

    profile_id: str
    name: str
    active: bool
    state: str
    item_count: int
    relevant: int
    not_relevant: int
    best_title: str | None  # the best item's title (highest score, then rank), None when the digest has none
    best_score: float | None


def _verdicts():  # noqa: ANN202 - (relevant, not relevant) sums over rows outer-joined to Feedback
    return (func.sum(case((Feedback.verdict == "relevant", 1), else_=0)),
            func.sum(case((Feedback.verdict == "not-relevant", 1), else_=0)))


def _feedback_of_match():  # noqa: ANN202
    return and_(Feedback.profile_id == Match.profile_id, Feedback.notice_key == Match.notice_key)


def week_index(session: Session, week: str, quiet_weeks: int = 1, counts: tuple | None = None) -> WeekIndex:
    """The week's SMEs in order, who got nothing, and the figures (see matcher.web.champion for the words).
    `counts`: desk_report.sent_counts' answer for this week (with served_in=week), when already counted."""
    week = parse_week(week)
    if quiet_weeks < 1:
        raise ValueError(f"quiet_weeks must be 1 or more, not {quiet_weeks}")
    labels = week_and_days(week)
    chosen = one_per_sme(session.exec(select(Digest.profile_id, Digest.week, Digest.state, Digest.id)
                                      .where(col(Digest.week).in_(labels))).all(), SENT_STATES)
    digests = {pid: (d.id, d.state, tuple(ids)) for pid, (d, ids) in chosen.items()}
    active_now = and_(Profile.enabled == True, col(Profile.unsubscribed_at).is_(None))  # noqa: E712
    this_week = select(Digest.profile_id).where(col(Digest.week).in_(labels))
    people = session.exec(select(Profile.id, Profile.name, active_now)
                          .where(or_(active_now, col(Profile.id).in_(this_week)))).all()
    names = {pid: name for pid, name, _ in people}
    active = {pid for pid, _, is_active in people if is_active}
    smes = [Entry(pid, names.get(pid, f"(profile {pid} is no longer stored)"), pid in active,
                  digests[pid][1] if pid in digests else NO_DIGEST, digests[pid][0] if pid in digests else None,
                  digests[pid][2] if pid in digests else ())
            for pid in sorted(active | set(digests), key=lambda p: (names.get(p, p).casefold(), p))]

    window = [label for i in range(quiet_weeks) for label in week_and_days(shift_week(week, -i))]
    had_items = set(session.exec(select(Digest.profile_id).distinct().where(
        col(Digest.state).in_(SENT_STATES), Digest.item_count > 0, col(Digest.week).in_(window))))
    quiet = [e for e in smes if e.active and (e.profile_id not in had_items or e.state == "empty")]

    items, served, rel, notrel, _ = counts or sent_counts(session, [week], served_in=week)[week]
    figures = Figures(active_smes=len(active), digests=len(digests), smes_served=served, items_sent=items,
                      relevant=rel, not_relevant=notrel, no_feedback=items - rel - notrel,
                      not_relevant_share=round(notrel / items, 4) if items else None, smes_got_nothing=len(quiet))
    return WeekIndex(week, clock.week_start(week), quiet_weeks, figures, smes, quiet)


def sme_rows(session: Session, entries: list[Entry]) -> list[SmeRow]:
    """The overview's rows for these SMEs: two grouped queries over their digests' items."""
    ids = [did for e in entries for did in (e.digest_ids or ((e.digest_id,) if e.digest_id is not None else ()))]
    counts: dict[int, tuple[int, int, int]] = {}
    best: dict[int, tuple[str, float]] = {}
    if ids:
        relevant, not_relevant = _verdicts()
        for did, n, rel, notrel in session.exec(
                select(Match.digest_id, func.count(Match.id), relevant, not_relevant)
                .join(Feedback, _feedback_of_match(), isouter=True)
                .where(col(Match.digest_id).in_(ids)).group_by(Match.digest_id)):
            counts[did] = (int(n), int(rel or 0), int(notrel or 0))
        order = func.row_number().over(partition_by=Match.digest_id,
                                       order_by=(col(Match.score).desc(), col(Match.rank), col(Match.notice_key)))
        ranked = (select(Match.digest_id, Match.notice_key, Match.score, order.label("place"))
                  .where(col(Match.digest_id).in_(ids)).subquery())
        for did, key, score, title in session.exec(
                select(ranked.c.digest_id, ranked.c.notice_key, ranked.c.score, Notice.title)
                .join(Notice, Notice.key == ranked.c.notice_key, isouter=True).where(ranked.c.place == 1)):
            best[did] = (title if title is not None else f"(notice {key} is no longer stored)", round(float(score), 4))
    rows = []
    for e in entries:
        mine = e.digest_ids or ((e.digest_id,) if e.digest_id is not None else ())
        n, rel, notrel = (sum(counts.get(d, (0, 0, 0))[k] for d in mine) for k in range(3))
        tops = [best[d] for d in mine if d in best]  # a daily SME's best over its days: highest score, earliest day
        title, score = max(tops, key=lambda t: t[1]) if tops else (None, None)
        rows.append(SmeRow(e.profile_id, e.name, e.active, e.state, n, rel, notrel, title, score))
    return rows


def quiet_rows(session: Session, index: WeekIndex, entries: list[Entry]) -> list[QuietSme]:
    """These got-nothing SMEs as the report lists them (the reason is desk_report.explain_quiet's to give)."""
    ids = [e.profile_id for e in entries]
    last: dict[str, str] = {}
    for pid, week, state, count in session.exec(  # these SMEs' digests up to the week (by the (SME, week) key)
            select(Digest.profile_id, Digest.week, Digest.state, Digest.item_count)
            .where(col(Digest.profile_id).in_(ids), up_to_week(Digest.week, index.week))) if ids else ():
        week = week if "-W" in week else week_of_label(week)  # a daily digest counts for its week
        if state in SENT_STATES and count > 0 and week > last.get(pid, ""):
            last[pid] = week
    return [QuietSme(e.profile_id, e.name, e.state, "", last.get(e.profile_id)) for e in entries]


def page_of(entries: list, page: int, per_page: int) -> list:
    return entries[(page - 1) * per_page: page * per_page]


def pages_in(entries: list, per_page: int) -> int:
    return max(1, -(-len(entries) // per_page))
