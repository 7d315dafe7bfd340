"""The weekly job and the daily job (match, then digest, each for the SMEs of its cadence) and one whole pass
(poll, match, digest), as the scheduler and `matcher run --once` call them."""
from __future__ import annotations

import threading
from datetime import datetime

from sqlalchemy.engine import Engine

from matcher import pipeline
from matcher.config import Config
from matcher.pipeline import PipelineReport


def weekly_job(cfg: Config, engine: Engine, now: datetime, stop: threading.Event | None = None) -> PipelineReport:
    return pipeline.weekly(cfg, engine, now, stop)


def daily_job(cfg: Config, engine: Engine, now: datetime, stop: threading.Event | None = None) -> PipelineReport:
    return pipeline.daily(cfg, engine, now, stop)


def run_once(cfg: Config, engine: Engine, now: datetime) -> PipelineReport:
    return pipeline.run_once(cfg, engine, now)
