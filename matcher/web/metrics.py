"""Prometheus metrics at GET /metrics (prometheus_client), read from the store at each scrape, so they are the
same whichever process serves them and survive restarts:

  matcher_notices{source}                               notices stored
  matcher_quarantined{source}                           records held back as malformed
  matcher_gaps_open{source}                             notice ids missing from Find a Tender's sequence, still probed
  matcher_digests{state}                                digests by state (sent, failed, empty, dead, ...), all weeks
  matcher_digests_this_week{state}                      the same for the current ISO week
  matcher_poll_duration_seconds{source}                 how long the last poll took
  matcher_last_poll_timestamp_seconds{source}           when the last poll ran (its `now`)
  matcher_last_successful_poll_timestamp_seconds{source}
  matcher_poll_failing{source}                          1 when the last poll failed after the last success

Restrict /metrics to the monitoring network at the reverse proxy (README, Deploying).
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from matcher import clock
from matcher.period import period_of
from matcher.config import Config
from matcher.store import as_utc
from matcher.store.models import Digest, Notice, NoticeIdProbe, Quarantined, Watermark


class StoreCollector:
    """A prometheus_client collector: one read of the store per scrape."""

    def __init__(self, cfg: Config, engine: Engine, now: Callable[[], datetime]):
        self.cfg, self.engine, self.now = cfg, engine, now

    def describe(self) -> list:
        return []  # no fixed families up front: collect() is only called at scrape time

    def collect(self) -> Iterator[GaugeMetricFamily]:
        week = clock.week_of(self.now(), self.cfg.digest.timezone)
        with Session(self.engine) as s:
            yield _by("matcher_notices", "Notices stored, by source", "source",
                      s.exec(select(Notice.source, func.count()).group_by(Notice.source)))
            yield _by("matcher_quarantined", "Records held back as malformed, by source", "source",
                      s.exec(select(Quarantined.source, func.count()).group_by(Quarantined.source)))
            yield _by("matcher_gaps_open", "Notice ids missing from a portal's sequence and still being probed", "source",
                      s.exec(select(NoticeIdProbe.source, func.count()).where(NoticeIdProbe.state == "open")
                             .group_by(NoticeIdProbe.source)))
            yield _by("matcher_digests", "Digests by state, all weeks", "state",
                      s.exec(select(Digest.state, func.count()).group_by(Digest.state)))
            yield _by("matcher_digests_this_week", f"Digests of the current ISO week by state", "state",
                      s.exec(select(Digest.state, func.count()).where(Digest.week == week).group_by(Digest.state)))
            today = period_of(self.now(), "daily", self.cfg.digest.timezone).label
            yield _by("matcher_digests_today", "Daily SMEs' digests of today by state", "state",
                      s.exec(select(Digest.state, func.count()).where(Digest.week == today).group_by(Digest.state)))
            marks = list(s.exec(select(Watermark)))
        duration = GaugeMetricFamily("matcher_poll_duration_seconds", "How long the last poll took", labels=["source"])
        polled = GaugeMetricFamily("matcher_last_poll_timestamp_seconds", "When the last poll ran", labels=["source"])
        ok = GaugeMetricFamily("matcher_last_successful_poll_timestamp_seconds", "When the last poll succeeded",
                               labels=["source"])
        failing = GaugeMetricFamily("matcher_poll_failing", "1 when a poll failed after the last success", labels=["source"])
        for wm in marks:
            if wm.last_poll_seconds is not None:
                duration.add_metric([wm.source], wm.last_poll_seconds)
            if wm.last_poll_at is not None:
                polled.add_metric([wm.source], as_utc(wm.last_poll_at).timestamp())
            if wm.last_success_at is not None:
                ok.add_metric([wm.source], as_utc(wm.last_success_at).timestamp())
            error_at, success_at = as_utc(wm.last_error_at), as_utc(wm.last_success_at)
            failing.add_metric([wm.source], float(error_at is not None and (success_at is None or error_at > success_at)))
        yield from (duration, polled, ok, failing)


def _by(name: str, documentation: str, label: str, rows) -> GaugeMetricFamily:  # noqa: ANN001
    family = GaugeMetricFamily(name, documentation, labels=[label])
    for value, count in rows:
        family.add_metric([str(value)], count)
    return family


def routes(cfg: Config, engine: Engine, now: Callable[[], datetime]) -> list[Route]:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(cfg, engine, now))

    def metrics(_: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST,
                        headers={"Cache-Control": "no-store"})

    return [Route("/metrics", metrics, methods=["GET"])]
