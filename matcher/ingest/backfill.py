"""Back-fill award history: read the award notices a portal published over a past span into the store.

Buyer evidence (matcher.digest.buyers) counts only award notices in the store. Polling keeps them coming from
the day a service starts (Contracts Finder and Find a Tender are polled with the award stage); `matcher buyers
backfill --since 2024-01-01` reads the years before. Each window is stored as polling stores it (a later
release of a notice updates it, malformed ones are quarantined), but no watermark moves: the next poll carries
on where it was. Re-running costs little: releases stored before are recognised and skipped.
"""
from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.engine import Engine

from matcher.config import Config
from matcher.ingest.poll import PollReport, store_page
from matcher.sources.http import FetchError
from matcher.sources.registry import enabled_sources, make_source
from matcher.store import as_utc

log = logging.getLogger(__name__)

# portals whose releases carry awards with supplier sizes, and the stages that select them (None: as configured)
AWARD_SOURCES = {"contracts_finder": ["award"], "find_a_tender": None}


def backfill_awards(cfg: Config, engine: Engine, since: datetime, until: datetime,
                    sources: list[str] | None = None) -> list[PollReport]:
    """Read every award-stage release from `since` to `until` of each award-bearing enabled source."""
    since, until = as_utc(since), as_utc(until)
    if since >= until:
        raise ValueError(f"--since {since:%Y-%m-%d} is not before {until:%Y-%m-%d}")
    reports = []
    for name, source_cfg in enabled_sources(cfg, sources):
        if name not in AWARD_SOURCES:
            continue
        stages = AWARD_SOURCES[name]
        scfg = source_cfg.model_copy(update={"stages": stages}) if stages is not None else source_cfg
        report = PollReport(source=name, since=since, until=until)
        with make_source(name, scfg) as source:
            windows = source.windows(since, until)
            report.windows = len(windows)
            try:
                for window in windows:
                    for page in source.fetch_window(window):
                        report.pages += 1
                        store_page(engine, source, page, report)
                    report.windows_done += 1
            except FetchError as e:  # what was read is kept; running again picks up the rest
                report.error = str(e)
                log.warning("backfill of %s stopped: %s", name, e)
            finally:
                report.requests = source.client.requests_made
        reports.append(report)
    return reports
