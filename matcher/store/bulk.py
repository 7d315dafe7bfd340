"""Bulk inserts of plain tuples: the match job writes hundreds of thousands of rows a week.

On SQLite the rows go to the driver's executemany as one prepared INSERT (inside the caller's transaction), each
column's SQLAlchemy bind processing (JSON, dates) applied once per distinct value object, so an explanation shared
by many SMEs is serialised once; floats bind as they are. Elsewhere (PostgreSQL) SQLAlchemy Core's insert() does it in batches."""
from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Float, Table, func, insert, select
from sqlmodel import Session

BATCH = 20_000  # rows per executemany
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
    deleted in 200 chunks took ~2.6 s each), and binds one value. Elsewhere lists of `chunk` ids."""
    if session.connection().dialect.name == "sqlite":
        return [select(func.json_each(json.dumps(list(ids))).table_valued("value").c.value)] if ids else []
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
    if dialect.name != "sqlite":
        for row in rows:
            batch.append(dict(zip(columns, row)) | const)
            if len(batch) >= BATCH:
                conn.execute(insert(table), batch)
                count, batch = count + len(batch), []
        if batch:
            conn.execute(insert(table), batch)
        return count + len(batch)
    names = [*columns, *const]
    quote = dialect.identifier_preparer
    sql = (f"INSERT INTO {quote.format_table(table)} ({', '.join(quote.quote(c) for c in names)}) "
           f"VALUES ({', '.join('?' * len(names))})")

    def processor(c: str):
        return None if isinstance(table.c[c].type, Float) else table.c[c].type._cached_bind_processor(dialect)

    tail = tuple(v if v is None or (p := processor(c)) is None else p(v) for c, v in const.items())
    procs = [(k, p) for k, c in enumerate(columns) if (p := processor(c))]
    memo: dict[int, tuple[Any, Any]] = {}  # id -> (the value, kept alive so the id stays its own; its bound form)

    def bound(row: tuple) -> tuple:
        out = list(row)
        for k, proc in procs:
            v = row[k]
            if v is not None:
                hit = memo.get(id(v))
                if hit is None:
                    hit = memo[id(v)] = (v, proc(v))
                out[k] = hit[1]
        return (*out, *tail)

    for row in rows:
        batch.append(bound(row) if procs else row + tail)
        if len(batch) >= BATCH:
            conn.exec_driver_sql(sql, batch)
            count, batch = count + len(batch), []
    if batch:
        conn.exec_driver_sql(sql, batch)
    return count + len(batch)
