"""A period's digests: build this week's (weekly SMEs) or today's (daily SMEs, matcher.period) digests, then
deliver the pending ones, and report every digest of the period by state. Safe to run again."""
from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.engine import Engine
from sqlmodel import select

from matcher.config import Config
from matcher.deliver.send import DeliveryResult, Transport, deliver_digests
from matcher.digest.build import BuildResult, build_digests
from matcher.period import CADENCES, Cadence, period_of
from matcher.store import session_scope
from matcher.store.models import Digest


@dataclass
class DigestRow:
    profile_id: str
    items: int
    state: str
    last_error: str | None


@dataclass
class DigestJobReport:
    week: str
    build: BuildResult
    delivery: DeliveryResult
    states: Counter = field(default_factory=Counter)  # every digest of the week, by state, after this run
    rows: list[DigestRow] = field(default_factory=list)

    def __str__(self) -> str:
        by_state = ", ".join(f"{n} {s}" for s, n in sorted(self.states.items())) or "no digests"
        return f"{self.week}: {len(self.build.created)} new digest(s); {by_state}\n{self.delivery.summary()}"


def send_week(cfg: Config, engine: Engine, now: datetime, transport: Transport | None = None,
              stop: threading.Event | None = None, cadence: Cadence = "weekly") -> DigestJobReport:
    week = period_of(now, cadence, cfg.digest.timezone).label
    with session_scope(engine) as session:
        build = build_digests(session, cfg, now, cadence)
    with session_scope(engine) as session:
        delivery = deliver_digests(session, cfg, now, transport=transport, week=week, stop=stop)
    report = DigestJobReport(week=week, build=build, delivery=delivery)
    with session_scope(engine) as session:
        for d in session.exec(select(Digest).where(Digest.week == week).order_by(Digest.profile_id)):
            report.states[d.state] += 1
            report.rows.append(DigestRow(d.profile_id, d.item_count, d.state, d.last_error))
    return report


def retry_undelivered(cfg: Config, engine: Engine, now: datetime, stop: threading.Event | None = None) -> DeliveryResult:
    """Send this week's and today's digests that are still pending (failed, or left 'sending' past their lease by
    a killed sender); builds nothing. The scheduler runs it between the runs. An earlier period's digest that
    never went is given up by the next build, which carries its items into the SME's next digest. `stop` (the
    scheduler's SIGTERM) ends it as it ends a send: the messages in flight finish, the rest wait."""
    total = DeliveryResult(week=period_of(now, "weekly", cfg.digest.timezone).label)
    for cadence in CADENCES:
        if stop is not None and stop.is_set():
            break
        label = period_of(now, cadence, cfg.digest.timezone).label
        with session_scope(engine) as session:
            if not session.exec(select(Digest.id).where(Digest.week == label, Digest.state != "sent").limit(1)).first():
                continue
            result = deliver_digests(session, cfg, now, week=label, stop=stop)
        total.outcomes.update(result.outcomes)
        total.errors += result.errors
        total.sent_to += result.sent_to
        total.unknown += result.unknown
        total.in_flight += result.in_flight
        total.stopped = total.stopped or result.stopped
    return total
