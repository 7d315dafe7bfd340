"""The scheduler's leader lock: of several `matcher run` processes on one store, one (the leader) polls and runs
the weekly job; the others wait, and one takes over within seconds when the leader dies.

- PostgreSQL: a session advisory lock (pg_try_advisory_lock) on a connection of its own. The server drops it
  when that session ends, so a leader killed with SIGKILL, or whose machine vanished, frees it as soon as the
  server notices the connection is gone. The key is per database and schema (migrate.lock_key).
- SQLite: an OS file lock (filelock) on `<store file>.leader.lock`, released by the kernel when the process
  dies. It guards processes on one machine, which is all SQLite supports; an in-memory store has one process.
"""
from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from matcher.store.migrate import lock_key

log = logging.getLogger(__name__)


class LeaderLock:
    """try_acquire() -> bool, never blocks; held() says whether it is still ours; release() gives it up."""

    def try_acquire(self) -> bool:
        return True

    def held(self) -> bool:
        return True

    def release(self) -> None:
        pass


class PostgresLeaderLock(LeaderLock):
    def __init__(self, engine: Engine, purpose: str = "scheduler-leader"):
        self.engine, self.purpose = engine, purpose
        self._conn: Connection | None = None
        self._key = 0
        self._ours = False

    def try_acquire(self) -> bool:
        try:
            if self._conn is None:  # its own session, outside any transaction: the lock lives as long as it does
                self._conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
                self._key = lock_key(self._conn, self.purpose)
            self._ours = bool(self._conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self._key}).scalar())
        except Exception as e:  # noqa: BLE001 - the server may be restarting: the caller tries again later
            log.warning("leader lock: cannot reach the store (%s: %s)", type(e).__name__, e)
            self._drop()
        return self._ours

    def held(self) -> bool:
        if self._conn is None or not self._ours:
            return False
        try:
            self._conn.execute(text("SELECT 1"))  # a live session still holds its session lock
            return True
        except Exception as e:  # noqa: BLE001 - a lost session is a lost lock
            log.error("leader lock: the store connection was lost (%s: %s)", type(e).__name__, e)
            self._drop()
            return False

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.invalidate()
                self._conn.close()
            except Exception:  # noqa: BLE001 - it is gone either way
                pass
        self._conn, self._ours = None, False

    def release(self) -> None:
        if self._conn is not None and self._ours:
            try:
                self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self._key})
            except Exception:  # noqa: BLE001 - closing the session releases it anyway
                pass
        if self._conn is not None:
            self._conn.close()
        self._conn, self._ours = None, False


class FileLeaderLock(LeaderLock):
    def __init__(self, path: Path):
        from filelock import FileLock

        self.path = path
        self._lock = FileLock(str(path), thread_local=False)

    def try_acquire(self) -> bool:
        from filelock import Timeout

        try:
            self._lock.acquire(timeout=0)
        except Timeout:
            return False
        return True

    def held(self) -> bool:
        return self._lock.is_locked

    def release(self) -> None:
        if self._lock.is_locked:
            self._lock.release(force=True)


def leader_lock(engine: Engine) -> LeaderLock:
    """The leader lock for this store."""
    if engine.dialect.name == "postgresql":
        return PostgresLeaderLock(engine)
    database = engine.url.database
    if not database or database == ":memory:":
        return LeaderLock()  # an in-memory store lives in one process: it is always the leader
    path = Path(database).resolve()
    return FileLeaderLock(path.with_name(path.name + ".leader.lock"))
