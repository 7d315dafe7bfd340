"""The champions' week overview, computed ahead by one background thread in the web process, so that no champion's
request computes it.

A week's overview (a Snapshot) is its index and figures, the 12-week trend, the week navigation and every page of
SMEs and of those that got nothing, all read in ONE read transaction (SQLite: BEGIN; PostgreSQL: REPEATABLE READ),
labelled with the data fingerprint (desk_report.data_version) read first in that same transaction: a page never
mixes two states of the data. Every `every` seconds the thread
  1. asks a near-free change gate whether anything was committed since it last asked (SQLite: PRAGMA data_version
     on a connection of its own; PostgreSQL: the server's transaction snapshot), and only then reads the fingerprint;
  2. recomputes each watched week whose snapshot is of another fingerprint, older than MAX_AGE (a backstop for a
     change the fingerprint misses) or older than a write this process made (changed(): a champion's mark).
Watched: the current week, and up to MAX_WEEKS - 1 others asked for in the last KEEP_SECONDS (older ones are
dropped, so memory stays bounded). A snapshot is published once its index, figures and trend are read; its pages
follow, first those that requests wait for. A request takes the newest snapshot whose pages it needs are ready;
when none is (the first visit to a week, or right after this champion's own mark) it waits for the one computation
under way, never starting another.
"""
from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import count
from types import SimpleNamespace

from sqlalchemy.engine import Engine
from sqlmodel import Session

from matcher.web import champion
from matcher.web import overview as paged
from matcher.web.desk_report import data_version, explain_quiet, sent_counts, trend, trend_weeks

log = logging.getLogger(__name__)
CHECK_EVERY = 5.0  # seconds between looks for a change
MAX_WEEKS = 4
KEEP_SECONDS = 1800.0
MAX_AGE = 600.0
WAIT_SECONDS = 300.0  # a request waiting longer for a computation gets an error
_serials = count(1)


class OverviewUnavailable(RuntimeError):
    """The week's overview could not be computed (the store failed); the thread tries again."""


@dataclass(frozen=True)
class Page:
    rows: list  # SmeRow or QuietSme
    html: str  # what Warmer's `render` made of them (the desk: the table's rows, ready to show)


@dataclass(eq=False)
class Snapshot:
    week: str
    version: tuple  # the data fingerprint, read in the transaction everything below was read in
    generation: int  # how many of this process's writes (Warmer.changed) were made before it was read
    as_of: float  # time.time() when its data were read
    index: paged.WeekIndex
    weeks: list[str]
    trend: list
    per_page: int
    smes: dict[int, Page] = field(default_factory=dict)  # page number -> page, filled in after publishing
    quiet: dict[int, Page] = field(default_factory=dict)
    done: bool = False
    serial: int = field(default_factory=lambda: next(_serials))

    def clamp(self, page: int, quiet: int) -> tuple[int, int]:
        return (min(page, paged.pages_in(self.index.smes, self.per_page)),
                min(quiet, paged.pages_in(self.index.quiet, self.per_page)))

    def todo(self) -> list[tuple[str, int]]:
        smes, quiet = paged.pages_in(self.index.smes, self.per_page), paged.pages_in(self.index.quiet, self.per_page)
        first = [("smes", 1), ("quiet", 1)]
        return first + [("smes", p) for p in range(2, smes + 1)] + [("quiet", p) for p in range(2, quiet + 1)]


class ChangeGate:
    """Whether anything was committed to the store since the last look, for the cost of one tiny query; True when
    it cannot tell (the first look, another database, an error)."""

    QUERIES = {"sqlite": "PRAGMA data_version", "postgresql": "SELECT pg_current_snapshot()::text"}

    def __init__(self, engine: Engine) -> None:
        self.engine, self._conn, self._last = engine, None, None

    def moved(self) -> bool:
        sql = self.QUERIES.get(self.engine.dialect.name)
        if sql is None:
            return True
        try:
            if self._conn is None:
                self._conn = self.engine.raw_connection()
                self._conn.detach()  # its own connection, not one of the pool's
            cursor = self._conn.cursor()
            cursor.execute(sql)
            value = cursor.fetchone()[0]
            cursor.close()
            self._conn.rollback()  # PostgreSQL: no transaction left open (SQLite opened none)
        except Exception as e:  # noqa: BLE001 - cannot tell: the fingerprint decides
            log.info("overview change gate: %s", type(e).__name__)
            self.close()
            return True
        moved, self._last = value != self._last, value
        return moved

    def close(self) -> None:
        conn, self._conn, self._last = self._conn, None, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # noqa: BLE001
                pass


