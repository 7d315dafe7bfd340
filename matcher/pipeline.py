"""The steps in order: poll -> match -> digest (build, then deliver) -> deadline reminders. Each step lives in its own package; this only
runs them in sequence, for the weekly job (weekly SMEs), the daily job (daily SMEs), `matcher run --once` and the demo."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine

from matcher.config import Config
from matcher.deliver.reminders import send_reminders
from matcher.deliver.week import send_week
from matcher.ingest.poll import poll_sources
from matcher.match_week import match_week
from matcher.store import session_scope
from matcher.store.accounts import purge_expired


@dataclass
class PipelineReport:
    poll: Any = None
    match: Any = None
    digest: Any = None
    reminders: Any = None
    errors: list[str] = field(default_factory=list)
    daily_match: Any = None  # the daily SMEs' run (run_once does both)
    daily_digest: Any = None


def weekly(cfg: Config, engine: Engine, now: datetime, stop: threading.Event | None = None) -> PipelineReport:
    """Match this week's notices for the weekly SMEs, then build and send their digests (until `stop`)."""
    report = PipelineReport()
    with session_scope(engine) as s:  # unconfirmed web sign-ups past their expiry are deleted
        purge_expired(s, now)
    report.match = match_week(cfg, engine, now)
    report.digest = send_week(cfg, engine, now, stop=stop)
    return report


def daily(cfg: Config, engine: Engine, now: datetime, stop: threading.Event | None = None) -> PipelineReport:
    """Match what is new to each daily SME, then build and send today's daily digests (none on a day with
    nothing new)."""
    report = PipelineReport()
    with session_scope(engine) as s:
        purge_expired(s, now)
    report.match = match_week(cfg, engine, now, cadence="daily")
    report.digest = send_week(cfg, engine, now, cadence="daily", stop=stop)
    return report


def run_once(cfg: Config, engine: Engine, now: datetime) -> PipelineReport:
    """poll -> match -> digest, once. A failing source is reported, and the rest still runs."""
    report = PipelineReport()
    report.poll = poll_sources(cfg, engine, now)
    week = weekly(cfg, engine, now)
    report.match, report.digest = week.match, week.digest
    day = daily(cfg, engine, now)
    report.daily_match, report.daily_digest = day.match, day.digest
    report.reminders = send_reminders(cfg, engine, now)
    return report
