"""The store on a real PostgreSQL server: the same guarantees as on SQLite."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, select

from matcher.store.models import Digest, Notice
from matcher.schema import NoticeRecord
from matcher.store import init_db, session_scope
from matcher.store.claims import claim_batch, mark_sent
from matcher.ingest.notices import quarantine, upsert_notice

pytestmark = pytest.mark.postgres  # pg_engine (conftest): a fresh schema on the session's server, tables created


def _notice(title: str = "Grounds maintenance", updated: datetime | None = None) -> NoticeRecord:
    return NoticeRecord(
        source="contracts_finder", key="ocds-b5fd17-abc", release_id="abc-1", title=title,
        description="Grass cutting and hedge work for parks.", cpv=["77310000"], regions=["South West"],
        closes_at=datetime(2025, 2, 14, 12, tzinfo=UTC), updated_at=updated or datetime(2025, 1, 23, tzinfo=UTC),
        sections={"lots": "Lot 1"}, raw={"ocid": "ocds-b5fd17-abc"},
    )


def test_init_twice_is_harmless_on_postgres(pg_engine):
    init_db(pg_engine)
    init_db(pg_engine)
    with Session(pg_engine) as s:
        assert s.exec(select(Notice)).all() == []


def test_later_release_updates_notice_on_postgres(pg_engine):
    with session_scope(pg_engine) as s:
        assert upsert_notice(s, _notice()) == "inserted"
    with session_scope(pg_engine) as s:
        assert upsert_notice(s, _notice()) == "unchanged"
        assert upsert_notice(s, _notice("Grounds maintenance (amended)", datetime(2025, 1, 24, tzinfo=UTC))) == "updated"
        # an older release served again never overwrites the newer one
        assert upsert_notice(s, _notice("Old title", datetime(2025, 1, 1, tzinfo=UTC))) == "unchanged"
    with session_scope(pg_engine) as s:
        rows = s.exec(select(Notice)).all()
    assert len(rows) == 1
    assert rows[0].title == "Grounds maintenance (amended)"
    assert rows[0].cpv == ["77310000"] and rows[0].sections == {"lots": "Lot 1"}
    assert rows[0].closes_at == datetime(2025, 2, 14, 12, tzinfo=UTC)


def test_digest_claim_is_exclusive_on_postgres(pg_engine):
    with session_scope(pg_engine) as s:
        d = Digest(profile_id="p1", week="2025-W04")
        s.add(d)
    lease = timedelta(minutes=5)
    with Session(pg_engine) as a, Session(pg_engine) as b:
        assert claim_batch(a, "2025-W04", 10, "run-a", lease) == ([d.id], 0)
        assert claim_batch(b, "2025-W04", 10, "run-b", lease) == ([], 0)
        assert mark_sent(b, d.id, "run-b", "p1") is False  # not b's claim
        assert mark_sent(a, d.id, "run-a", "p1") is True
        a.commit()
    with Session(pg_engine) as s:
        row = s.get(Digest, d.id)
        assert row.state == "sent" and row.attempts == 1 and row.sent_at is not None
        assert claim_batch(s, "2025-W04", 10, "run-c", lease) == ([], 0)


def test_senders_claiming_at_once_on_postgres_skip_each_others_locked_rows(pg_engine):
    with session_scope(pg_engine) as s:
        s.add_all([Digest(profile_id=f"p{i}", week="2025-W04") for i in range(30)])
    lease = timedelta(minutes=5)
    with Session(pg_engine) as a, Session(pg_engine) as b:
        from sqlalchemy import text
        a.execute(text("SELECT id FROM digest ORDER BY id LIMIT 5 FOR UPDATE"))  # a sender mid-claim holds 5 rows
        got_b, _ = claim_batch(b, "2025-W04", 10, "run-b", lease)  # does not wait for them: takes the next 10
        a.rollback()
        got_a, _ = claim_batch(a, "2025-W04", 100, "run-a", lease)
    assert len(got_b) == 10 and len(got_a) == 20 and not set(got_a) & set(got_b)


def test_same_quarantined_payload_is_kept_once_on_postgres(pg_engine):
    with session_scope(pg_engine) as s:
        assert quarantine(s, "contracts_finder", {"ocid": None}, "ocid: missing") is True
        assert quarantine(s, "contracts_finder", {"ocid": None}, "ocid: missing") is False
