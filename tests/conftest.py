"""Shared fixtures: a fresh SQLite store, the loopback replay server, and source configs with small waits.

Other test modules rely on the names `engine` and `replay`; keep them.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
import pytest

from matcher.config import SourceConfig
from matcher.replay import ReplayServer, start_replay
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
            window_hours=360,
            lookback_days=14,
            overlap_minutes=60,
            stages=["planning", "tender", "award"],
        )
        values.update(overrides)
        return SourceConfig(**values)

    return make
