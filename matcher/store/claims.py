"""Conditional-UPDATE claims on digests: of two workers, exactly one wins; a send is finished only if the row
still reads 'sending'."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session

from matcher.store.models import Digest, utcnow


def claim_digest(session: Session, digest_id: int, stale_before: datetime) -> bool:
    """Move a digest to 'sending' only if it still reads 'created' or 'failed' (or a claim went stale).

    The conditional UPDATE is the lock: of two workers, exactly one sees rowcount 1.
    """
    stmt = (
        update(Digest)
        .where(Digest.id == digest_id)
        .where(
            (Digest.state.in_(["created", "failed"]))  # type: ignore[attr-defined]
            | ((Digest.state == "sending") & (Digest.claimed_at < stale_before))
        )
        .values(state="sending", claimed_at=utcnow(), attempts=Digest.attempts + 1)
    )
    result = session.execute(stmt)
    session.commit()
    return result.rowcount == 1


def finish_digest(session: Session, digest_id: int, ok: bool, error: str | None = None, max_attempts: int = 5) -> None:
    values: dict = {"sent_at": utcnow(), "state": "sent", "last_error": None} if ok else {"last_error": error}
    if not ok:
        row = session.get(Digest, digest_id)
        values["state"] = "dead" if row is not None and row.attempts >= max_attempts else "failed"
    session.execute(update(Digest).where(Digest.id == digest_id).where(Digest.state == "sending").values(**values))
    session.commit()
