"""Digest claims as leases, and how each send attempt is recorded.

Life cycle of a digest row: created -> sending (claimed) -> sent | failed | dead | bounced | skipped, and
'failed' -> sending again on a later run ('dead' once digest.max_attempts is reached). 'empty' digests are never
sent.

A claim moves a digest to 'sending' with a claim token and a lease (lease_until). Only the holder of the token
records the outcome, and only while the row still reads 'sending' with that token: a sender whose lease ran out
and was re-claimed by another run can no longer mark anything, nor hand the message over (mark_handover is the
fence checked just before the message text goes out). Claims are made in batches by one conditional UPDATE; on
PostgreSQL its rows are picked with FOR UPDATE SKIP LOCKED, so any number of senders share the digests without
waiting on each other (SQLite serialises writers, and the condition is re-checked by the UPDATE itself).

A digest left in 'sending' past its lease (its sender was killed) is claimable again by the next run. If it had
been handed over (handed_over_at set: the text may have reached the relay), its outcome is unknown: the re-claim
counts it (unknown_outcomes) and logs it, and the resend keeps the digest's Message-ID.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import and_, case, or_, update
from sqlmodel import Session, col, select

from matcher.store.models import Digest, Profile, utcnow

log = logging.getLogger(__name__)

PENDING_STATES = ("created", "failed")
NO_SYNC = {"synchronize_session": False}


def lease_expired(now: datetime, lease: timedelta):  # noqa: ANN201
    """A 'sending' row whose lease ran out (or a row claimed before leases existed, more than `lease` ago)."""
    return (Digest.state == "sending") & or_(
        col(Digest.lease_until) < now,
        and_(col(Digest.lease_until).is_(None), or_(col(Digest.claimed_at).is_(None), col(Digest.claimed_at) < now - lease)),
    )


def claimable(now: datetime, lease: timedelta):  # noqa: ANN201
    return col(Digest.state).in_(PENDING_STATES) | lease_expired(now, lease)


def claim_batch(session: Session, week: str | None, limit: int, token: str, lease: timedelta) -> tuple[list[int], int]:
    """Claim up to `limit` claimable digests of `week` (None: any week), committed. Returns (their ids, how many
    of them had an unknown outcome: handed over by a sender that then died)."""
    now = utcnow()
    # a run never takes back what it already tried (a digest that failed in this run waits for the next one)
    pick = select(Digest.id).where(claimable(now, lease), or_(col(Digest.claim_token).is_(None), Digest.claim_token != token))
    if week is not None:
        pick = pick.where(Digest.week == week)
    pick = pick.order_by(Digest.id).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        pick = pick.with_for_update(skip_locked=True)
    was_handed_over = (Digest.state == "sending") & col(Digest.handed_over_at).is_not(None)
    stmt = (
        update(Digest)
        .where(col(Digest.id).in_(pick.scalar_subquery()), claimable(now, lease))
        .values(state="sending", claim_token=token, claimed_at=now, lease_until=now + lease,
                attempts=Digest.attempts + 1,
                unknown_outcomes=Digest.unknown_outcomes + case((was_handed_over, 1), else_=0))
        .returning(Digest.id, Digest.handed_over_at, Digest.profile_id, Digest.message_id)
    )
    rows = session.execute(stmt, execution_options=NO_SYNC).all()
    unknown = [r for r in rows if r.handed_over_at is not None]
    for r in unknown:
        log.warning("digest %s for %s: outcome unknown (its sender stopped after handing it over at %s); resending "
                    "with the same Message-ID %s", r.id, r.profile_id, r.handed_over_at, r.message_id)
    if unknown:
        session.execute(update(Digest).where(col(Digest.id).in_([r.id for r in unknown]))
                        .values(handed_over_at=None, last_error="outcome unknown: the sender stopped after handing the "
                                "message over; resent with the same Message-ID"), execution_options=NO_SYNC)
    session.commit()
    return sorted(r.id for r in rows), len(unknown)


def in_flight(session: Session, week: str, lease: timedelta) -> int:
    """Digests of the week claimed by a sender whose lease still runs (another sender at work, or a killed one
    whose lease has not run out yet)."""
    now = utcnow()
    stmt = select(Digest.id).where(Digest.week == week, Digest.state == "sending", ~lease_expired(now, lease))
    return len(session.exec(stmt).all())


def _mine(digest_id: int, token: str):  # noqa: ANN202
    return (Digest.id == digest_id) & (Digest.claim_token == token) & (Digest.state == "sending")


def mark_handover(session: Session, digest_id: int, token: str, lease: timedelta) -> bool:
    """About to hand the message text over: record it and renew the lease, if the claim is still ours.
    The caller commits before the text goes out."""
    now = utcnow()
    result = session.execute(update(Digest).where(_mine(digest_id, token))
                             .values(handed_over_at=now, lease_until=now + lease), execution_options=NO_SYNC)
    return result.rowcount == 1


def mark_sent(session: Session, digest_id: int, token: str, profile_id: str, was_bouncing: bool = False) -> bool:
    result = session.execute(update(Digest).where(_mine(digest_id, token))
                             .values(state="sent", sent_at=utcnow(), last_error=None, lease_until=None,
                                     handed_over_at=None), execution_options=NO_SYNC)
    if was_bouncing:  # the address takes mail again
        session.execute(update(Profile).where(Profile.id == profile_id).values(bounces=0, bouncing_since=None),
                        execution_options=NO_SYNC)
    return result.rowcount == 1


def mark_failed(session: Session, digest_id: int, token: str, error: str, max_attempts: int,
                unknown: bool = False) -> str | None:
    """A failed attempt: 'failed' (tried again on the next run), or 'dead' once max_attempts is reached.
    `unknown`: the message may have been delivered (counted; the resend keeps its Message-ID).
    Returns the new state, or None if the claim was no longer ours."""
    values: dict = {"state": case((Digest.attempts >= max_attempts, "dead"), else_="failed"),
                    "last_error": error, "lease_until": None, "handed_over_at": None}
    if unknown:
        values["unknown_outcomes"] = Digest.unknown_outcomes + 1
    stmt = update(Digest).where(_mine(digest_id, token)).values(**values).returning(Digest.state)
    return session.execute(stmt, execution_options=NO_SYNC).scalar_one_or_none()


def mark_bounced(session: Session, digest_id: int, token: str, profile_id: str, error: str, max_bounces: int) -> bool:
    """A permanent 5xx: the digest is 'bounced' (not retried), the address is marked bouncing at once, and the
    SME is paused after `max_bounces` hard bounces in a row (champions see it)."""
    now = utcnow()
    result = session.execute(update(Digest).where(_mine(digest_id, token))
                             .values(state="bounced", last_error=error, lease_until=None, handed_over_at=None),
                             execution_options=NO_SYNC)
    if result.rowcount != 1:
        return False
    profile = session.get(Profile, profile_id)
    if profile is not None:
        profile.bounces = (profile.bounces or 0) + 1
        profile.bouncing_since = profile.bouncing_since or now
        profile.last_bounce = error[:500]
        if profile.bounces >= max_bounces and profile.paused_at is None:
            profile.paused_at = now
            profile.paused_reason = f"{profile.bounces} hard bounces in a row; last: {error[:300]}"
            log.warning("SME %s paused: %s", profile_id, profile.paused_reason)
        session.add(profile)
        session.flush()
        session.expunge(profile)
    return True


def release(session: Session, digest_ids: list[int], token: str) -> int:
    """Give claimed digests back untried: 'created' again, the attempt not counted."""
    if not digest_ids:
        return 0
    result = session.execute(
        update(Digest)
        .where(col(Digest.id).in_(digest_ids), Digest.claim_token == token, Digest.state == "sending",
               col(Digest.handed_over_at).is_(None))
        .values(state="created", claim_token=None, lease_until=None, attempts=Digest.attempts - 1),
        execution_options=NO_SYNC)
    return result.rowcount or 0


def skip(session: Session, digest_id: int, token: str, why: str) -> None:
    session.execute(update(Digest).where(_mine(digest_id, token))
                    .values(state="skipped", last_error=why, lease_until=None), execution_options=NO_SYNC)


def _mine_many(digest_ids: list[int], token: str):  # noqa: ANN202
    return col(Digest.id).in_(digest_ids) & (Digest.claim_token == token) & (Digest.state == "sending")


def mark_handovers(session: Session, digest_ids: list[int], token: str, lease: timedelta) -> set[int]:
    """mark_handover for several digests in one statement: the ids whose claim is still ours (marked)."""
    if not digest_ids:
        return set()
    now = utcnow()
    stmt = (update(Digest).where(_mine_many(digest_ids, token)).values(handed_over_at=now, lease_until=now + lease)
            .returning(Digest.id))
    return set(session.connection().execute(stmt).scalars())  # Core: no ORM bookkeeping per statement


def mark_sent_many(session: Session, sent: list[tuple[int, str, bool]], token: str) -> set[int]:
    """mark_sent for several (digest id, profile id, was bouncing) in one statement: the ids marked."""
    if not sent:
        return set()
    stmt = (update(Digest).where(_mine_many([d for d, _, _ in sent], token))
            .values(state="sent", sent_at=utcnow(), last_error=None, lease_until=None, handed_over_at=None)
            .returning(Digest.id))
    done = set(session.connection().execute(stmt).scalars())
    bouncing = [p for d, p, was in sent if was and d in done]
    if bouncing:  # those addresses take mail again
        session.connection().execute(update(Profile).where(col(Profile.id).in_(bouncing)).values(bounces=0, bouncing_since=None))
    return done
