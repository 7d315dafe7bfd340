"""Benchmark: poll + normalise every recorded page of every source into an empty store, then poll again.

Run from the repo root:

    .venv/bin/python bench/bench_poll.py              # every source, 3 repeats (best wall time kept)
    .venv/bin/python bench/bench_poll.py --repeat 1 --source find_a_tender --source sell2wales

A loopback replay server (matcher.replay, no latency, no politeness delay) serves the bundled recordings.
Each source is polled over the spans that hold its recordings (SPANS; the watermark is cleared before
each span so the poll reads exactly that span), in registry.POLL_ORDER, into a fresh SQLite store: that is
the full poll (HTTP, JSON, normalise with text cleaning, cross-portal dedupe, upsert). Then the re-poll: the
scheduler's next poll after each span, an hour on, from the watermark the full poll left (next_polls). The
recordings hold nothing newer, so it finds nothing new and measures what each source must read again to
know that. Printed: wall time per source and in total, notices/s
(releases normalised and stored per second), requests, and the re-poll/full-poll ratios in requests and
in wall time, the peak Python heap of the full poll (tracemalloc, a separate run) and the process's peak RSS.
"""
from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
import tracemalloc
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlmodel import Session, delete  # noqa: E402

from matcher.config import SourceConfig  # noqa: E402
from matcher.ingest.poll import PollReport, poll_source  # noqa: E402
from matcher.store.models import Watermark  # noqa: E402
from matcher.replay import recording_now, start_replay  # noqa: E402
from matcher.sources.registry import POLL_ORDER, make_source  # noqa: E402
from matcher.store import init_db, make_engine  # noqa: E402

# (now, lookback_days) spans covering each source's recordings
SPANS: dict[str, list[tuple[datetime, float]]] = {
    "public_contracts_scotland": [(datetime(2019, 4, 30, 12, tzinfo=UTC), 40)],
    "sell2wales": [(datetime(2025, 2, 28, 12, tzinfo=UTC), 30)],
    "find_a_tender": [(datetime(2019, 5, 1, tzinfo=UTC), 35), (datetime(2025, 2, 23, tzinfo=UTC), 20)],
    "contracts_finder": [(datetime(2022, 5, 20, tzinfo=UTC), 2), (datetime(2022, 10, 23, tzinfo=UTC), 7),
                         (recording_now("contracts_finder"), 4), (datetime(2025, 3, 12, tzinfo=UTC), 2)],
    "digital_marketplace": [(recording_now("digital_marketplace"), 14)],
}
REPOLL_AFTER = timedelta(minutes=60)
OPTIONS = {"find_a_tender": {"window_hours": 6}, "contracts_finder": {"stages": ["planning", "tender", "award"]}}


@dataclass
class Run:
    seconds: float = 0.0
    records: int = 0
    requests: int = 0
    stored: int = 0

    def add(self, report: PollReport, seconds: float) -> None:
        if not report.ok:
            raise SystemExit(f"{report.source}: poll failed: {report.error}")
        self.seconds += seconds
        self.records += report.inserted + report.updated + report.merged + report.unchanged + report.quarantined
        self.requests += report.requests
        self.stored += report.inserted + report.updated + report.merged


def poll_all(engine, base_urls: dict[str, str], sources: list[str]) -> dict[str, Run]:  # noqa: ANN001
    runs: dict[str, Run] = {}
    for name in sources:
        cfg = SourceConfig(base_url=base_urls[name], delay_seconds=0, lookback_days=1, overlap_minutes=0,
                           **OPTIONS.get(name, {}))
        run = runs.setdefault(name, Run())
        with make_source(name, cfg) as src:
            for now, days in SPANS[name]:
                with Session(engine) as s:  # read exactly this span: start lookback_days before now
                    s.exec(delete(Watermark).where(Watermark.source == name))
                    s.commit()
                src.cfg = cfg.model_copy(update={"lookback_days": days})
                start = time.perf_counter()
                report = poll_source(engine, src, now)
                run.add(report, time.perf_counter() - start)
    return runs


def next_polls(engine, base_urls: dict[str, str], sources: list[str]) -> dict[str, Run]:  # noqa: ANN001
    """The scheduler's next poll after each span: from the watermark the full poll left (the span's end), an hour
    later (poll_every_minutes' default), with the shipped overlap. The recordings hold nothing newer, so it
    finds nothing new: what it costs is what the source must read again to know that."""
    runs: dict[str, Run] = {}
    for name in sources:
        cfg = SourceConfig(base_url=base_urls[name], delay_seconds=0, **OPTIONS.get(name, {}))
        run = runs.setdefault(name, Run())
        with make_source(name, cfg) as src:
            for now, _days in SPANS[name]:
                with Session(engine) as s:
                    s.merge(Watermark(source=name, position=now))
                    s.commit()
                start = time.perf_counter()
                report = poll_source(engine, src, now + REPOLL_AFTER)
                run.add(report, time.perf_counter() - start)
    return runs


def fresh_engine(folder: Path, name: str):  # noqa: ANN201
    engine = make_engine(f"sqlite:///{folder / name}.db")
    init_db(engine)
    return engine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="full polls to time (the best is kept)")
    parser.add_argument("--source", action="append", choices=list(POLL_ORDER), help="only these sources")
    args = parser.parse_args()
    sources = [s for s in POLL_ORDER if not args.source or s in args.source]
    with start_replay() as server, tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        base_urls = {name: server.base_url(name) for name in sources}
        poll_all(fresh_engine(folder, "warm"), base_urls, sources)  # imports, parser caches, file cache
        best: dict[str, Run] | None = None
        engine = None
        for i in range(args.repeat):
            engine = fresh_engine(folder, f"full{i}")
            runs = poll_all(engine, base_urls, sources)
            if best is None or sum(r.seconds for r in runs.values()) < sum(r.seconds for r in best.values()):
                best, kept = runs, engine
        again = next_polls(kept, base_urls, sources)
        tracemalloc.start()
        poll_all(fresh_engine(folder, "traced"), base_urls, sources)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()

    print(f"{'source':28} {'requests':>8} {'records':>8} {'stored':>7} {'full s':>8} {'notices/s':>10} "
          f"{'re-poll req':>11} {'req ratio':>9} {'re-poll s':>10} {'time ratio':>10}")
    for name in sources:
        full, rep = best[name], again[name]
        print(f"{name:28} {full.requests:8d} {full.records:8d} {full.stored:7d} {full.seconds:8.3f} "
              f"{full.records / full.seconds:10.0f} {rep.requests:11d} {rep.requests / full.requests:9.3f} "
              f"{rep.seconds:10.3f} {rep.seconds / full.seconds:10.3f}")
    total = sum(r.seconds for r in best.values())
    total_again = sum(r.seconds for r in again.values())
    records = sum(r.records for r in best.values())
    requests, requests_again = sum(r.requests for r in best.values()), sum(r.requests for r in again.values())
    print(f"{'all':28} {requests:8d} {records:8d} {sum(r.stored for r in best.values()):7d} "
          f"{total:8.3f} {records / total:10.0f} {requests_again:11d} {requests_again / requests:9.3f} "
          f"{total_again:10.3f} {total_again / total:10.3f}")
    print(f"re-poll finding nothing new: {sum(r.stored for r in again.values())} stored; "
          f"{requests_again / requests:.3f}x the full poll's requests, {total_again / total:.3f}x its wall time")
    print(f"peak Python heap during a full poll (tracemalloc): {peak / 2**20:.1f} MiB; "
          f"process peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
