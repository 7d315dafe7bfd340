"""Schema migrations: a store made by release 0.1.0 (tests/data/store-0.1.0.sqlite.gz, made by that release's
`matcher demo` plus a verdict, a quarantined record, a disabled and an unsubscribed SME) upgrades keeping every
row; the migrations build exactly the models' schema; a store that is not at this release's schema stops a
command with what to do, never a traceback."""
from __future__ import annotations

import gzip
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

import matcher.store.models as tables
from matcher.store import init_db, make_engine
from matcher.store.migrate import BASELINE, BASELINE_TABLES, SchemaError, current_revision, head_revision, upgrade

FIXTURE = Path(__file__).parent / "data" / "store-0.1.0.sqlite.gz"


def _old_store(tmp_path: Path) -> Path:
    path = tmp_path / "matcher.db"
    with gzip.open(FIXTURE) as src, path.open("wb") as dst:
        shutil.copyfileobj(src, dst)
    return path


def _rows(path: Path, columns: dict[str, list[str]] | None = None) -> dict[str, list[tuple]]:
    """Every row of every 0.1.0 table in the given columns (default: all of the table's), sorted."""
    conn = sqlite3.connect(path)
    try:
        out = {}
        for table in sorted(BASELINE_TABLES):
            cols = (columns or {}).get(table) or [r[1] for r in conn.execute(f'PRAGMA table_info("{table}")')]
            quoted = ", ".join(f'"{c}"' for c in cols)
            out[table] = sorted(conn.execute(f'SELECT {quoted} FROM "{table}"'), key=repr)
        return out
    finally:
        conn.close()


def _columns(path: Path) -> dict[str, list[str]]:
    conn = sqlite3.connect(path)
    try:
        return {t: [r[1] for r in conn.execute(f'PRAGMA table_info("{t}")')] for t in BASELINE_TABLES}
    finally:
        conn.close()


def _config(tmp_path: Path, url: str) -> Path:
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[database]\nurl = "{url}"\n[secrets]\nsecret_file = "key"\n')
    return cfg


def _matcher(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "matcher", *args, "--config", str(tmp_path / "config.toml")],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)


def test_the_fixture_is_a_0_1_0_store():
    """What the upgrade tests start from: every 0.1.0 table with rows, and no schema revision."""
    with gzip.open(FIXTURE) as f:
        assert f.read(16) == b"SQLite format 3\x00"


def test_db_upgrade_keeps_every_row_of_a_0_1_0_store(tmp_path):
    path = _old_store(tmp_path)
    columns = _columns(path)
    before = _rows(path)
    assert all(before[t] for t in BASELINE_TABLES), {t: len(r) for t, r in before.items()}
    assert current_revision(make_engine(f"sqlite:///{path}")) is None
    _config(tmp_path, f"sqlite:///{path}")

    done = _matcher(tmp_path, "db", "upgrade")
    assert done.returncode == 0, done.stderr
    assert f"to {head_revision()}" in done.stdout
    assert current_revision(make_engine(f"sqlite:///{path}")) == head_revision()
    assert _rows(path, columns) == before
    # and the upgraded store works: the commands read it
    listed = _matcher(tmp_path, "profiles", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert len(listed.stdout.splitlines()) == len(before["profile"])
    notices = _matcher(tmp_path, "notices", "list", "--json")  # rows from 0.1.0 read through today's model
    assert notices.returncode == 0, notices.stderr
    assert len(notices.stdout.splitlines()) == len(before["notice"])


def test_init_upgrades_an_old_store_too_and_a_second_run_changes_nothing(tmp_path):
    path = _old_store(tmp_path)
    columns = _columns(path)
    before = _rows(path)
    _config(tmp_path, f"sqlite:///{path}")
    first = _matcher(tmp_path, "init")
    assert first.returncode == 0, first.stderr
    assert "upgraded from" in first.stdout and "store ready" in first.stdout
    second = _matcher(tmp_path, "init")
    assert second.returncode == 0, second.stderr
    assert f"at revision {head_revision()}" in second.stdout
    assert _rows(path, columns) == before


def test_a_command_on_an_old_store_says_to_run_db_upgrade_without_a_traceback(tmp_path):
    path = _old_store(tmp_path)
    _config(tmp_path, f"sqlite:///{path}")
    done = _matcher(tmp_path, "notices", "list")
    assert done.returncode == 1
    assert "matcher db upgrade" in done.stderr and "Traceback" not in done.stderr
    assert current_revision(make_engine(f"sqlite:///{path}")) is None  # it did not migrate behind your back


def test_a_store_upgraded_by_a_newer_release_is_refused_clearly(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'matcher.db'}")
    init_db(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")
    with pytest.raises(SchemaError, match="newer release"):
        upgrade(engine)
    _config(tmp_path, f"sqlite:///{tmp_path / 'matcher.db'}")
    done = _matcher(tmp_path, "profiles", "list")
    assert done.returncode == 1 and "9999" in done.stderr and "newer release" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_new_store_is_created_at_this_releases_schema(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'new.db'}")
    assert upgrade(engine) == (None, head_revision())
    assert upgrade(engine) == (head_revision(), head_revision())


def test_the_migrations_have_one_head_and_start_at_the_baseline():
    from matcher.store.migrate import _script

    assert len(_script().get_heads()) == 1
    assert [r.revision for r in _script().walk_revisions()][-1] == BASELINE


def _model_differences(engine) -> list:
    assert tables.Notice  # the import registered the tables
    with engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), SQLModel.metadata)


def test_the_migrations_build_exactly_the_models_schema(tmp_path):
    """Fails whenever a model changes without a migration: run `matcher db revision -m "..."`."""
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    upgrade(engine)
    assert _model_differences(engine) == []


