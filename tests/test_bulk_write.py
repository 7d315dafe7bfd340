"""The match job's bulk write: rows of any count in multi-row INSERTs, and one transaction on a writer thread
(store/writer.py) that is atomic, bounded and never swallows an error."""
from __future__ import annotations

import sqlite3
import threading
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import event
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from matcher.store import session_scope
from matcher.store.bulk import BATCH, insert_rows
from matcher.store.models import Match
from matcher.store.writer import BackgroundWrite

COLS = ("profile_id", "notice_key", "rank", "dense", "lexical", "keyword", "cpv", "raw_score", "score", "explanation")
STAMP = datetime(2025, 2, 3, 8, 30, 15, 123456, tzinfo=UTC)
CONST = {"week": "2025-W06", "created_at": STAMP}


def rows(n: int, prefix: str = "sme") -> list[tuple]:
    why = {"v": 2, "terms": ["tree surgery"], "evidence": "it's \"quoted\" and caf\u00e9"}
    return [(f"{prefix}-{i:06d}", f"n-{i % 7}", i % 7 + 1, 0.1 * (i % 10), 0.2, 0.3, 0.0, 0.4, i / n,
             why if i % 3 else {}) for i in range(n)]


def stored(engine) -> list[tuple]:
    with session_scope(engine) as s:
        got = s.exec(select(Match).order_by(Match.id)).all()
    assert all(m.week == "2025-W06" and m.created_at.replace(tzinfo=UTC) == STAMP for m in got)
    return [(m.profile_id, m.notice_key, m.rank, m.dense, m.lexical, m.keyword, m.cpv, m.raw_score, m.score,
             m.explanation) for m in got]


@pytest.mark.parametrize("limit", [None, 25])  # the driver's own variable limit, and one that fits 2 rows a statement
def test_rows_of_any_count_are_written_in_order_whatever_the_rows_per_statement(engine, limit):
    want = rows(BATCH + 237)  # a whole batch, then 2 full statements of 100 rows and one of 37
    statements = []  # (rows per statement, executemany)
    event.listen(engine, "before_cursor_execute",
                 lambda c, cur, sql, params, ctx, many: statements.append((sql.count("(?"), many)) if sql.startswith("INSERT") else None)
    with session_scope(engine) as s:
        if limit is not None:
            s.connection().connection.dbapi_connection.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, limit)
        assert insert_rows(s, Match.__table__, COLS, iter(want), constants=CONST) == len(want)
    assert stored(engine) == want
    per = 100 if limit is None else 2  # (25 variables - the 2 constants) // 10 columns
    assert statements == [(per, True), (per, True), (237 % per, False)]


def test_a_failed_write_is_raised_in_the_job_and_nothing_of_its_transaction_is_kept(engine):
    with session_scope(engine) as s:
        insert_rows(s, Match.__table__, COLS, rows(10, "old"), constants=CONST)

    def clear(s) -> None:
        s.execute(Match.__table__.delete())

    batch = rows(50)
    with pytest.raises(IntegrityError):
        with BackgroundWrite(engine, start=clear) as w:
            w.put(Match.__table__, COLS, batch, CONST)
            w.put(Match.__table__, COLS, batch[:1], CONST)  # the same SME and notice again: unique key
            for _ in range(20):  # the caller goes on and is told at a later put or at finish, never left blocked
                w.put(Match.__table__, COLS, batch, CONST)
            w.finish()
    assert stored(engine) == rows(10, "old")


def test_an_error_in_the_job_while_it_writes_rolls_the_whole_write_back(engine):
    with session_scope(engine) as s:
        insert_rows(s, Match.__table__, COLS, rows(10, "old"), constants=CONST)
    with pytest.raises(RuntimeError, match="explaining failed"):
        with BackgroundWrite(engine, start=lambda s: s.execute(Match.__table__.delete())) as w:
            w.put(Match.__table__, COLS, rows(500), CONST)
            raise RuntimeError("explaining failed")
    assert stored(engine) == rows(10, "old")


def test_other_connections_see_the_earlier_rows_until_the_write_commits_then_only_the_new(engine):
    with session_scope(engine) as s:
        insert_rows(s, Match.__table__, COLS, rows(10, "old"), constants=CONST)
    with BackgroundWrite(engine, start=lambda s: s.execute(Match.__table__.delete())) as w:
        w.put(Match.__table__, COLS, rows(300), CONST)
        deadline = time.monotonic() + 30
        while not w.written and time.monotonic() < deadline:
            time.sleep(0.01)
        assert w.written == {"match": 300}  # deleted and inserted, not committed
        assert stored(engine) == rows(10, "old")
        assert w.finish() == {"match": 300}
    assert stored(engine) == rows(300)


