"""The digest job: build this period's digests (this week's for weekly SMEs, today's for daily ones), then deliver
the pending ones. Safe to run again."""
from __future__ import annotations

import threading
from datetime import datetime

from sqlalchemy.engine import Engine

from matcher.config import Config
from matcher.deliver.send import Transport
from matcher.deliver.reminders import ReminderResult, send_reminders
from matcher.deliver.week import DigestJobReport, send_week
from matcher.period import Cadence


def digest_job(cfg: Config, engine: Engine, now: datetime, transport: Transport | None = None,
               stop: threading.Event | None = None, cadence: Cadence = "weekly") -> DigestJobReport:
    return send_week(cfg, engine, now, transport=transport, stop=stop, cadence=cadence)


def reminder_job(cfg: Config, engine: Engine, now: datetime, transport: Transport | None = None) -> ReminderResult:
    return send_reminders(cfg, engine, now, transport)
