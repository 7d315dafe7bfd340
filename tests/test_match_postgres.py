"""The match job's bulk writes (COPY for the WeekOutcome and MatchSet rows) on a real PostgreSQL: the same as on SQLite."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
from sqlmodel import select

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_match_job import CYBER, GROUNDS, NOTICES, NOW, WEEK  # noqa: E402

from jobs.match import match_job  # noqa: E402
from matcher.config import config_from_dict  # noqa: E402
from matcher.ingest.notices import upsert_notice  # noqa: E402
from matcher.store import init_db, make_engine, session_scope  # noqa: E402
from matcher.store.match_sets import chosen_items  # noqa: E402
from matcher.store.models import MatchSet, WeekOutcome  # noqa: E402
from matcher.store.profiles import save_profile  # noqa: E402

pytestmark = pytest.mark.postgres  # pg_url (conftest): a fresh schema on the session's PostgreSQL server


def _rows(engine):
    with session_scope(engine) as s:
        matches = [(pid, m["notice_key"], m["rank"], round(m["score"], 6), m["explanation"])
                   for pid, items in sorted(chosen_items(s, WEEK).items()) for m in items]
        outcomes = [(o.profile_id, o.matched, o.best_notice_key, o.match_set)
                    for o in s.exec(select(WeekOutcome).order_by(WeekOutcome.profile_id))]
        sets = sorted(s.exec(select(MatchSet.key, MatchSet.items)))
    return matches, outcomes, sets


def test_the_match_job_writes_the_same_rows_on_postgresql_as_on_sqlite_and_a_rerun_replaces_them(pg_url, tmp_path):
    results = []
    for url in (pg_url, f"sqlite:///{tmp_path / 'store.db'}"):
        engine = make_engine(url)
        init_db(engine)
        with session_scope(engine) as s:
            for p in (GROUNDS, CYBER):
                save_profile(s, p)
            for n in NOTICES:
                upsert_notice(s, n)
        cfg = config_from_dict({"database": {"url": url}})
        match_job(cfg, engine, NOW)
        match_job(cfg, engine, NOW)  # the week's unsent rows are replaced, not duplicated
        results.append(_rows(engine))
        engine.dispose()
    assert results[0][0], "no matches: the test would prove nothing"
    assert results[0] == results[1]
    assert len({(pid, key) for pid, key, *_ in results[0][0]}) == len(results[0][0])
    assert {key for key, _ in results[0][2]} == {o[3] for o in results[0][1]} - {None}  # every set named, once
