"""The poll job: every enabled source, each on its own (one failing does not stop the rest)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy.engine import Engine

from matcher.config import Config
from matcher.ingest.poll import PollReport, poll_sources


def poll_job(cfg: Config, engine: Engine, now: datetime, sources: list[str] | None = None) -> list[PollReport]:
    return poll_sources(cfg, engine, now, sources)
