"""Engine and sessions: SQLite by default (WAL, foreign keys on), PostgreSQL by URL."""
from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session, create_engine

# JSON columns without the spaces after "," and ":" (the match job writes hundreds of thousands of explanations a
# week); still ASCII-escaped, so no text the driver cannot encode (a lone surrogate) ever reaches it
_json = partial(json.dumps, separators=(",", ":"))


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        db_file = url.split(":///", 1)[-1]
        if db_file and ":memory:" not in db_file:
            Path(db_file).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30}, hide_parameters=True, json_serializer=_json)

        @event.listens_for(engine, "connect")
        def _pragmas(conn, _record):  # noqa: ANN001
            cur = conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True, hide_parameters=True,  # errors never print row values
                         json_serializer=_json)


def init_db(engine: Engine) -> None:
    """Create the store, or upgrade it to this release's schema (matcher.store.migrate). Safe to run any
    number of times."""
    from matcher.store.migrate import upgrade

    upgrade(engine)


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