def test_the_migrations_build_the_models_indexes_with_their_conditions(tmp_path):
    """compare_metadata does not compare a partial index's WHERE: the index DDL of a migrated store and of one made
    from the models must be the same text (e.g. match's digest items index holds only rows in a digest)."""
    from sqlalchemy import create_engine

    def indexes(path: Path) -> dict[str, str]:
        conn = sqlite3.connect(path)
        try:
            return {name: " ".join(sql.replace('"', "").split()) for name, sql in
                    conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")}
        finally:
            conn.close()

    upgrade(make_engine(f"sqlite:///{tmp_path / 'migrated.db'}"))
    assert tables.Match
    SQLModel.metadata.create_all(create_engine(f"sqlite:///{tmp_path / 'models.db'}"))
    migrated, models = indexes(tmp_path / "migrated.db"), indexes(tmp_path / "models.db")
    assert migrated == models
    assert models["ix_match_digest_items"].endswith("WHERE digest_id IS NOT NULL")


@pytest.mark.postgres
def test_the_migrations_build_exactly_the_models_schema_on_postgres(pg_url):
    engine = make_engine(pg_url)
    try:
        upgrade(engine)
        assert _model_differences(engine) == []
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_a_0_1_0_store_on_postgres_upgrades_keeping_every_row(tmp_path, pg_url):
    """A 0.1.0 store on PostgreSQL (its tables as 0.1.0 made them, the fixture's rows copied in) upgrades."""
    from sqlalchemy import MetaData, Table, insert, select, text

    old = _old_store(tmp_path)
    source = make_engine(f"sqlite:///{old}")
    engine = make_engine(pg_url)
    try:
        upgrade(engine, BASELINE)  # the 0.1.0 tables, exactly
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE alembic_version"))  # 0.1.0 had no migrations
        old_meta = MetaData()
        old_meta.reflect(source)
        counts = {}
        with source.connect() as src, engine.begin() as dst:
            for table in sorted(BASELINE_TABLES):
                rows = [dict(r._mapping) for r in src.execute(select(old_meta.tables[table]))]
                counts[table] = len(rows)
                dst.execute(insert(Table(table, MetaData(), autoload_with=dst)), rows)
        assert upgrade(engine) == (None, head_revision())
        with engine.connect() as conn:
            for table, n in counts.items():
                assert conn.execute(text(f'SELECT count(*) FROM "{table}"')).scalar() == n, table
    finally:
        engine.dispose()


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_0012_moves_the_matches_no_digest_took_into_sets_and_keeps_the_digests_items(tmp_path, kind, request):
    """A store at 0011 with a week's matches as Match rows: two SMEs with the same list (one with a week outcome,
    one without), one item already in a digest. After 0012 the untaken ones are each SME's set, in rank order,
    shared; the digest's item is still a Match row; nothing else is left in match."""
    from sqlalchemy import text

    from matcher.store.match_sets import chosen_items
    from matcher.store.models import Match, MatchSet, WeekOutcome
    from sqlmodel import Session, select

    url = request.getfixturevalue("pg_url") if kind == "postgres" else f"sqlite:///{tmp_path / 'store.db'}"
    engine = make_engine(url)
    try:
        upgrade(engine, "0011")
        stamp = "2025-02-03 08:00:00"
        why = '{"summary": "Your grounds work fits.", "terms": ["grass cutting"]}'
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO digest (id, profile_id, week, state, item_count, attempts, unknown_outcomes, "
                              "created_at) VALUES (1, 'a', '2025-W06', 'sent', 1, 1, 0, :t)"), {"t": stamp})
            for pid, key, rank, score, digest in [("a", "parks", 1, 0.9, 1), ("a", "verges", 2, 0.8, None),
                                                  ("a", "hedges", 3, 0.7, None), ("b", "verges", 2, 0.8, None),
                                                  ("b", "hedges", 3, 0.7, None)]:
                conn.execute(text("INSERT INTO match (profile_id, notice_key, week, rank, dense, lexical, keyword, cpv, "
                                  "raw_score, score, explanation, digest_id, created_at) VALUES (:p, :k, '2025-W06', :r, "
                                  "0.5, 0.4, 0.3, 0.2, 0.45, :s, :e, :d, :t)"),
                             {"p": pid, "k": key, "r": rank, "s": score, "e": why, "d": digest, "t": stamp})
            conn.execute(text("INSERT INTO weekoutcome (profile_id, week, matched, best_score, best_notice_key, "
                              "created_at) VALUES ('a', '2025-W06', 3, 0.9, 'parks', :t)"), {"t": stamp})
        assert upgrade(engine) == ("0011", head_revision())
        with Session(engine) as s:
            sets = chosen_items(s, "2025-W06")
            assert [i["notice_key"] for i in sets["a"]] == ["verges", "hedges"] and sets["b"] == sets["a"]
            assert sets["a"][0]["explanation"] == {"summary": "Your grounds work fits.", "terms": ["grass cutting"]}
            assert (sets["a"][0]["dense"], sets["a"][0]["score"]) == (0.5, 0.8)
            assert len(s.exec(select(MatchSet)).all()) == 1
            assert [(m.profile_id, m.notice_key, m.digest_id) for m in s.exec(select(Match))] == [("a", "parks", 1)]
            a, b = s.get(WeekOutcome, ("a", "2025-W06")), s.get(WeekOutcome, ("b", "2025-W06"))
            assert (a.matched, a.best_notice_key) == (3, "parks")  # the outcome kept as it was, naming the set
            assert (b.matched, b.best_score, b.best_notice_key) == (2, 0.8, "verges")  # one made from the items
    finally:
        engine.dispose()
