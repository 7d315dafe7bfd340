"""Deadline reminders: one short email `digest.reminder_days` before a listed item closes.

Which items: those in a digest that went out (state 'sent'), still open, that the SME did not mark not relevant.
At most one reminder per (SME, notice): the Reminder row's unique key is the lock (INSERT ... ON CONFLICT DO
NOTHING), and sending follows the digests' rules (GOV.UK Notify style): a conditional UPDATE claims the row
(created/failed -> sending), success -> 'sent', failure -> 'failed' and tried again until digest.max_attempts,
then 'dead'; an SME who left reminders (or unsubscribed, or was disabled) is 'skipped'. Reminders have their own
RFC 8058 one-click unsubscribe, separate from the digest's. Each reminder links an .ics "add to calendar" file
served by `matcher serve` (calendar_ics).
"""
from __future__ import annotations

import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime

from sqlalchemy import and_, or_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from matcher import clock
from matcher.config import Config
from matcher.store.models import Digest, Feedback, Match, Notice, Profile, Reminder, utcnow
from matcher.store import as_utc, session_scope

log = logging.getLogger(__name__)

PENDING = ("created", "failed")
STALE_CLAIM = timedelta(minutes=30)
COMING_UP_TYPES = ("pipeline", "preliminary_market_engagement", "planned_procurement")


@dataclass
class ReminderResult:
    created: int = 0
    outcomes: Counter = field(default_factory=Counter)  # sent, failed, dead, skipped, claimed-elsewhere
    errors: list[tuple[str, str]] = field(default_factory=list)
    sent_to: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        done = ", ".join(f"{n} {s}" for s, n in sorted(self.outcomes.items())) or "none to send"
        return f"{self.created} new reminder(s); {done}"


def deadline_of(notice: Notice) -> datetime | None:
    """The date a reminder is about: the engagement deadline of an early notice, else the closing date."""
    if notice.notice_type in COMING_UP_TYPES and notice.engagement_deadline is not None:
        return as_utc(notice.engagement_deadline)
    return as_utc(notice.closes_at)


def _closed(notice: Notice, cfg: Config) -> bool:
    m = cfg.matching
    return bool((notice.status and notice.status.lower() in {s.lower() for s in m.closed_statuses})
                or (notice.stage and notice.stage in m.closed_stages))


def due_reminders(session: Session, cfg: Config, now: datetime) -> list[tuple[str, str, datetime]]:
    """(profile, notice, deadline) for every listed item whose deadline falls within reminder_days, not yet
    reminded, not marked not relevant, for an SME still taking reminders."""
    days = cfg.digest.reminder_days
    if days <= 0:
        return []
    horizon = now + timedelta(days=days)
    stmt = (
        select(Match.profile_id, Notice)
        .join(Digest, col(Digest.id) == Match.digest_id)
        .join(Notice, Notice.key == Match.notice_key)
        .join(Profile, Profile.id == Match.profile_id)
        .join(Reminder, and_(Reminder.profile_id == Match.profile_id, Reminder.notice_key == Match.notice_key), isouter=True)
        .join(Feedback, and_(Feedback.profile_id == Match.profile_id, Feedback.notice_key == Match.notice_key,
                             Feedback.verdict == "not-relevant"), isouter=True)
        .where(Digest.state == "sent", col(Reminder.id).is_(None), col(Feedback.id).is_(None),
               Profile.enabled == True, col(Profile.unsubscribed_at).is_(None),  # noqa: E712
               col(Profile.reminders_unsubscribed_at).is_(None),
               or_(and_(col(Notice.closes_at) > now, col(Notice.closes_at) <= horizon),
                   and_(col(Notice.engagement_deadline) > now, col(Notice.engagement_deadline) <= horizon)))
    )
    out = {}
    for pid, notice in session.exec(stmt):
        deadline = deadline_of(notice)
        if deadline is None or not (now < deadline <= horizon) or _closed(notice, cfg):
            continue
        out[(pid, notice.key)] = deadline
    return [(pid, key, when) for (pid, key), when in sorted(out.items())]


