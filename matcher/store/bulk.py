"""Bulk inserts of plain tuples: the match job writes hundreds of thousands of rows a week.

On SQLite the rows go to the driver's executemany as prepared INSERTs of 100 rows each (inside the caller's transaction:
fewer bindings and statement steps a row than one row per INSERT), the constants bound once per statement, each
column's SQLAlchemy bind processing (JSON, dates) applied once per distinct value object, so an explanation shared
by many SMEs is serialised once; floats bind as they are. On PostgreSQL (psycopg) one COPY ... FROM STDIN streams them;
elsewhere SQLAlchemy Core's insert() does it in batches."""
from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from itertools import chain
from typing import Any

from sqlalchemy import ARRAY, JSON, Float, String, Table, func, insert, literal, select
from sqlmodel import Session

BATCH = 20_000  # rows per executemany
ROWS_PER_STATEMENT = 100  # SQLite: rows per INSERT ... VALUES (...), (...) (fewer bindings and steps a row)
WRITE_CACHE_MIB = 256  # SQLite page cache while a bulk write runs (the default is 2 MiB)


@contextmanager
def write_cache(session: Session, mib: int = WRITE_CACHE_MIB) -> Iterator[None]:
    """On SQLite, a larger page cache for this session's connection while a bulk write runs: the pages of the table
    and its indexes stay in memory until the commit writes each once, instead of spilling to the WAL and being
    written again as later rows change them (dirty pages stay in the cache until the commit, so the connection's own
    size is put back at the end of the block, while the session still holds the connection). Durability is
    unchanged: same journal mode, same synchronous. Elsewhere, nothing."""
    conn = session.connection()
    if conn.dialect.name != "sqlite":
        yield
        return
    raw = conn.connection.dbapi_connection  # usable even if the block fails mid-transaction
    before = raw.execute("PRAGMA cache_size").fetchone()[0]
    raw.execute(f"PRAGMA cache_size = -{int(mib) * 1024}")
    try:
        yield
    finally:
        raw.execute(f"PRAGMA cache_size = {int(before)}")


def id_groups(session: Session, ids: Sequence[str], chunk: int = 500) -> list[Any]:
    """`ids` as groups for `column.in_(group)`, one statement each. On SQLite, one group whatever the count: a
    subquery reading the ids as one JSON array (json_each), so a statement like "this week's unattached rows of
    these SMEs" scans the week's index once rather than once per chunk of ids (a re-run of a 100,000-SME week
    deleted in 200 chunks took ~2.6 s each), and binds one value. On PostgreSQL one group too, the ids bound as
    one text[] (unnest; under its 65,535-parameter limit whatever the count). Elsewhere lists of `chunk` ids."""
    dialect = session.connection().dialect
    if dialect.name == "sqlite":
        return [select(func.json_each(json.dumps(list(ids))).table_valued("value").c.value)] if ids else []
    if dialect.name == "postgresql":  # one array parameter, read by unnest (100,000 ids: 200 statements took ~3 s)
        return [select(func.unnest(literal(list(ids), ARRAY(String))))] if ids else []
    return [list(ids[start : start + chunk]) for start in range(0, len(ids), chunk)]


