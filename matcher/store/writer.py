"""One bulk write in one transaction on its own thread, so the caller makes the next rows while the last are written.

The match job hands its rows over in batches (`put`); a single writer thread inserts them (store/bulk.insert_rows)
in one transaction that `start` opens (the week's deletes), and `finish` commits. SQLite and the PostgreSQL
driver release the GIL while a statement runs, so the caller's scoring and explaining go on meanwhile.

- Atomic as one session: nothing is visible to other connections until `finish` commits; leaving the block any
  other way (an error in the caller, a failed write) rolls the whole transaction back.
- Bounded: at most `depth` batches wait in the queue; `put` blocks until the writer catches up.
- Errors surface: an error in the writer is raised in the caller, by the next `put` or by `finish` (the original
  exception, with its traceback); the writer then drops what is still queued.
- The caller must not write to the store through another connection while the block is open: on SQLite it would
  wait for this transaction's lock (embed through the vector cache before, as match_week does).
"""
from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.engine import Engine
from sqlmodel import Session

from matcher.store.bulk import insert_rows, write_cache

_COMMIT, _ABORT = object(), object()


class BackgroundWrite:
    def __init__(self, engine: Engine, start: Callable[[Session], None] | None = None, depth: int = 2) -> None:
        self.engine = engine
        self.start = start
        self.written: dict[str, int] = {}  # rows inserted per table name
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, depth))
        self._error: BaseException | None = None
        self._ended = False
        self._thread = threading.Thread(target=self._run, name="match-writer", daemon=True)

    def __enter__(self) -> BackgroundWrite:
        self._thread.start()
        return self

    def put(self, table: Table, columns: Sequence[str], rows: Iterable[tuple],
            constants: Mapping[str, Any] | None = None) -> None:
        """Queue rows for insert_rows(table, columns, rows, constants); raises the writer's error if it failed."""
        self.call(insert_rows, table, columns, rows, constants)

    def call(self, insert: Callable[..., int], table: Table, *args: Any) -> None:
        """Queue insert(session, table, *args) -> rows inserted (insert_rows, bulk.insert_shared); raises the
        writer's error if it failed."""
        self._raise()
        self._queue.put((insert, table, args))

    def finish(self) -> dict[str, int]:
        """Write what is queued and commit; returns the rows written per table, or raises the writer's error."""
        self._end(_COMMIT)
        self._raise()
        return self.written

    def __exit__(self, kind, exc, tb) -> None:  # noqa: ANN001
        if not self._ended:
            self._end(_ABORT)  # the caller failed (or never finished): nothing of this transaction is kept
            if kind is None:
                self._raise()

    def _end(self, sentinel: object) -> None:
        self._ended = True
        self._queue.put(sentinel)  # the writer takes everything until a sentinel, even after an error
        self._thread.join()

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        item: Any = None
        try:
            with Session(self.engine, expire_on_commit=False) as s:
                with write_cache(s):
                    if self.start is not None:
                        self.start(s)
                    while (item := self._queue.get()) not in (_COMMIT, _ABORT):
                        insert, table, args = item
                        n = insert(s, table, *args)
                        self.written[table.name] = self.written.get(table.name, 0) + n
                if item is _COMMIT:
                    s.commit()
                else:
                    s.rollback()
        except BaseException as e:  # noqa: BLE001 - handed to the caller, raised there
            self._error = e
            while item not in (_COMMIT, _ABORT):  # take what is queued until the end: a caller blocked on a full
                item = self._queue.get()          # queue goes on, and learns of the error at its next call