def build_reminders(session: Session, cfg: Config, now: datetime) -> int:
    """Create the reminders now due; an existing one (any state) is never made again. Returns how many."""
    dialect = session.get_bind().dialect.name
    insert = {"sqlite": sqlite_insert, "postgresql": pg_insert}[dialect]
    made = 0
    for pid, key, deadline in due_reminders(session, cfg, now):
        stmt = (insert(Reminder).values(profile_id=pid, notice_key=key, deadline=deadline, state="created", attempts=0,
                                        created_at=utcnow())
                .on_conflict_do_nothing(index_elements=["profile_id", "notice_key"]).returning(Reminder.id))
        rid = session.execute(stmt).scalar_one_or_none()
        if rid is not None:
            made += 1
    session.commit()
    return made


def claim(session: Session, reminder_id: int, stale_before: datetime) -> bool:
    """created/failed (or a stale 'sending') -> sending, only if the row still says so."""
    result = session.execute(
        update(Reminder).where(Reminder.id == reminder_id).where(
            col(Reminder.state).in_(PENDING) | ((Reminder.state == "sending") & (col(Reminder.claimed_at) < stale_before)))
        .values(state="sending", claimed_at=utcnow(), attempts=Reminder.attempts + 1))
    session.commit()
    return result.rowcount == 1


def finish(session: Session, reminder_id: int, ok: bool, error: str | None, max_attempts: int) -> None:
    values: dict = {"state": "sent", "sent_at": utcnow(), "last_error": None} if ok else {"last_error": error}
    if not ok:
        row = session.get(Reminder, reminder_id)
        values["state"] = "dead" if row is not None and row.attempts >= max_attempts else "failed"
    session.execute(update(Reminder).where(Reminder.id == reminder_id, Reminder.state == "sending").values(**values))
    session.commit()


@dataclass
class OutboxSlot:
    """Where a transport files a reminder: the outbox's 'reminders' folder, one file per reminder."""

    profile_id: str
    week: str = "reminders"
    id: int = 0


def compose(cfg: Config, reminder: Reminder, profile: Profile, notice: Notice, now: datetime, env, signer) -> EmailMessage:  # noqa: ANN001
    from matcher.digest.items import days_left, in_days, portals_of, value_text
    from matcher.digest.render import format_money, format_when, mail_domain, recipients, safe_url, short

    tz = cfg.digest.timezone
    deadline = as_utc(reminder.deadline)
    days = days_left(deadline, now, tz)
    engage = notice.notice_type in COMING_UP_TYPES and notice.engagement_deadline is not None
    what = "Market engagement ends" if engage else "Closes"
    view = {
        "name": short(" ".join(profile.name.split()), 120), "title": notice.title, "url": safe_url(notice.url),
        "when": f"{what} {in_days(days)}: {format_when(deadline, tz)}", "buyer": notice.buyer,
        "value": value_text(notice, format_money), "portals": portals_of(notice, safe_url),
        "calendar_url": signer.calendar_url(notice.key),
        "feedback_url": signer.feedback_url(profile.id, notice.key, "not-relevant"),
        "unsubscribe_url": signer.reminders_unsubscribe_url(profile.id), "days": cfg.digest.reminder_days,
    }
    msg = EmailMessage()
    msg["From"] = cfg.digest.from_address
    msg["To"] = recipients(profile)
    msg["Subject"] = short(f"{what} {in_days(days)}: {' '.join(notice.title.split())}", 150)
    msg["Date"] = format_datetime(now)
    safe = re.sub(r"[^A-Za-z0-9_-]+", "-", profile.id).strip("-") or "sme"
    msg["Message-ID"] = reminder.message_id or f"<reminder-{reminder.id}.{safe}@{mail_domain(cfg)}>"
    msg["List-Unsubscribe"] = f"<{view['unsubscribe_url']}>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(env.get_template("reminder.txt").render(r=view), cte="quoted-printable")
    msg.add_alternative(env.get_template("reminder.html").render(r=view), subtype="html", cte="quoted-printable")
    return msg


