"""The poll step for the scheduler: every enabled source, each on its own (one failing does not stop the rest)."""
from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.engine import Engine

from matcher.config import Config
from matcher.ingest import PollReport, poll_source, record_failure
from matcher.sources.registry import enabled_sources, make_source

log = logging.getLogger(__name__)


def poll_job(cfg: Config, engine: Engine, now: datetime, sources: list[str] | None = None) -> list[PollReport]:
    """Poll each enabled source (or those named) up to `now`. Failures are recorded on the source's
    watermark and returned in its report; they are not raised."""
    reports = []
    for name, source_cfg in enabled_sources(cfg, sources):
        try:
            with make_source(name, source_cfg) as source:
                report = poll_source(engine, source, now)
        except Exception as e:  # a bug or a store failure in one source must not stop the others
            log.exception("poll of %s failed", name)
            report = PollReport(source=name, until=now, error=f"{type(e).__name__}: {e}")
            try:
                record_failure(engine, name, report.error, now)
            except Exception:  # the store itself may be what failed; the report still says why
                log.exception("could not record the failure of %s", name)
        if report.error:
            log.warning("poll of %s: %s", name, report.error)
        reports.append(report)
    return reports