def test_a_writer_that_failed_before_any_row_never_leaves_the_job_blocked_on_its_queue(engine):
    def broken(s) -> None:
        raise OSError("disk gone")

    outcome = []

    def job() -> None:
        try:
            with BackgroundWrite(engine, start=broken, depth=1) as w:
                for _ in range(100):
                    w.put(Match.__table__, COLS, rows(5), CONST)
                w.finish()
        except OSError as e:
            outcome.append(e)

    t = threading.Thread(target=job, daemon=True)
    t.start()
    t.join(30)
    assert not t.is_alive() and [str(e) for e in outcome] == ["disk gone"]
    assert stored(engine) == []


@pytest.mark.postgres
def test_rows_copied_into_postgresql_read_back_as_written_and_a_failed_write_keeps_nothing(pg_engine):
    from matcher.store.models import WeekOutcome

    odd = "tab\there, new\nline, back\\slash, 'quote', \"dq\", caf\u00e9, \\N, ,"
    want = rows(1000) + [("sme-odd", odd, 1, 0.5, 0.0, 0.0, 0.0, 0.5, 0.5, {"evidence": odd, "n": [1, None]})]
    with session_scope(pg_engine) as s:
        assert insert_rows(s, Match.__table__, COLS, iter(want), constants=CONST) == len(want)
        insert_rows(s, WeekOutcome.__table__, ("profile_id", "matched", "best_score", "best_notice_key", "error"),
                    [("sme-odd", 0, None, None, odd)], constants={"week": "2025-W06", "seen_until": STAMP,
                                                                  "created_at": STAMP})
    assert stored(pg_engine) == want
    with session_scope(pg_engine) as s:
        o = s.exec(select(WeekOutcome)).one()
    assert (o.best_score, o.error, o.seen_until.replace(tzinfo=UTC)) == (None, odd, STAMP)
    with pytest.raises(Exception, match="unique|duplicate"):
        with BackgroundWrite(pg_engine, start=lambda s: s.execute(Match.__table__.delete())) as w:
            w.put(Match.__table__, COLS, rows(10, "new"), CONST)
            w.put(Match.__table__, COLS, rows(10, "new")[:1], CONST)
            w.finish()
    assert stored(pg_engine) == want


@pytest.mark.postgres
def test_ids_over_postgresqls_parameter_limit_select_exactly_their_rows_in_one_statement(pg_engine):
    from sqlmodel import col

    from matcher.store.bulk import id_groups

    with session_scope(pg_engine) as s:
        insert_rows(s, Match.__table__, COLS, rows(3000), constants=CONST)
    wanted = [f"sme-{i:06d}" for i in range(0, 3000, 3)] + [f"nobody-{i}" for i in range(70_000)] + ["it's \"q\""]
    statements = []
    event.listen(pg_engine, "before_cursor_execute", lambda c, cur, sql, *a: statements.append(sql))
    with session_scope(pg_engine) as s:
        groups = id_groups(s, wanted)
        got = [pid for g in groups for pid in s.exec(select(Match.profile_id).where(col(Match.profile_id).in_(g)))]
        assert id_groups(s, []) == []
    assert len(groups) == len(statements) == 1
    assert sorted(got) == [f"sme-{i:06d}" for i in range(0, 3000, 3)]


def test_shared_rows_are_one_per_key_with_their_groups_values_and_the_constants(db_url):
    """insert_shared (one INSERT ... SELECT over json_each per group on SQLite, rows by COPY on PostgreSQL): each
    key of each group gets the group's values and the constants, keys with quotes and non-ASCII included."""
    from matcher.store import init_db, make_engine
    from matcher.store.bulk import insert_shared
    from matcher.store.models import WeekOutcome

    engine = make_engine(db_url)
    init_db(engine)
    keys = [f"sme-{i:05d}" for i in range(2500)] + ["o'brien \"ltd\"", "caf\u00e9"]
    groups = [((3, 0.81, "n-1", None, "a" * 32), keys[:1700]), ((0, None, None, "no regions", None), []),
              ((0, 0.12, "n-2", None, None), keys[1700:])]
    try:
        with session_scope(engine) as s:
            assert insert_shared(s, WeekOutcome.__table__, "profile_id", ("matched", "best_score", "best_notice_key",
                                 "error", "match_set"), iter(groups), {"week": "2025-W06", "seen_until": STAMP,
                                                                      "created_at": STAMP}) == len(keys)
        with session_scope(engine) as s:
            got = {o.profile_id: o for o in s.exec(select(WeekOutcome))}
        assert sorted(got) == sorted(keys)
        for values, members in groups:
            for k in members:
                o = got[k]
                assert (o.matched, o.best_score, o.best_notice_key, o.error, o.match_set) == values
                assert o.week == "2025-W06" and o.seen_until.replace(tzinfo=UTC) == STAMP == o.created_at.replace(tzinfo=UTC)
    finally:
        engine.dispose()
