"""Engine and sessions; notice upserts, quarantine, watermarks, and conditional-UPDATE claims."""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from sqlalchemy import event, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, create_engine, select

from matcher import models
from matcher.models import Digest, Notice, Quarantined, Watermark, utcnow
from matcher.schema import NoticeRecord


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        db_file = url.split(":///", 1)[-1]
        if db_file and ":memory:" not in db_file:
            Path(db_file).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(conn, _record):  # noqa: ANN001
            cur = conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def init_db(engine: Engine) -> None:
    """Create every table that is missing. Safe to run any number of times."""
    assert models  # the import registers the tables
    SQLModel.metadata.create_all(engine)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def as_utc(dt: datetime | None) -> datetime | None:
    """Aware UTC; a naive time is taken to be UTC already."""
    if dt is None:
        return None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


UpsertResult = Literal["inserted", "updated", "unchanged"]


def _fields(rec: NoticeRecord) -> dict:
    data = rec.model_dump(mode="python")
    data["suppliers"] = [s.model_dump() for s in rec.suppliers]
    data["links"] = [link.model_dump() for link in rec.links]
    for k in ("published_at", "closes_at", "updated_at"):
        data[k] = as_utc(data[k])
    data["content_hash"] = rec.content_hash()
    return data


def _is_newer(rec: NoticeRecord, row: Notice) -> bool:
    """A release only replaces the stored one if it is not older (portals re-serve old releases)."""
    new, old = as_utc(rec.updated_at), row.updated_at
    return new is None or old is None or new >= old


def upsert_notice(session: Session, rec: NoticeRecord) -> UpsertResult:
    """Insert a notice, or update the stored one with the same key when its content changed."""
    row = session.exec(select(Notice).where(Notice.key == rec.key)).first()
    now = utcnow()
    if row is None:
        session.add(Notice(**_fields(rec), first_seen=now, last_seen=now))
        session.flush()
        return "inserted"
    row.last_seen = now
    fields = _fields(rec)
    if fields["content_hash"] == row.content_hash or not _is_newer(rec, row):
        session.add(row)
        return "unchanged"
    for k, v in fields.items():
        setattr(row, k, v)
    session.add(row)
    return "updated"


def quarantine(session: Session, source: str, payload: object, reason: str, key: str | None = None) -> bool:
    """Keep a record that could not be used, with why. Returns False if the same payload is already held."""
    text = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False, sort_keys=True)
    digest = hashlib.sha256(f"{source}\n{text}".encode()).hexdigest()
    exists = session.exec(select(Quarantined.id).where(Quarantined.payload_hash == digest)).first()
    if exists:
        return False
    session.add(Quarantined(source=source, key=key, reason=reason, payload=text, payload_hash=digest))
    return True


def get_watermark(session: Session, source: str) -> Watermark:
    wm = session.get(Watermark, source)
    if wm is None:
        wm = Watermark(source=source)
        session.add(wm)
        session.flush()
    return wm


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
