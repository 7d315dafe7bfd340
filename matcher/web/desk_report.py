"""The champions' desk on top of the week report (matcher.web.champion): champions' marks on each item, why each
SME that got nothing got nothing, and the figures per week and over time. Reads only.

Why an active SME got nothing, first cause that holds:
  paused after bounces   the delivery side paused it (its hard bounces)
  profile error          the profile cannot be matched (e.g. an unknown region), named
  send failed            its digest is failed/dead, with the last error
  nothing above threshold  the match run found nothing at or above matching.threshold: its best score that week
  all sent before        everything that matched had been sent in an earlier digest
  no match run           no match run recorded for that week (e.g. signed up after it)
A daily SME's week is its days (matcher.store.periods.one_per_sme): the reasons then say "new" and "on any day".
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from sqlalchemy import and_, func
from sqlmodel import Session, col, select

from matcher import clock
from matcher.match import ProfileError
from matcher.match.filters import ProfileFilter
from matcher.store.champions import marks_for
from matcher.store.engine import as_utc
from matcher.store.models import ChampionMark, Digest, Feedback, Match, Notice, Profile, ProfileEvent, WeekOutcome
from matcher.store.periods import labels_by_week, one_per_sme, week_and_days
from matcher.store.profiles import to_spec
from matcher.web.champion import SENT_STATES, WeekReport, shift_week


def week_span(week: str, tz: str) -> tuple[datetime, datetime]:
    start = datetime.combine(clock.week_start(week), time(0), tzinfo=ZoneInfo(tz)).astimezone(UTC)
    return start, start + timedelta(days=7)


def attach_marks(session: Session, smes) -> None:  # noqa: ANN001 - SmeWeek list
    """Give each item its champions' marks: item.marks = [(champion, verdict, when)], newest first."""
    found = marks_for(session, {s.profile_id for s in smes})
    for s in smes:
        for item in s.items:
            item.marks = found.get((s.profile_id, item.notice_key), [])


def profile_problem(profile: Profile) -> str | None:
    """The reason the matcher cannot use this profile, or None."""
    try:
        ProfileFilter.of(to_spec(profile))
    except ProfileError as e:
        return str(e).removeprefix(f"profile {profile.id}: ")
    except ValidationError as e:
        return "; ".join(f"{'.'.join(map(str, x['loc']))}: {x['msg'].removeprefix('Value error, ')}" for x in e.errors())
    except ValueError as e:
        return str(e)
    return None


def paused_reason(profile: Profile) -> str | None:
    """Delivery's pause after hard bounces (matcher.store.claims), if the profile is paused."""
    if getattr(profile, "paused_at", None) is None:
        return None
    since = as_utc(profile.paused_at)
    why = getattr(profile, "paused_reason", None)
    return f"paused after bounces since {since:%Y-%m-%d}" + (f": {why}" if why else "")


def delivery_note(session: Session, profile_id: str) -> str | None:
    """For the SME's desk page: its pause after hard bounces while it lasts, else the unpause that ended the last."""
    profile = session.get(Profile, profile_id)
    if profile is None:
        return None
    if paused := paused_reason(profile):
        return f"Delivery {paused}. No digest is sent until an admin unpauses it (matcher profiles unpause)."
    resumed = session.exec(select(ProfileEvent).where(ProfileEvent.profile_id == profile_id, ProfileEvent.kind == "unpaused")
                           .order_by(col(ProfileEvent.created_at).desc(), col(ProfileEvent.id).desc()).limit(1)).first()
    if resumed is None:
        return None
    return (f"Delivery resumed on {as_utc(resumed.created_at):%d %b %Y %H:%M} UTC (via {resumed.via}), ending a pause "
            f"after hard bounces ({resumed.detail}).")


def _title(session: Session, key: str | None) -> str | None:
    if not key:
        return None
    return session.exec(select(Notice.title).where(Notice.key == key)).first()


def _week_outcomes(session: Session, labels: list[str], ids: list[str]) -> dict[str, WeekOutcome]:
    """Per SME, its match outcome for the week; a daily SME's days summed (matched), best of them, first error."""
    out: dict[str, WeekOutcome] = {}
    rows = session.exec(select(WeekOutcome).where(col(WeekOutcome.week).in_(labels), col(WeekOutcome.profile_id).in_(ids))
                        .order_by(WeekOutcome.week))
    for o in rows:
        if o.profile_id not in out:
            out[o.profile_id] = WeekOutcome(profile_id=o.profile_id, week=o.week, matched=o.matched, error=o.error,
                                            best_score=o.best_score, best_notice_key=o.best_notice_key)
            continue
        acc = out[o.profile_id]
        acc.matched += o.matched
        acc.error = acc.error or o.error
        if o.best_score is not None and (acc.best_score is None or o.best_score > acc.best_score):
            acc.best_score, acc.best_notice_key = o.best_score, o.best_notice_key
    return out


