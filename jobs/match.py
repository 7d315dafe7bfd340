"""The match job: this week's matches for every active SME (or only `profile_ids`)."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.engine import Engine

from matcher.config import Config
from matcher.embed import Embedder
from matcher.match_week import MatchReport, match_week


def match_job(cfg: Config, engine: Engine, now: datetime, profile_ids: Sequence[str] | None = None,
              embedder: Embedder | None = None) -> MatchReport:
    return match_week(cfg, engine, now, profile_ids=profile_ids, embedder=embedder)