class Warmer:
    def __init__(self, engine: Engine, current_week: Callable[[], str], tz: str, threshold: float,
                 per_page: int = 100, render: Callable[[str, Snapshot, list], str] | None = None,
                 every: float | None = None) -> None:
        """`render(kind, snapshot, rows)`: each page's rows made ready to show, once, beside them ('smes', 'quiet')."""
        self.engine, self.current_week, self.tz, self.threshold = engine, current_week, tz, threshold
        self.per_page, self.render, self.every = per_page, render, CHECK_EVERY if every is None else every
        self.computations = 0  # snapshots computed so far
        self._cond = threading.Condition()
        self._latest: dict[str, Snapshot] = {}  # the newest published per week (its pages perhaps still coming)
        self._done: dict[str, Snapshot] = {}  # the newest complete one per week
        self._asked: dict[str, float] = {}  # weeks other than the current one: when last asked for
        self._failed: dict[str, tuple[str, float]] = {}  # week -> why and when its last computation failed
        self._first: list[tuple[int, str, int]] = []  # (snapshot serial, kind, page) that requests wait for
        self._generation = 0
        self._by: dict[object, int] = {}  # viewer -> the generation of its latest change (a champion's id)
        self._version: tuple | None = None
        self._gate = ChangeGate(engine)
        self._wake, self._stop = threading.Event(), threading.Event()
        self._thread: threading.Thread | None = None
        self._failures = 0

    # requests' side
    def page(self, week: str, page: int, quiet: int, by: object = None) -> tuple[Snapshot, int, Page, int, Page]:
        """(snapshot, SME page number shown, that page, got-nothing page number shown, that page) for the week; a
        page past the end shows the last. Waits for the computation under way when nothing usable is ready, or
        when the snapshots predate a change `by` this viewer made (changed(by=...)); others meanwhile get them."""
        began = time.monotonic()
        with self._cond:
            if week != self.current_week() and week not in self._asked:
                self._wake.set()
            while True:
                if week != self.current_week():
                    self._asked[week] = time.monotonic()  # while it waits too: watched until it is served
                self._ensure_running()
                need = self._by.get(by, 0) if by is not None else 0
                usable = [s for s in (self._latest.get(week), self._done.get(week))
                          if s is not None and s.generation >= need]
                for snap in usable:
                    shown, quiet_shown = snap.clamp(page, quiet)
                    if shown in snap.smes and quiet_shown in snap.quiet:
                        return snap, shown, snap.smes[shown], quiet_shown, snap.quiet[quiet_shown]
                why, when = self._failed.get(week, ("", 0.0))
                if when >= began:  # the computation this request waited for failed
                    raise OverviewUnavailable(f"the overview of {week} could not be computed ({why})")
                if usable:  # being filled in: these pages first
                    shown, quiet_shown = usable[0].clamp(page, quiet)
                    for wanted in ((usable[0].serial, "smes", shown), (usable[0].serial, "quiet", quiet_shown)):
                        if wanted not in self._first:
                            self._first.append(wanted)
                else:  # a week not computed yet, or computed before this viewer's own change
                    self._wake.set()
                left = began + WAIT_SECONDS - time.monotonic()
                if left <= 0:
                    raise OverviewUnavailable(f"the overview of {week} took over {WAIT_SECONDS:.0f} s to compute")
                self._cond.wait(min(left, 1.0))

    def kept(self) -> list[str]:
        """The weeks whose overview is kept ready, the current one first."""
        with self._cond:
            return sorted(set(self._latest) | set(self._done), key=lambda w: (w != self.current_week(), w))

    def changed(self, by: object = None) -> None:
        """This process changed what the overview shows (a champion's mark): computed again at once, and `by`'s
        requests from now on wait for it."""
        with self._cond:
            self._generation += 1
            if by is not None:
                self._by[by] = self._generation
        self._wake.set()

    # lifetime
    def start(self) -> None:
        with self._cond:
            self._ensure_running()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self._gate.close()

    def _ensure_running(self) -> None:  # under self._cond
        if self._stop.is_set():
            raise OverviewUnavailable("the web process is stopping")
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=_run, args=(weakref.ref(self), self._wake, self._stop),
                                            name="overview-warmer", daemon=True)
            self._thread.start()

    # the thread's side
    def tick(self) -> float:
        """One round: recompute every watched week that is out of date; the seconds to wait before the next."""
        now_week = self.current_week()
        with self._cond:
            recent = time.monotonic() - KEEP_SECONDS
            others = sorted((w for w, t in self._asked.items() if t >= recent and w != now_week),
                            key=lambda w: -self._asked[w])[:MAX_WEEKS - 1]
            watched = [now_week, *others]
            for table in (self._asked, self._latest, self._done, self._failed):
                for w in [w for w in table if w not in watched]:
                    del table[w]
            generation = self._generation
        took = 0.0
        try:
            if self._gate.moved() or self._version is None:
                self._version = None
                with self._read() as s:
                    self._version = data_version(s)
            for week in watched:
                snap = self._latest.get(week)
                if (snap is None or snap.version != self._version or snap.generation < generation
                        or time.time() - snap.as_of > MAX_AGE):
                    started = time.monotonic()
                    self._compute(week, generation)
                    took += time.monotonic() - started
        except Exception as e:
            with self._cond:
                for week in watched:  # a half-filled snapshot is withdrawn; requests waiting are told
                    if week in self._latest and not self._latest[week].done:
                        self._latest.pop(week)
                        if week in self._done:
                            self._latest[week] = self._done[week]
                    self._failed[week] = (type(e).__name__, time.monotonic())
                self._first.clear()
                self._cond.notify_all()
            raise
        return max(self.every, 2 * took)  # a store that keeps changing costs this process a third of its time at most

    @contextmanager
    def _read(self) -> Iterator[Session]:
        """A session all of whose reads see one state of the data."""
        with self.engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
            elif conn.dialect.name == "sqlite":
                conn.exec_driver_sql("BEGIN")  # pysqlite opens none for reads: each would see the latest commit
            with Session(bind=conn) as s:
                yield s
            conn.rollback()

    def _compute(self, week: str, generation: int) -> None:
        with self._read() as s:
            version, as_of = data_version(s), time.time()
            counted = sent_counts(s, trend_weeks(week, 12), served_in=week)  # once for the index and the trend
            index = paged.week_index(s, week, counts=counted[week])
            snap = Snapshot(week, version, generation, as_of, index, champion.recent_weeks(s),
                            trend(s, week, self.tz, 12, counted), self.per_page)
            with self._cond:
                self._latest[week] = snap
                self._failed.pop(week, None)
                self._cond.notify_all()
            todo = snap.todo()
            while todo:
                if self._stop.is_set():  # the server is stopping: it need not wait for the rest
                    raise OverviewUnavailable("the web process is stopping")
                kind, page = self._next(snap, todo)
                rows = self._rows(s, snap, kind, page)
                made = Page(rows, self.render(kind, snap, rows) if self.render else "")
                with self._cond:
                    getattr(snap, kind)[page] = made
                    self._cond.notify_all()
        with self._cond:
            snap.done = True
            self._done[week] = snap
            self._first = [f for f in self._first if f[0] != snap.serial]
            self.computations += 1
            self._cond.notify_all()
        self._version = version

    def _next(self, snap: Snapshot, todo: list[tuple[str, int]]) -> tuple[str, int]:
        with self._cond:
            wanted = next((w for w in self._first if w[0] == snap.serial and (w[1], w[2]) in todo), None)
            chosen = (wanted[1], wanted[2]) if wanted else todo[0]
        todo.remove(chosen)
        return chosen

    def _rows(self, s: Session, snap: Snapshot, kind: str, page: int) -> list:
        entries = paged.page_of(snap.index.smes if kind == "smes" else snap.index.quiet, page, self.per_page)
        if kind == "smes":
            return paged.sme_rows(s, entries)
        quiet = paged.quiet_rows(s, snap.index, entries)
        explain_quiet(s, SimpleNamespace(week=snap.week, got_nothing=quiet), self.threshold)
        return quiet


def _run(ref: weakref.ref, wake: threading.Event, stop: threading.Event) -> None:
    """The thread: rounds until stopped or until its Warmer is gone (an app dropped without a shutdown)."""
    pause = 0.0
    while not stop.is_set():
        wake.wait(pause)
        wake.clear()
        warmer = ref()
        if warmer is None or stop.is_set():
            return
        try:
            pause = warmer.tick()
            warmer._failures = 0
        except Exception as e:  # noqa: BLE001 - the store failed: said once a streak, tried again later
            warmer._failures += 1
            if warmer._failures == 1:
                log.warning("champions' overview not computed ahead: %s: %s", type(e).__name__, e)
            pause = min(60.0, warmer.every * 2 ** warmer._failures)
        del warmer