def explain_quiet(session: Session, report: WeekReport, threshold: float) -> None:
    """Replace each got-nothing reason with its cause (see the module doc), and set q.cause to its kind."""
    if not report.got_nothing:
        return
    ids = [q.profile_id for q in report.got_nothing]
    profiles = {p.id: p for p in session.exec(select(Profile).where(col(Profile.id).in_(ids)))}
    labels = week_and_days(report.week)  # a daily SME's days are its week
    rows = list(session.exec(select(Digest).where(col(Digest.week).in_(labels), col(Digest.profile_id).in_(ids))))
    digests = {pid: d for pid, (d, _) in one_per_sme(rows, SENT_STATES).items()}
    for d in rows:  # a day whose send failed says so, whatever the other days did
        if d.state in ("failed", "dead", "bounced") and digests[d.profile_id].state not in SENT_STATES:
            digests[d.profile_id] = d
    outcomes = _week_outcomes(session, labels, ids)
    for q in report.got_nothing:
        p, d, o = profiles.get(q.profile_id), digests.get(q.profile_id), outcomes.get(q.profile_id)
        daily = p is not None and p.cadence == "daily"
        new, when = (" new", " on any day this week") if daily else ("", " this week")
        cause, reason = "no-match-run", f"no{' daily' if daily else ''} match run recorded for this week"
        problem = (profile_problem(p) if p else None) or (o.error if o and o.error else None)
        if p is not None and (paused := paused_reason(p)):
            cause, reason = "paused", paused
        elif problem:
            cause, reason = "profile-error", f"profile error: {problem}"
        elif d is not None and d.state in ("failed", "dead", "bounced"):
            cause, reason = "send-failed", f"send failed ({d.state}): {d.last_error or 'no error recorded'}"
        elif o is not None and o.matched == 0:
            cause = "below-threshold"
            if o.best_score is None:
                reason = (f"nothing{new} passed its filters{when} (no{new} open notice in its regions, value range "
                          "and words)")
            else:
                title = _title(session, o.best_notice_key)
                reason = (f"nothing{new} above the threshold {threshold:.2f}{when if daily else ''}: best score "
                          f"{o.best_score:.2f}" + (f" (\u201c{title}\u201d)" if title else ""))
        elif o is not None:
            cause, reason = "sent-before", f"{o.matched} matched, all sent in earlier digests"
        q.reason, q.cause = reason, cause  # type: ignore[attr-defined]


@dataclass
class WeekFigures:
    week: str
    items_sent: int
    sme_relevant: int
    sme_not_relevant: int
    sme_feedback: int  # items with an SME verdict
    champion_marked: int  # items with at least one champion mark
    champion_relevant: int  # items whose latest champion mark is "relevant"
    unsubscribes: int

    @staticmethod
    def _share(n: int, d: int) -> float | None:
        return round(n / d, 4) if d else None

    @property
    def sme_relevant_share(self) -> float | None:
        return self._share(self.sme_relevant, self.items_sent)

    @property
    def champion_relevant_share(self) -> float | None:
        return self._share(self.champion_relevant, self.items_sent)

    @property
    def feedback_rate(self) -> float | None:
        return self._share(self.sme_feedback, self.items_sent)

    def as_json(self) -> dict:
        return {**self.__dict__, "sme_relevant_share": self.sme_relevant_share,
                "champion_relevant_share": self.champion_relevant_share, "feedback_rate": self.feedback_rate}


def sent_counts(session: Session, weeks: list[str], served_in: str | None = None) -> dict[str, tuple[int, int, int, int, int]]:
    """Per week: (items sent, SMEs sent at least one (counted for the week `served_in` only, else 0), items the SMEs
    marked relevant, not relevant, with any verdict).

    Counted in the database: the items from the digests' side (an index-only count per digest), the verdicts from
    the feedback's side (each verdict looked up in the items sent), so the cost follows the verdicts, not the items."""
    of_week = labels_by_week(weeks)  # a daily digest counts for its week
    sent_digests = and_(col(Digest.week).in_(of_week), col(Digest.state).in_(SENT_STATES))
    out = {w: [0, 0, 0, 0, 0] for w in weeks}
    for label, items in session.exec(select(Digest.week, func.count(Match.id))
                                     .join(Match, Match.digest_id == Digest.id).where(sent_digests).group_by(Digest.week)):
        out[of_week[label]][0] += int(items)
    if served_in in out:
        has_items = select(Match.id).where(Match.digest_id == Digest.id).exists()
        days = [label for label, week in of_week.items() if week == served_in and label != served_in]
        any_daily = session.exec(select(Digest.id).where(col(Digest.week).in_(days)).limit(1)).first() is not None
        # a daily SME is served once for all its days (and once if it had a weekly digest too)
        count = func.count(func.distinct(Digest.profile_id)) if any_daily else func.count(Digest.id)
        out[served_in][1] = int(session.exec(select(count).where(
            col(Digest.week).in_([served_in, *days] if any_daily else [served_in]), col(Digest.state).in_(SENT_STATES),
            has_items)).one())
    for label, verdict, n in session.exec(
            select(Digest.week, Feedback.verdict, func.count())
            .select_from(Feedback)
            .join(Match, and_(Match.profile_id == Feedback.profile_id, Match.notice_key == Feedback.notice_key))
            .join(Digest, col(Digest.id) == Match.digest_id)
            .where(sent_digests).group_by(Digest.week, Feedback.verdict)):
        week = of_week[label]
        if verdict in ("relevant", "not-relevant"):
            out[week][2 if verdict == "relevant" else 3] += int(n)
        out[week][4] += int(n)
    return {w: tuple(v) for w, v in out.items()}  # type: ignore[misc]


