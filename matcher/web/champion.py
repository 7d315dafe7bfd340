"""What SME champions see: per week, what each SME was sent and why, the feedback that came back, who got nothing.

Read-only queries over Profile, Digest, Match, Notice and Feedback that build plain dataclasses; `matcher champion
report` prints them (rich tables or JSON) and the /champion pages of matcher.web.app render them. Nothing here writes.

Words used throughout:
  sent        items attached to a digest in state 'sent' (the email left us); other states are shown as they are
  served      an SME whose digest this week was sent with at least one item
  got nothing an active SME (enabled, not unsubscribed) with no sent items in the last N weeks, or whose digest
              this week is empty
Feedback is one verdict per (SME, notice); a notice is listed to an SME once, so the verdict belongs to that item.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_
from sqlmodel import Session, col, select

from matcher import clock
from matcher.store.models import Digest, Feedback, Match, Notice, Profile
from matcher.store.profiles import active_profiles
from matcher.digest.render import explanation_strings, explanation_text, format_when, safe_url
from matcher.match.explain import as_shown
from matcher.store import as_utc
from matcher.period import parse as parse_period
from matcher.store.periods import one_per_sme, up_to_week, week_and_days, week_of_label

SENT_STATES = ("sent",)
NO_DIGEST = "no digest"
COMPONENTS = ("dense", "lexical", "keyword", "cpv")
WEEK_RE = re.compile(r"^(\d{4})-W(\d{2})$")


class WeekError(ValueError):
    """A week label that is not an ISO week such as 2025-W04."""


def parse_week(value: str) -> str:
    """'2025-W04' (ISO year and week) or a WeekError saying what is expected."""
    m = WEEK_RE.match(value.strip())
    if not m:
        raise WeekError(f"week {value!r} is not an ISO week label such as 2025-W04")
    try:
        date.fromisocalendar(int(m[1]), int(m[2]), 1)
    except ValueError:
        raise WeekError(f"week {value!r} does not exist (ISO year {m[1]} has no week {m[2]})") from None
    return f"{m[1]}-W{m[2]}"


def shift_week(week: str, weeks: int) -> str:
    """The label `weeks` weeks after (negative: before) `week`."""
    year, number, _ = (clock.week_start(week) + timedelta(weeks=weeks)).isocalendar()
    return f"{year}-W{number:02d}"


@dataclass
class SentItem:
    """One notice listed in a digest, with its score, the reasons given, and the SME's verdict if any."""

    notice_key: str
    title: str
    url: str | None
    buyer: str | None
    closes_at: datetime | None
    closes: str | None  # closes_at in the digest's time zone, for people
    rank: int
    score: float
    components: dict[str, float]
    summary: str | None
    capabilities: list[str] = field(default_factory=list)
    terms: list[str] = field(default_factory=list)
    cpv: list[str] = field(default_factory=list)
    evidence: str | None = None
    feedback: str | None = None  # relevant, not-relevant, or None when the SME said nothing
    feedback_via: str | None = None
    feedback_at: datetime | None = None
    feedback_reason: str | None = None  # the SME's optional "what was wrong?"
    marks: list = field(default_factory=list)  # champions' marks: (champion name, verdict, when), newest first


@dataclass
class SmeWeek:
    """One SME in one week: its digest (or none) and the items in it."""

    profile_id: str
    name: str
    active: bool
    week: str
    state: str  # the digest state, or 'no digest'
    item_count: int
    sent_at: datetime | None
    last_error: str | None
    items: list[SentItem] = field(default_factory=list)

    @property
    def relevant(self) -> int:
        return sum(1 for i in self.items if i.feedback == "relevant")

    @property
    def not_relevant(self) -> int:
        return sum(1 for i in self.items if i.feedback == "not-relevant")

    @property
    def sent(self) -> bool:
        return self.state in SENT_STATES


@dataclass
class QuietSme:
    """An active SME that got nothing: no sent items for `quiet_weeks` weeks, or an empty digest this week."""

    profile_id: str
    name: str
    state: str  # this week's digest state, or 'no digest'
    reason: str
    last_items_week: str | None  # the latest week up to this one in which it was sent items; None: never
    cause: str | None = None  # the kind of reason, once matcher.web.desk_report.explain_quiet has looked


@dataclass
class Figures:
    active_smes: int
    digests: int
    smes_served: int
    items_sent: int
    relevant: int  # verdicts on sent items
    not_relevant: int
    no_feedback: int
    not_relevant_share: float | None  # not_relevant / items_sent; None when nothing was sent
    smes_got_nothing: int


