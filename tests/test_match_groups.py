"""SMEs that share their scoring inputs are ranked once (match/groups.py), profiles load for matching without a
pydantic validation per SME (store/profiles.matching_profiles), and the match rows go in as plain tuples
(store/bulk.py): each gives what the per-SME path gives."""
from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from sqlalchemy import text
from sqlmodel import select

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_match_scale import NOW, _as_table, _assert_same, _inputs  # noqa: E402

from matcher.config import MatchingConfig  # noqa: E402
from matcher.match import EVAL, LIVE, Verdicts, rank  # noqa: E402
from matcher.match.groups import groups_of, rank_distinct  # noqa: E402
from matcher.schema import ProfileSpec  # noqa: E402
from matcher.store import init_db, make_engine, session_scope  # noqa: E402
from matcher.store.bulk import insert_rows  # noqa: E402
from matcher.store.models import Match, Profile  # noqa: E402
from matcher.store.profiles import matching_profiles, save_profile  # noqa: E402


def _crowd():
    """The dev inputs, each profile also registered by two more SMEs in the same words (own ids, shared vectors)."""
    profiles, notices, pvecs, nvecs = _inputs()
    more_p, more_v = [], []
    for copy in (1, 2):
        for p, pv in zip(profiles, pvecs):
            more_p.append(p.model_copy(update={"id": f"{p.id}-copy{copy}", "email": f"c{copy}@example.org"}))
            more_v.append(pv)
    return profiles + more_p, notices, pvecs + more_v, nvecs


def test_each_distinct_profile_is_ranked_once_and_every_sme_gets_the_same_ranking_as_alone():
    profiles, notices, pvecs, nvecs = _crowd()
    reps, inverse = groups_of(profiles, pvecs, None)
    assert len(reps) * 3 <= len(profiles) + 3 and len(set(inverse.tolist())) == len(reps)
    for switches, min_score in ((LIVE, 0.05), (EVAL, 0.0)):
        cfg = MatchingConfig(chunk_size=7)
        want = rank(profiles, notices, pvecs, nvecs, cfg, NOW, switches, min_score=min_score)
        got = rank_distinct(profiles, notices, pvecs, nvecs, cfg, NOW, switches, min_score=min_score)
        _assert_same(_as_table(got), _as_table(want))  # float32 products in other chunks: equal within 1e-5
        assert [(r.matched, r.best.key if r.best else None) for r in got.rankings] == \
            [(r.matched, r.best.key if r.best else None) for r in want.rankings]
        assert got.inferred_cpv == want.inferred_cpv and want.inferred_cpv