def week_figures(session: Session, weeks: list[str], tz: str, counts: dict | None = None) -> list[WeekFigures]:
    """Items sent, SMEs' and champions' verdicts on them, feedback rate and unsubscribes, for each week given.

    The SMEs' side is counted in the database (sent_counts); champions' marks are few: read from their side."""
    if not weeks:
        return []
    by_week = counts if counts is not None else sent_counts(session, weeks)  # counts: sent_counts' answer
    any_marks = session.exec(select(ChampionMark.id).limit(1)).first() is not None
    marked = [] if not any_marks else list(session.exec(
        select(Digest.week, ChampionMark.profile_id, ChampionMark.notice_key, ChampionMark.verdict, ChampionMark.created_at)
        .select_from(ChampionMark)
        .join(Match, and_(Match.profile_id == ChampionMark.profile_id, Match.notice_key == ChampionMark.notice_key))
        .join(Digest, col(Digest.id) == Match.digest_id)
        .where(col(Digest.week).in_(labels_by_week(weeks)), col(Digest.state).in_(SENT_STATES))))
    of_week = labels_by_week(weeks)
    latest: dict[tuple[str, str, str], tuple] = {}
    for label, pid, key, verdict, when in marked:
        w = of_week[label]
        if (w, pid, key) not in latest or when > latest[(w, pid, key)][1]:
            latest[(w, pid, key)] = (verdict, when)
    out = []
    for week in weeks:
        items, _, rel, notrel, fb = by_week[week]
        start, end = week_span(week, tz)
        unsubscribes = session.exec(select(func.count()).select_from(ProfileEvent).where(
            ProfileEvent.kind == "unsubscribed", col(ProfileEvent.created_at) >= start,
            col(ProfileEvent.created_at) < end)).one()
        marks = [v for (w, _, _), (v, _) in latest.items() if w == week]
        out.append(WeekFigures(week=week, items_sent=items, sme_relevant=rel, sme_not_relevant=notrel, sme_feedback=fb,
                               champion_marked=len(marks), champion_relevant=sum(v == "relevant" for v in marks),
                               unsubscribes=int(unsubscribes)))
    return out


def trend_weeks(up_to: str, weeks: int = 12) -> list[str]:
    return [shift_week(up_to, -i) for i in range(weeks)]


def trend(session: Session, up_to: str, tz: str, weeks: int = 12, counts: dict | None = None) -> list[WeekFigures]:
    """The figures for `weeks` weeks ending with `up_to`, newest first (counts: sent_counts over those weeks)."""
    return week_figures(session, trend_weeks(up_to, weeks), tz, counts)


def totals(figures: list[WeekFigures]) -> WeekFigures:
    """The same figures summed over the weeks given (over time)."""
    return WeekFigures("all", *(sum(getattr(f, k) for f in figures) for k in (
        "items_sent", "sme_relevant", "sme_not_relevant", "sme_feedback", "champion_marked", "champion_relevant",
        "unsubscribes")))


def data_version(session: Session) -> tuple:
    """A cheap fingerprint of everything the week overview reads (digests and their states, items, verdicts,
    profiles, champions' marks, match outcomes, notices): when it is unchanged, so is the overview."""
    from sqlalchemy import func

    from matcher.store.models import ChampionMark

    def stats(*columns):  # noqa: ANN002, ANN202
        return select(*columns).scalar_subquery()

    row = session.exec(select(
        stats(func.count(Digest.id)), stats(func.max(Digest.id)), stats(func.max(Digest.sent_at)),
        stats(func.max(Digest.claimed_at)), stats(func.sum(Digest.attempts)),
        stats(func.count(Match.id)), stats(func.max(Match.id)),
        select(func.count()).where(col(Match.digest_id).is_not(None)).scalar_subquery(),  # the partial index's size
        stats(func.count(Feedback.id)), stats(func.max(Feedback.created_at)),
        stats(func.count(Profile.id)), stats(func.max(Profile.updated_at)), stats(func.count(col(Profile.unsubscribed_at))),
        stats(func.count(col(Profile.paused_at))), stats(func.count(ChampionMark.id)), stats(func.max(ChampionMark.created_at)),
        stats(func.count(WeekOutcome.week)), stats(func.max(WeekOutcome.created_at)), stats(func.max(Notice.last_seen)),
        stats(func.count(ProfileEvent.id)),
    )).one()
    states = tuple(sorted(session.exec(select(Digest.state, func.count()).group_by(Digest.state)).all()))
    return (*row, states)
