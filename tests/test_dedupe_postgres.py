"""One opportunity, once, on a real PostgreSQL server: copies merge and update the one notice as on SQLite."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session, select

from matcher.config import SourceConfig
from matcher.store.models import Notice, NoticeAlias, SeenRelease
from matcher.replay.recordings import load
from matcher.sources.find_a_tender import FindATender
from matcher.sources.wales import Sell2Wales
from matcher.store import init_db, session_scope
from matcher.ingest.notices import release_fingerprint, remember_release, seen_fingerprints, upsert_notice

pytestmark = pytest.mark.postgres
WELSH = "ocds-kuma6s-147801"  # its Find a Tender copy (no link) is cancelled three days after republication
COPY = "ocds-h6vhtk-04a01f"


@pytest.fixture
def pg_engine(pg_engine):
    """conftest's fresh schema on the session's server, initialised a second time: idempotent with the alias and
    seen-release tables too."""
    init_db(pg_engine)
    return pg_engine


def test_a_near_duplicate_copy_merges_and_its_cancellation_closes_the_notice_on_postgres(pg_engine):
    rec = load()
    s2w = Sell2Wales(SourceConfig(base_url="https://x.invalid"))
    fts = FindATender(SourceConfig(base_url="https://x.invalid", window_hours=6))
    original = s2w.parse(next(r.release for r in rec.ocds["sell2wales"] if r.release["ocid"] == WELSH))
    copy, cancelled = (fts.parse(r.release) for r in rec.ocds["find_a_tender"] if r.release["ocid"] == COPY)
    results = []
    for release in (original, copy, cancelled, copy, original):
        with session_scope(pg_engine) as s:
            results.append(upsert_notice(s, release))
    assert results == ["inserted", "merged", "updated", "unchanged", "unchanged"]
    with Session(pg_engine) as s:
        (notice,) = s.exec(select(Notice)).all()
        (alias,) = s.exec(select(NoticeAlias)).all()
    assert notice.key == WELSH and notice.source == "sell2wales" and notice.status == "cancelled"
    assert notice.url == original.url  # the canonical copy's page, whichever copy's release was newest
    assert [link["key"] for link in notice.links] == [WELSH, COPY]
    assert alias.key == COPY and "near duplicate" in alias.reason
    assert alias.merged_release_at == copy.updated_at and cancelled.updated_at - copy.updated_at == timedelta(days=3)
    s2w.close()
    fts.close()


def test_seen_releases_are_found_by_fingerprint_on_postgres(pg_engine):
    raw = load().ocds["sell2wales"][0].release
    fingerprint = release_fingerprint("sell2wales", raw)
    with session_scope(pg_engine) as s:
        assert seen_fingerprints(s, [fingerprint]) == set()
        remember_release(s, fingerprint, "sell2wales", raw["ocid"])
    with Session(pg_engine) as s:
        assert seen_fingerprints(s, [fingerprint, "0" * 64]) == {fingerprint}
        assert s.get(SeenRelease, fingerprint).key == raw["ocid"]