def test_smes_with_verdicts_are_ranked_on_their_own_and_keep_asks_for_the_most_demanding_member():
    profiles, notices, pvecs, nvecs = _crowd()
    feedback = [None] * len(profiles)
    feedback[len(profiles) - 1] = Verdicts(nvecs[[3, 60]], nvecs[[9]], frozenset({notices[9].key}))
    keep = [2 + (i % 3) for i in range(len(profiles))]
    cfg = MatchingConfig(chunk_size=5)
    want = rank(profiles, notices, pvecs, nvecs, cfg, NOW, LIVE, min_score=0.05, feedback=feedback, keep=keep)
    got = rank_distinct(profiles, notices, pvecs, nvecs, cfg, NOW, LIVE, min_score=0.05, feedback=feedback, keep=keep)
    last, twin = got.rankings[-1], got.rankings[len(profiles) // 3 - 1]  # the SME with verdicts, and its look-alike
    assert [i.key for i in last.items] == [i.key for i in want.rankings[-1].items]
    assert last.items is not twin.items and notices[9].key not in [i.key for i in last.items]
    for a, b, k in zip(got.rankings, want.rankings, keep):
        assert len(a.items) >= k or len(a.items) == a.matched
        assert [i.key for i in a.items[:k]] == [i.key for i in b.items] and a.matched == b.matched
        assert a.excluded == b.excluded
        np.testing.assert_allclose([i.score for i in a.items[:k]], [i.score for i in b.items], atol=1e-5)


def test_progress_counts_smes_not_distinct_profiles():
    profiles, notices, pvecs, nvecs = _crowd()
    steps = []
    rank_distinct(profiles, notices, pvecs, nvecs, MatchingConfig(chunk_size=10), NOW, on_chunk=steps.append)
    assert sum(steps) == len(profiles) and len(steps) > 1


def _spec(pid: str, **kw) -> ProfileSpec:
    return ProfileSpec(id=pid, name=f"SME {pid}", email=f"{pid}@example.org",
                       capabilities=kw.pop("capabilities", "Grounds maintenance and tree surgery"), **kw)


def test_profiles_load_for_matching_as_saved_and_a_stored_row_that_no_longer_validates_is_named(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    init_db(engine)
    specs = [_spec("a", keywords=["tree surgery"], cpv=["77211400"], regions=["London"]),
             _spec("b", keywords=["tree surgery"], cpv=["77211400"], regions=["London"]),
             _spec("c", capabilities="Cyber security audits", exclude=["cleaning"], value_max=50_000, challenges=True),
             _spec("d", extra_emails=["also@example.org"]), _spec("e", regions=["Wales"]), _spec("off"),
             _spec("f", cadence="daily")]
    with session_scope(engine) as s:
        for p in specs:
            save_profile(s, p)
    with engine.begin() as c:  # rows stored before today's checks: a retired region name; a disabled SME
        c.execute(text("UPDATE profile SET regions = '[\"Atlantis\"]' WHERE id = 'e'"))
        c.execute(text("UPDATE profile SET enabled = 0 WHERE id = 'off'"))
    with session_scope(engine) as s:
        got, errors, elsewhere = matching_profiles(s, cadence="weekly")
        some, _, _ = matching_profiles(s, ["c", "a", "nobody"], "weekly")
        daily, _, _ = matching_profiles(s, cadence="daily")
    assert got == specs[:4] and elsewhere == [("f", "daily")] and daily == specs[-1:]
    assert errors == [("e", "regions: unknown region 'Atlantis': use an English region name, Wales, Scotland, "
                            "Northern Ireland or UK-wide")]
    assert [p.id for p in some] == ["a", "c"]
    assert got[0].keywords is got[1].keywords  # the same content is decoded and checked once, then shared


def test_bulk_rows_read_back_as_the_orm_writes_them(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    init_db(engine)
    why = {"summary": "fits", "terms": ["tree surgery"], "score": 0.5}
    stamp = datetime(2025, 2, 3, 8, 30, 15, 123456, tzinfo=UTC)
    cols = ("profile_id", "notice_key", "rank", "dense", "lexical", "keyword", "cpv", "raw_score", "score", "explanation")
    rows = [(f"sme-{i}", f"n-{k}", k + 1, 0.1 * k, 0.2, 0.3, 0.0, 0.4 + i, 0.9, why if k < 2 else {})
            for i in range(3) for k in range(3)]
    with session_scope(engine) as s:
        assert insert_rows(s, Match.__table__, cols, rows, constants={"week": "2025-W06", "created_at": stamp}) == 9
    with session_scope(engine) as s:
        stored = s.exec(select(Match).order_by(Match.profile_id, Match.rank)).all()
    assert [(m.profile_id, m.notice_key, m.rank, m.dense, m.lexical, m.keyword, m.cpv, m.raw_score, m.score,
             m.explanation) for m in stored] == rows
    assert all(m.week == "2025-W06" and m.digest_id is None for m in stored)
    assert {m.created_at.replace(tzinfo=UTC) for m in stored} == {stamp}
    assert np.isclose(stored[4].dense, 0.1)


def test_a_bulk_write_commits_under_a_large_page_cache_and_the_connection_gets_its_own_size_back(tmp_path):
    from matcher.store.bulk import WRITE_CACHE_MIB, write_cache

    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    init_db(engine)
    cols = ("profile_id", "notice_key", "rank", "dense", "lexical", "keyword", "cpv", "raw_score", "score", "explanation")
    rows = [(f"sme-{i}", "n", 1, 0.1, 0.2, 0.3, 0.0, 0.4, 0.9, {}) for i in range(5)]
    const = {"week": "2025-W06", "created_at": datetime(2025, 2, 3, tzinfo=UTC)}

    def cache_size(s) -> int:
        return s.connection().exec_driver_sql("PRAGMA cache_size").scalar()

    with session_scope(engine) as s:
        own = cache_size(s)
        with write_cache(s):
            assert cache_size(s) == -WRITE_CACHE_MIB * 1024 != own
            insert_rows(s, Match.__table__, cols, rows, constants=const)
        assert cache_size(s) == own
    try:
        with session_scope(engine) as s, write_cache(s):
            insert_rows(s, Match.__table__, cols, [("late", *rows[0][1:])], constants=const)
            raise RuntimeError("the job stops mid-write")
    except RuntimeError:
        pass
    with session_scope(engine) as s:
        assert cache_size(s) == own
        assert sorted(s.exec(select(Match.profile_id))) == [f"sme-{i}" for i in range(5)]  # committed; the failed one not


def test_the_match_job_pauses_the_cyclic_collector_only_while_it_runs_even_when_it_fails(tmp_path):
    import gc

    import pytest

    from matcher.config import config_from_dict
    from matcher.match_week import match_week

    cfg = config_from_dict({"database": {"url": f"sqlite:///{tmp_path / 'store.db'}"}}, base_dir=tmp_path)
    engine = make_engine(cfg.database.url)
    init_db(engine)
    seen = []
    from sqlalchemy import event

    event.listen(engine, "before_cursor_execute", lambda *a: seen.append(gc.isenabled()))
    assert gc.isenabled()
    match_week(cfg, engine, NOW)
    assert gc.isenabled() and seen and not any(seen)
    bare = make_engine(f"sqlite:///{tmp_path / 'no-tables.db'}")
    with pytest.raises(Exception):
        match_week(cfg, bare, NOW)
    assert gc.isenabled()
    gc.disable()
    try:
        match_week(cfg, engine, NOW)
        assert not gc.isenabled()  # left as it was found
    finally:
        gc.enable()


def test_ids_of_any_count_select_exactly_their_rows_in_one_statement_on_sqlite(tmp_path):
    from sqlalchemy import delete, event
    from sqlmodel import col

    from matcher.store.bulk import id_groups

    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    init_db(engine)
    cols = ("profile_id", "notice_key", "rank", "dense", "lexical", "keyword", "cpv", "raw_score", "score", "explanation")
    const = {"week": "2025-W06", "created_at": datetime(2025, 2, 3, tzinfo=UTC)}
    with session_scope(engine) as s:
        insert_rows(s, Match.__table__, cols, [(f"sme-{i:05d}", "n", 1, 0.1, 0.2, 0.3, 0.0, 0.4, 0.9, {}) for i in range(3000)],
                    constants=const)
    gone = [f"sme-{i:05d}" for i in range(0, 3000, 2)] + ["nobody", "it's \"quoted\""]
    deletes = []
    event.listen(engine, "before_cursor_execute",
                 lambda conn, cur, sql, *a: deletes.append(sql) if sql.startswith("DELETE") else None)
    with session_scope(engine) as s:
        groups = id_groups(s, gone, chunk=500)
        for group in groups:
            s.execute(delete(Match).where(Match.week == "2025-W06", col(Match.profile_id).in_(group)))
        assert id_groups(s, []) == []
    assert len(groups) == len(deletes) == 1
    with session_scope(engine) as s:
        assert sorted(s.exec(select(Match.profile_id))) == [f"sme-{i:05d}" for i in range(1, 3000, 2)]