@dataclass
class WeekReport:
    week: str
    week_start: date
    quiet_weeks: int
    figures: Figures
    smes: list[SmeWeek]
    got_nothing: list[QuietSme]

    def as_json(self) -> dict[str, Any]:
        data = _plain(asdict(self))
        for sme, row in zip(self.smes, data["smes"], strict=True):
            row["relevant"], row["not_relevant"] = sme.relevant, sme.not_relevant
        return data


@dataclass
class SmeHistory:
    profile_id: str
    name: str
    active: bool
    weeks: list[SmeWeek]  # newest first


def _plain(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _item(match: Match, notice: Notice | None, feedback: Feedback | None, tz: str) -> SentItem:
    why = as_shown(match.explanation, float(match.score))
    closes_at = as_utc(notice.closes_at) if notice else None
    return SentItem(
        notice_key=match.notice_key,
        title=notice.title if notice else f"(notice {match.notice_key} is no longer stored)",
        url=safe_url(notice.url) if notice else None,
        buyer=explanation_text(notice.buyer) if notice else None,
        closes_at=closes_at,
        closes=format_when(closes_at, tz) if closes_at else None,
        rank=match.rank,
        score=round(float(match.score), 4),
        components={**{c: round(float(getattr(match, c)), 4) for c in COMPONENTS}, "raw": round(float(match.raw_score), 4)},
        summary=explanation_text(why.get("summary")),
        capabilities=explanation_strings(why.get("capabilities"), limit=None),
        terms=explanation_strings(why.get("terms"), limit=None),
        cpv=explanation_strings(why.get("cpv"), limit=None),
        evidence=explanation_text(why.get("evidence")),
        feedback=feedback.verdict if feedback else None,
        feedback_via=feedback.via if feedback else None,
        feedback_at=as_utc(feedback.created_at) if feedback else None,
        feedback_reason=getattr(feedback, "reason", None) if feedback else None,
    )


def _items_by_digest(session: Session, condition: Any, tz: str) -> dict[int, list[SentItem]]:
    """The matches attached to the digests meeting `condition`, with notice and verdict, best first."""
    stmt = (
        select(Match, Notice, Feedback)
        .join(Digest, col(Digest.id) == Match.digest_id)
        .join(Notice, Notice.key == Match.notice_key, isouter=True)
        .join(Feedback, and_(Feedback.profile_id == Match.profile_id, Feedback.notice_key == Match.notice_key), isouter=True)
        .where(condition)
    )
    rows = sorted(session.exec(stmt), key=lambda r: (-r[0].score, r[0].rank, r[0].notice_key))
    out: dict[int, list[SentItem]] = {}
    for match, notice, feedback in rows:
        out.setdefault(match.digest_id, []).append(_item(match, notice, feedback, tz))  # type: ignore[arg-type]
    return out


def _sme_week(profile: Profile | None, profile_id: str, active: bool, week: str, digest: Digest | None,
              items: list[SentItem]) -> SmeWeek:
    return SmeWeek(
        profile_id=profile_id,
        name=profile.name if profile else f"(profile {profile_id} is no longer stored)",
        active=active,
        week=week,
        state=digest.state if digest else NO_DIGEST,
        item_count=len(items),
        sent_at=as_utc(digest.sent_at) if digest else None,
        last_error=digest.last_error if digest else None,
        items=items,
    )


def _weeks_with_items(session: Session, up_to: str) -> dict[str, set[str]]:
    """Per SME, the weeks up to `up_to` in which it was sent at least one item (a daily digest counts for its week)."""
    stmt = select(Digest.profile_id, Digest.week).where(
        col(Digest.state).in_(SENT_STATES), Digest.item_count > 0, up_to_week(Digest.week, up_to)
    )
    out: dict[str, set[str]] = {}
    for pid, week in session.exec(stmt):
        out.setdefault(pid, set()).add(week if "-W" in week else week_of_label(week))
    return out


def week_report(session: Session, week: str, tz: str = "Europe/London", quiet_weeks: int = 1) -> WeekReport:
    """Everything a champion sees for one ISO week; a daily SME's days are its week (matcher.store.periods.one_per_sme)."""
    week = parse_week(week)
    if quiet_weeks < 1:
        raise ValueError(f"quiet_weeks must be 1 or more, not {quiet_weeks}")
    labels = week_and_days(week)
    chosen = one_per_sme(list(session.exec(select(Digest).where(col(Digest.week).in_(labels)))), SENT_STATES)
    digests = {pid: d for pid, (d, _) in chosen.items()}
    active = {p.id: p for p in active_profiles(session)}
    others = [pid for pid in digests if pid not in active]
    profiles = dict(active)
    if others:
        profiles.update({p.id: p for p in session.exec(select(Profile).where(col(Profile.id).in_(others)))})
    by_digest = _items_by_digest(session, col(Digest.week).in_(labels), tz)
    items = {pid: sorted((i for did in ids for i in by_digest.get(did, [])), key=lambda i: (-i.score, i.rank, i.notice_key))
             for pid, (_, ids) in chosen.items()}

    smes = [
        _sme_week(profiles.get(pid), pid, pid in active, week, digests.get(pid), items.get(pid, []))
        for pid in sorted(set(active) | set(digests), key=lambda p: ((profiles[p].name if p in profiles else p).casefold(), p))
    ]

    window = {shift_week(week, -i) for i in range(quiet_weeks)}
    had_items = _weeks_with_items(session, week)
    got_nothing = []
    for sme in smes:
        if not sme.active:
            continue
        weeks = had_items.get(sme.profile_id, set())
        if weeks & window and sme.state != "empty":
            continue
        if not weeks & window:
            reason = "nothing sent this week" if quiet_weeks == 1 else f"nothing sent in the last {quiet_weeks} weeks"
            if sme.state == "empty":
                reason += " (empty digest)"
        else:
            reason = "empty digest"
        paused = profiles.get(sme.profile_id)
        if paused is not None and paused.paused_at is not None:  # delivery stopped: the address bounces
            reason = f"paused since {as_utc(paused.paused_at):%Y-%m-%d}: {paused.paused_reason}; " + reason
        got_nothing.append(QuietSme(sme.profile_id, sme.name, sme.state, reason, max(weeks) if weeks else None))

    sent_items = [i for s in smes if s.sent for i in s.items]
    relevant = sum(1 for i in sent_items if i.feedback == "relevant")
    not_relevant = sum(1 for i in sent_items if i.feedback == "not-relevant")
    figures = Figures(
        active_smes=len(active),
        digests=len(digests),
        smes_served=sum(1 for s in smes if s.sent and s.items),
        items_sent=len(sent_items),
        relevant=relevant,
        not_relevant=not_relevant,
        no_feedback=len(sent_items) - relevant - not_relevant,
        not_relevant_share=round(not_relevant / len(sent_items), 4) if sent_items else None,
        smes_got_nothing=len(got_nothing),
    )
    return WeekReport(week, clock.week_start(week), quiet_weeks, figures, smes, got_nothing)


def sme_history(session: Session, profile_id: str, tz: str = "Europe/London", weeks: int = 12) -> SmeHistory | None:
    """What one SME was sent, digest by digest (its latest `weeks` weekly digests, or a daily SME's days of its
    latest `weeks` weeks, newest first); None if it is unknown."""
    profile = session.get(Profile, profile_id)
    newest = lambda weekly, n: list(session.exec(  # noqa: E731 - labels order as strings within a cadence
        select(Digest).where(Digest.profile_id == profile_id, col(Digest.week).like("%-W%") == weekly)
        .order_by(col(Digest.week).desc()).limit(n)))
    digests = sorted(newest(True, weeks) + newest(False, 7 * weeks), key=lambda d: parse_period(d.week), reverse=True)
    if digests:  # the weeks the newest `weeks` weekly digests or days fall in
        kept = sorted({parse_period(d.week).week for d in digests}, reverse=True)[:weeks]
        digests = [d for d in digests if parse_period(d.week).week in kept]
    if profile is None and not digests:
        return None
    active = profile is not None and profile.enabled and profile.unsubscribed_at is None
    ids = [d.id for d in digests]
    items = _items_by_digest(session, col(Digest.id).in_(ids), tz) if ids else {}
    return SmeHistory(
        profile_id=profile_id,
        name=profile.name if profile else f"(profile {profile_id} is no longer stored)",
        active=active,
        weeks=[_sme_week(profile, profile_id, active, d.week, d, items.get(d.id, [])) for d in digests],  # type: ignore[arg-type]
    )


def recent_weeks(session: Session, limit: int = 12) -> list[str]:
    """The latest weeks that have digests (weekly, or daily ones in that week), newest first (for week navigation)."""
    weekly = list(session.exec(select(Digest.week).distinct().where(col(Digest.week).like("%-W%"))
                               .order_by(col(Digest.week).desc()).limit(limit)))
    days = session.exec(select(Digest.week).distinct().where(~col(Digest.week).like("%-W%"))
                        .order_by(col(Digest.week).desc()).limit(7 * limit))
    return sorted(set(weekly) | {week_of_label(d) for d in days}, reverse=True)[:limit]
