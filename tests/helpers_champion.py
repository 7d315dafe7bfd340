"""A store for the SME champions' tests: SMEs with sent, empty, failed and missing digests, items and feedback.

Week 2025-W05 (helpers_digest.NOW), as the rows are laid out:
  acme    active   sent    n1 (marked not relevant), n2 (marked relevant)   n1's title holds a <script> tag
  bolt    active   sent    n3 (no feedback); also sent n4 in 2025-W04
  flaky   active   failed  n5 (not sent); last sent items in 2025-W03
  quiet   active   empty   never sent anything
  newbie  active   no digest at all
  gone    unsubscribed, sent n6 this week
"""
from __future__ import annotations

from datetime import timedelta

from helpers_digest import NOW, WEEK, add_notice, add_profile
from sqlalchemy.engine import Engine

from matcher.store.models import Digest, Feedback, Match
from matcher.store import session_scope

SCRIPT_TITLE = "Library <script>alert('x')</script> website rebuild"
PREVIOUS = "2025-W04"
TWO_BACK = "2025-W03"


def add_digest(engine: Engine, pid: str, week: str, state: str, items: list[tuple[str, float]]) -> int:
    """A digest row in `state` with one Match per (notice key, score) attached, ranked in the given order."""
    with session_scope(engine) as s:
        digest = Digest(profile_id=pid, week=week, state=state, item_count=len(items),
                        sent_at=NOW if state == "sent" else None,
                        last_error="550 mailbox unavailable" if state == "failed" else None)
        s.add(digest)
        s.flush()
        for rank, (key, score) in enumerate(items):
            s.add(Match(profile_id=pid, notice_key=key, week=week, rank=rank, score=score, digest_id=digest.id,
                        dense=0.61, lexical=0.42, keyword=0.5, cpv=1.0, raw_score=0.55,
                        explanation={"summary": f"{key}: your web development work matches this tender.",
                                     "capabilities": ["web development"], "terms": ["website", "accessibility"],
                                     "cpv": ["72000000 IT services"], "evidence": "Needs <b>accessible</b> pages."}))
        return digest.id  # type: ignore[return-value]


def add_feedback(engine: Engine, pid: str, key: str, verdict: str) -> None:
    with session_scope(engine) as s:
        s.add(Feedback(profile_id=pid, notice_key=key, verdict=verdict, via="email", created_at=NOW + timedelta(hours=3)))


def seed_champion_store(engine: Engine) -> None:
    add_profile(engine, "acme", name="Acme <Web> Ltd")
    add_profile(engine, "bolt", name="Bolt Digital")
    add_profile(engine, "flaky", name="Flaky Mail Ltd")
    add_profile(engine, "quiet", name="Quiet Co")
    add_profile(engine, "newbie", name="Newbie Ltd")
    add_profile(engine, "gone", name="Gone Ltd", unsubscribed_at=NOW)
    add_notice(engine, "n1", title=SCRIPT_TITLE, buyer="Leeds <City> Council")
    for key in ("n2", "n3", "n4", "n5", "n6", "n7"):
        add_notice(engine, key, title=f"Notice {key} tender")
    add_digest(engine, "acme", WEEK, "sent", [("n1", 0.91), ("n2", 0.74)])
    add_digest(engine, "bolt", WEEK, "sent", [("n3", 0.66)])
    add_digest(engine, "bolt", PREVIOUS, "sent", [("n4", 0.7)])
    add_digest(engine, "flaky", WEEK, "failed", [("n5", 0.8)])
    add_digest(engine, "flaky", TWO_BACK, "sent", [("n7", 0.6)])
    add_digest(engine, "quiet", WEEK, "empty", [])
    add_digest(engine, "gone", WEEK, "sent", [("n6", 0.55)])
    add_feedback(engine, "acme", "n1", "not-relevant")
    add_feedback(engine, "acme", "n2", "relevant")
