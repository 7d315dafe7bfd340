"""Shared fixtures: a fresh SQLite store, the loopback replay server, source configs with small waits, and
`db_url`: each test that takes it runs twice, on a SQLite file and on its own schema of one real PostgreSQL
server (started once per session: `pg_base`; `pg_url` and `pg_engine` give a test a schema of its own on it).
No test module starts a server of its own.

Other test modules rely on the names `engine` and `replay`; keep them.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from functools import lru_cache

import pytest
from sqlmodel import Session, select

from matcher.config import SourceConfig
from matcher.store.models import Notice, Quarantined
from matcher.replay import ReplayServer, start_replay
from matcher.replay.recordings import load
from matcher.store import init_db, make_engine

@pytest.fixture
def engine(tmp_path):
    """A fresh SQLite store in tmp_path with every table created."""
    eng = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    init_db(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def replay() -> Iterator[ReplayServer]:
    """The replay server on 127.0.0.1 (a free port), with no faults queued; stopped after the test."""
    server = start_replay()
    yield server
    server.stop()


@pytest.fixture
def source_config(replay) -> Callable[..., SourceConfig]:
    """source_config(name="contracts_finder", **overrides): a SourceConfig pointed at the replay server,
    with waits small enough for tests (retries still happen, just quickly)."""

    def make(name: str = "contracts_finder", **overrides) -> SourceConfig:
        values = dict(
            base_url=replay.base_url(name),
            delay_seconds=0.0,
            timeout_seconds=2.0,
            max_retries=3,
            retry_wait_seconds=0.01,
            rate_limit_wait_seconds=0.05,
            max_wait_seconds=1.0,
            window_hours=6 if name == "find_a_tender" else 360,  # Find a Tender refuses longer windows
            lookback_days=14,
            overlap_minutes=60,
            stages=["planning", "tender", "award"],
        )
        values.update(overrides)
        return SourceConfig(**values)

    return make


def _months(since: datetime, until: datetime) -> set[tuple[int, int]]:
    out, month = set(), since.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    while month < until:
        out.add((month.year, month.month))
        month = (month + timedelta(days=32)).replace(day=1)
    return out


@pytest.fixture
def recorded() -> Callable[[str, datetime, datetime], dict[str, str]]:
    """recorded(source, since, until) -> {key: content hash} of what the replay server serves a poll of
    [since, until] for a Find a Tender / Public Contracts Scotland / Sell2Wales source: the newest release
    of each process, straight from the bundled recordings and the source's own parser (no store, no HTTP).
    Proactis sources serve whole months."""
    return _recorded


@lru_cache(maxsize=64)
def _recorded_cached(source: str, since: datetime, until: datetime) -> tuple[tuple[str, str], ...]:
    from matcher.sources.registry import make_source

    releases = load().ocds[source]
    if source == "find_a_tender":
        chosen = [r for r in releases if since <= r.date <= until]
    else:
        months = _months(since, until)
        chosen = [r for r in releases if (r.date.year, r.date.month) in months]
    newest = {}
    for r in sorted(chosen, key=lambda r: r.date):
        newest[r.release["ocid"]] = r.release
    with make_source(source, SourceConfig(base_url="http://127.0.0.1:9", window_hours=6)) as parser:
        return tuple((key, parser.parse(release).content_hash()) for key, release in newest.items())


def _recorded(source: str, since: datetime, until: datetime) -> dict[str, str]:
    return dict(_recorded_cached(source, since, until))


@pytest.fixture
def stored() -> Callable:
    """stored(engine) -> ({key: content hash} of the stored notices, number of rows, quarantined rows)."""

    def read(engine) -> tuple[dict[str, str], int, list[Quarantined]]:  # noqa: ANN001
        with Session(engine) as s:
            rows = s.exec(select(Notice.key, Notice.content_hash)).all()
            held = s.exec(select(Quarantined)).all()
        return dict(rows), len(rows), held

    return read


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items) -> None:  # noqa: ANN001
    """A test that takes the session's PostgreSQL server (pg_base, pg_url or pg_engine) is marked `postgres`
    even if its module forgot, so `-m "not postgres"` leaves it out."""
    for item in items:
        if "pg_base" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.postgres)


@pytest.fixture(scope="session")
def pg_base() -> Iterator[str]:
    from matcher.config import DatabaseConfig
    from pgserver import postgres_url

    with postgres_url() as url:
        yield DatabaseConfig(url=url).url


@pytest.fixture
def pg_url(pg_base) -> Iterator[str]:
    """A fresh, empty schema of its own on the session's PostgreSQL server (the URL sets its search_path);
    dropped after the test. Tests that take it need the `postgres` marker."""
    from pgserver import fresh_schema_url

    gen = fresh_schema_url(pg_base)
    yield next(gen)
    next(gen, None)


@pytest.fixture
def pg_engine(pg_url):
    """An engine on pg_url with every table created; disposed before the schema is dropped."""
    engine = make_engine(pg_url)
    init_db(engine)
    yield engine
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request, tmp_path) -> str:
    """A store URL: a SQLite file in tmp_path, or a fresh schema on the session's PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return request.getfixturevalue("pg_url")
