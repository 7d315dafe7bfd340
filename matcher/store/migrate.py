"""Schema migrations (Alembic, revisions in migrations/versions/): bring a store to this release's schema,
keeping every row.

- A store made before migrations existed (release 0.1.0: the tables, no alembic_version) has the baseline
  schema: it is stamped with the baseline revision, then upgraded like any other.
- An upgrade runs in one transaction holding a lock (PostgreSQL: an advisory lock; SQLite: BEGIN IMMEDIATE),
  so two processes starting at once upgrade once, and a failed upgrade leaves the store as it was.
- Commands other than `init` and `db upgrade` never migrate: an empty store is created, a current one used,
  and anything else stops with a message saying what to do (ensure_current).
- A new revision: change the models, then `matcher db revision -m "what changed"` (autogenerate against a
  scratch store at head); review the file it writes: a NOT NULL column needs a server_default for the rows
  already there, and a rename shows as drop + add. tests/test_migrations.py fails while models and
  migrations disagree, or when two revisions claim the same parent (rebase: point yours at the newest).
"""
from __future__ import annotations

import tempfile
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import Connection, Engine

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
BASELINE = "0001"  # the schema of release 0.1.0, the last one without migrations
BASELINE_TABLES = frozenset({"notice", "noticealias", "seenrelease", "profile", "embedding", "digest", "match",
                             "watermark", "quarantined", "feedback"})


# Alembic runs a migration through module-level proxies (alembic.context, alembic.op): two upgrades in one
# process at once, even on different stores, would share them. One at a time per process; the store lock below
# keeps processes apart.
_IN_PROCESS = threading.Lock()


class SchemaError(RuntimeError):
    """The store's schema is not one this release can use as it is; the message says what to do."""


def alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("path_separator", "os")
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


@lru_cache(maxsize=1)
def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    heads = _script().get_heads()
    if len(heads) != 1:
        raise SchemaError(f"the migrations have {len(heads)} heads ({', '.join(sorted(heads))}): set the newest "
                          "revision's down_revision to the one before it (two branches were merged)")
    return heads[0]


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def _known(revision: str) -> bool:
    try:
        return _script().get_revision(revision) is not None
    except CommandError:
        return False


def _matcher_tables(conn: Connection) -> set[str]:
    return set(inspect(conn).get_table_names()) & BASELINE_TABLES


def lock_key(conn: Connection, purpose: str) -> int:
    """A PostgreSQL advisory-lock key for `purpose` in this database and schema (stores side by side in one
    server never contend)."""
    database, schema = conn.execute(text("SELECT current_database(), current_schema()")).one()
    return zlib.crc32(f"sme-opportunity-matcher:{purpose}:{database}:{schema}".encode())


@contextmanager
def _locked(engine: Engine) -> Iterator[Connection]:
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock_key(conn, "migrate")})
        elif conn.dialect.name == "sqlite":
            # pysqlite opens transactions only before DML: begin here so the DDL is inside it too
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        yield conn


def _stopped(revision: str | None) -> str:
    return (f"the store is at schema revision {revision}, which this release does not know: a newer release "
            "upgraded it. Run that release, or restore the back-up taken before the upgrade")


def upgrade(engine: Engine, target: str = "head") -> tuple[str | None, str | None]:
    """Upgrade the store to `target` (default: this release's schema); (revision before, revision after).
    Safe to run any number of times, from several processes or threads at once."""
    with _IN_PROCESS, _locked(engine) as conn:
        before = MigrationContext.configure(conn).get_current_revision()
        cfg = alembic_config(conn)
        if before is not None and not _known(before):
            raise SchemaError(_stopped(before))
        if before is None:
            found = _matcher_tables(conn)
            if found and found != BASELINE_TABLES:
                raise SchemaError(f"the store has some of the matcher's tables ({', '.join(sorted(found))}) but not all, "
                                  "and no schema revision: it is not a store this release can upgrade")
            if found:  # made by release 0.1.0: its schema is the baseline
                command.stamp(cfg, BASELINE)
        command.upgrade(cfg, target)
        after = MigrationContext.configure(conn).get_current_revision()
    return before, after


def ensure_current(engine: Engine) -> None:
    """Create an empty store; accept one at this release's schema; stop with a SchemaError saying what to do
    for any other (older: `matcher db upgrade`; newer: run the newer release)."""
    revision, head = current_revision(engine), head_revision()
    if revision == head:
        return
    if revision is None:
        with engine.connect() as conn:
            empty = not _matcher_tables(conn)
        if empty:
            upgrade(engine)
            return
    if revision is not None and not _known(revision):
        raise SchemaError(_stopped(revision))
    raise SchemaError(f"the store's schema is at revision {revision or 'none (release 0.1.0)'} and this release "
                      f"needs {head}: back the store up, then run `matcher db upgrade`")


def new_revision(message: str) -> list[Path]:
    """Write a revision for what the models changed since head (autogenerate against a scratch SQLite store
    upgraded to head); returns the files written. Review them: autogenerate misses renames."""
    with tempfile.TemporaryDirectory() as tmp:
        engine = create_engine(f"sqlite:///{Path(tmp) / 'head.db'}")
        upgrade(engine)
        with engine.begin() as conn:
            written = command.revision(alembic_config(conn), message=message, autogenerate=True,
                                       rev_id=f"{int(head_revision()) + 1:04d}" if head_revision().isdigit() else None)
        engine.dispose()
    _script.cache_clear()
    scripts = written if isinstance(written, list) else [written]
    return [Path(s.path) for s in scripts if s is not None]
