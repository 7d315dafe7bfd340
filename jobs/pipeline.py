"""The steps in order: poll -> match -> digest. Each step is a job of its own; this only runs them in sequence."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine

from matcher.config import Config

log = logging.getLogger(__name__)


@dataclass
class PipelineReport:
    poll: Any = None
    match: Any = None
    digest: Any = None
    errors: list[str] = field(default_factory=list)


def weekly_job(cfg: Config, engine: Engine, now: datetime) -> PipelineReport:
    """Match this week's notices, then build and send the digests."""
    from jobs.digest import digest_job
    from jobs.match import match_job

    report = PipelineReport()
    report.match = match_job(cfg, engine, now)
    report.digest = digest_job(cfg, engine, now)
    return report


def run_once(cfg: Config, engine: Engine, now: datetime) -> PipelineReport:
    """poll -> match -> digest, once. A failing source is reported, and the rest still runs."""
    from jobs.poll import poll_job

    report = PipelineReport()
    report.poll = poll_job(cfg, engine, now)
    weekly = weekly_job(cfg, engine, now)
    report.match, report.digest = weekly.match, weekly.digest
    return report