def deliver_reminders(session: Session, cfg: Config, now: datetime, transport=None) -> ReminderResult:  # noqa: ANN001
    """Build the reminders now due, then claim, compose and send every pending one."""
    from matcher.deliver.send import DeliveryError, transport_for
    from matcher.digest.render import template_env
    from matcher.deliver.tokens import LinkSigner

    result = ReminderResult(created=build_reminders(session, cfg, now))
    stale = clock.utc_now() - STALE_CLAIM
    pending = list(session.exec(select(Reminder).where(
        col(Reminder.state).in_(PENDING) | ((Reminder.state == "sending") & (col(Reminder.claimed_at) < stale)))
        .order_by(Reminder.id)))
    if not pending:
        return result
    transport = transport or transport_for(cfg)
    env, signer = template_env(), LinkSigner.from_config(cfg)
    for r in pending:
        profile, notice = session.get(Profile, r.profile_id), session.exec(select(Notice).where(Notice.key == r.notice_key)).first()
        if profile is None or notice is None or not profile.enabled or profile.unsubscribed_at is not None \
                or profile.reminders_unsubscribed_at is not None:
            why = "profile removed" if profile is None else "notice no longer stored" if notice is None else \
                "profile left reminders or unsubscribed before it was sent"
            session.execute(update(Reminder).where(Reminder.id == r.id, col(Reminder.state).in_(PENDING))
                            .values(state="skipped", last_error=why))
            session.commit()
            result.outcomes["skipped"] += 1
            continue
        if not claim(session, r.id, stale):  # type: ignore[arg-type]
            result.outcomes["claimed-elsewhere"] += 1
            continue
        try:
            message = compose(cfg, r, profile, notice, now, env, signer)
            where = transport.send(message, OutboxSlot(profile_id=f"{r.profile_id}.reminder-{r.id}", id=r.id or 0))
        except Exception as e:  # recorded on the row and tried again on the next run
            error = str(e) if isinstance(e, DeliveryError) else f"{type(e).__name__}: {e}"
            log.warning("reminder %s for %s not sent: %s", r.id, r.profile_id, error)
            finish(session, r.id, False, error, cfg.digest.max_attempts)  # type: ignore[arg-type]
            result.errors.append((r.profile_id, error))
            result.outcomes[session.exec(select(Reminder.state).where(Reminder.id == r.id)).one()] += 1
            continue
        session.execute(update(Reminder).where(Reminder.id == r.id).values(message_id=message["Message-ID"]))
        finish(session, r.id, True, None, cfg.digest.max_attempts)  # type: ignore[arg-type]
        result.sent_to.append(where)
        result.outcomes["sent"] += 1
        session.expunge_all()
    return result


def send_reminders(cfg: Config, engine, now: datetime, transport=None) -> ReminderResult:  # noqa: ANN001
    """The reminder job: reminders due as of `now`, made once per (SME, item) and sent once. Safe to rerun."""
    with session_scope(engine) as session:
        return deliver_reminders(session, cfg, now, transport)


def leave_reminders(session: Session, profile_id: str) -> bool:
    """Set Profile.reminders_unsubscribed_at once (idempotent). True if this call did it."""
    result = session.execute(update(Profile).where(Profile.id == profile_id, col(Profile.reminders_unsubscribed_at).is_(None))
                             .values(reminders_unsubscribed_at=utcnow()))
    return bool(result.rowcount)


def calendar_ics(notice: Notice, cfg: Config, now: datetime) -> bytes | None:
    """An iCalendar file with the notice's deadline as an event (and an alarm a day before); None without one."""
    from icalendar import Alarm, Calendar, Event

    from matcher.digest.render import mail_domain, safe_url

    deadline = deadline_of(notice)
    if deadline is None:
        return None
    engage = notice.notice_type in COMING_UP_TYPES and notice.engagement_deadline is not None
    cal = Calendar()
    cal.add("prodid", "-//SME Opportunity Matcher//deadline//EN")
    cal.add("version", "2.0")
    event = Event()
    event.add("uid", f"{re.sub(r'[^A-Za-z0-9._-]+', '-', notice.key)}@{mail_domain(cfg)}")
    event.add("dtstamp", now)
    event.add("dtstart", deadline - timedelta(minutes=30))
    event.add("dtend", deadline)
    event.add("summary", f"{'Market engagement ends' if engage else 'Bid deadline'}: {' '.join(notice.title.split())}")
    lines = [f"Buyer: {notice.buyer}" if notice.buyer else "", f"Closes: {deadline:%Y-%m-%d %H:%M} UTC"]
    if url := safe_url(notice.url):
        event.add("url", url)
        lines.append(url)
    event.add("description", "\n".join(x for x in lines if x))
    alarm = Alarm()
    alarm.add("action", "DISPLAY")
    alarm.add("description", "Bid deadline tomorrow")
    alarm.add("trigger", timedelta(days=-1))
    event.add_component(alarm)
    cal.add_component(event)
    return cal.to_ical()
