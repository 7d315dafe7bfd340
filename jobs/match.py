"""The match job: this period's matches for every active SME of a cadence (or only `profile_ids`)."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.engine import Engine

from matcher.config import Config
from matcher.embed import Embedder
from matcher.match_week import MatchReport, match_week
from matcher.period import Cadence


def match_job(cfg: Config, engine: Engine, now: datetime, profile_ids: Sequence[str] | None = None,
              embedder: Embedder | None = None, cadence: Cadence = "weekly") -> MatchReport:
    return match_week(cfg, engine, now, profile_ids=profile_ids, embedder=embedder, cadence=cadence)