def insert_rows(session: Session, table: Table, columns: Sequence[str], rows: Iterable[tuple],
                constants: Mapping[str, Any] | None = None) -> int:
    """Insert `rows` (tuples of values in `columns` order), each followed by `constants` (the same values for every
    row, bound once); other columns take their defaults. Float columns take plain Python floats (not numpy
    scalars). Returns the count."""
    conn = session.connection()
    dialect = conn.dialect
    const = dict(constants or {})
    count, batch = 0, []
    if dialect.name == "postgresql" and dialect.driver == "psycopg":
        return _copy_rows(conn, table, columns, rows, const)
    if dialect.name != "sqlite":
        for row in rows:
            batch.append(dict(zip(columns, row)) | const)
            if len(batch) >= BATCH:
                conn.execute(insert(table), batch)
                count, batch = count + len(batch), []
        if batch:
            conn.execute(insert(table), batch)
        return count + len(batch)
    convert = {k: _memoised(p) for k, c in enumerate(columns) if (p := _processor(table, c, dialect)) is not None}
    tail = [v if v is None or (p := _processor(table, c, dialect)) is None else p(v) for c, v in const.items()]
    width = len(columns)
    per = max(1, min(ROWS_PER_STATEMENT, (_variable_limit(conn) - len(tail)) // max(width, 1)))
    statements: dict[int, str] = {}

    def flush(batch: list[tuple]) -> None:  # executemany of statements of `per` rows each, the rest in one
        whole = len(batch) - len(batch) % per
        groups = [batch[i:i + per] for i in range(0, whole, per)]
        if whole:
            conn.exec_driver_sql(_statement(statements, table, dialect, names, len(tail), width, per),
                                 [values(g) for g in groups])
        if whole < len(batch):
            conn.exec_driver_sql(_statement(statements, table, dialect, names, len(tail), width, len(batch) - whole),
                                 values(batch[whole:]))

    def values(group: list[tuple]) -> tuple:
        if not convert:
            return (*tail, *chain.from_iterable(group))
        out = [*tail, *chain.from_iterable(group)]
        for k, proc in convert.items():
            out[len(tail) + k::width] = map(proc, out[len(tail) + k::width])
        return tuple(out)

    names = [*columns, *const]
    for row in rows:
        batch.append(row)
        if len(batch) >= BATCH:
            flush(batch)
            count, batch = count + len(batch), []
    if batch:
        flush(batch)
    return count + len(batch)


def insert_shared(session: Session, table: Table, key: str, columns: Sequence[str],
                  groups: Iterable[tuple[Sequence[Any], Sequence[str]]], constants: Mapping[str, Any] | None = None) -> int:
    """Insert one row per key of each group: (values in `columns` order, the keys for column `key`), each row also
    taking `constants`. Many SMEs share one week outcome but for their id: on SQLite each group is one
    INSERT ... SELECT over the keys bound as one JSON array (json_each), so the rows are made inside SQLite, not
    bound value by value; elsewhere the rows go to insert_rows. Returns the count."""
    const = dict(constants or {})
    dialect = session.connection().dialect
    if dialect.name != "sqlite":
        return insert_rows(session, table, [key, *columns],
                           ((k, *values) for values, keys in groups for k in keys), const)
    conn = session.connection()
    names = [*columns, *const]
    procs = [_processor(table, c, dialect) for c in names]
    quote = dialect.identifier_preparer
    sql = (f"INSERT INTO {quote.format_table(table)} ({', '.join(quote.quote(c) for c in [key, *names])}) "
           f"SELECT value, {', '.join('?' for _ in names)} FROM json_each(?)")
    count = 0
    for values, keys in groups:
        if not keys:
            continue
        bound = [v if v is None or p is None else p(v) for v, p in zip([*values, *const.values()], procs)]
        conn.exec_driver_sql(sql, (*bound, json.dumps(list(keys))))
        count += len(keys)
    return count


def _copy_rows(conn: Any, table: Table, columns: Sequence[str], rows: Iterable[tuple], const: Mapping[str, Any]) -> int:
    """PostgreSQL through psycopg: the rows streamed by COPY ... FROM STDIN in the caller's transaction, each value
    as insert() would bind it (JSON serialised by the engine's serializer, once per distinct object)."""
    dialect = conn.dialect
    names = [*columns, *const]

    def proc(c: str) -> Any:
        kind = table.c[c].type
        if isinstance(kind, JSON):
            return dialect._json_serializer or json.dumps
        return _processor(table, c, dialect)

    tail = tuple(v if v is None or (p := proc(c)) is None else p(v) for c, v in const.items())
    convert = [(k, _memoised(p)) for k, c in enumerate(columns) if (p := proc(c)) is not None]
    quote = dialect.identifier_preparer
    sql = f"COPY {quote.format_table(table)} ({', '.join(quote.quote(c) for c in names)}) FROM STDIN"
    count = 0
    with conn.connection.dbapi_connection.cursor() as cur, cur.copy(sql) as copy:
        for row in rows:
            if convert:
                row = list(row)
                for k, p in convert:
                    row[k] = p(row[k])
            copy.write_row((*row, *tail))
            count += 1
    return count


def _processor(table: Table, column: str, dialect: Any) -> Any:
    """The column's SQLAlchemy bind processing (JSON, dates), or None; floats bind as they are."""
    kind = table.c[column].type
    return None if isinstance(kind, Float) else kind._cached_bind_processor(dialect)


def _memoised(proc: Any) -> Any:
    """`proc` applied once per distinct value object (an explanation shared by many SMEs is serialised once)."""
    memo: dict[int, tuple[Any, Any]] = {}  # id -> (the value, kept alive so the id stays its own; its bound form)

    def bound(v: Any) -> Any:
        if v is None:
            return None
        hit = memo.get(id(v))
        if hit is None:
            hit = memo[id(v)] = (v, proc(v))
        return hit[1]
    return bound


def _variable_limit(conn: Any) -> int:
    raw = conn.connection.dbapi_connection
    try:
        return raw.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    except (AttributeError, sqlite3.Error):  # getlimit is Python 3.11+; 999 is SQLite's smallest default
        return 999


def _statement(cache: dict[int, str], table: Table, dialect: Any, names: Sequence[str], lead: int, width: int,
               rows: int) -> str:
    """INSERT of `rows` rows in one statement, the constants numbered once (?1..?lead) and shared by every row."""
    if rows not in cache:
        quote = dialect.identifier_preparer
        shared = [f"?{i + 1}" for i in range(lead)]
        values = ", ".join("(" + ", ".join([*(f"?{lead + r * width + c + 1}" for c in range(width)), *shared]) + ")"
                           for r in range(rows))
        cache[rows] = (f"INSERT INTO {quote.format_table(table)} ({', '.join(quote.quote(c) for c in names)}) "
                       f"VALUES {values}")
    return cache[rows]
