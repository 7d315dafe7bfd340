"""Benchmark: Find a Tender, three busy days, polled without silent loss (sources.md 2.7, issue 8).

Run from the repo root:

    .venv/bin/python bench/bench_fts_poll.py                  # 3 days x 400 releases, limit 100, delay 10 s
    .venv/bin/python bench/bench_fts_poll.py --per-day 400 --days 3 --delay 10

The data are CONSTRUCTED busy days (matcher.replay.fts_busy: real bundled releases with new ids, ocids and
publication times; most in office hours; ~1 id in 60 residue; a cursor key out of step for 1 release in 40),
served by the loopback emulation of the live API. The poll runs with the shipped politeness delay, but the
client's sleeps are recorded instead of slept: the wall time printed at that delay is the measured time
(HTTP, parsing, store) plus the recorded sleeps, i.e. what the same poll takes against a portal that answers
as fast as the loopback server. 429s are not modelled here (at one request per 10 s the live limit, 12 in
2 minutes, is not reached). Printed beside the figures, measured in the same run:
- the anchor: the fewest requests any client needs, ceil(releases / limit) full pages (plus one by-id request
  per residue id for a client that proves completeness by id);
- the old way (6-hour windows following links.next, with `stages`): its requests and what it loses;
- a re-poll right after, which finds nothing new.
"""
from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402
from sqlmodel import Session, func, select  # noqa: E402

from matcher.config import SourceConfig  # noqa: E402
from matcher.ingest.poll import poll_source  # noqa: E402
from matcher.replay import start_replay  # noqa: E402
from matcher.replay.fts_busy import busy_days  # noqa: E402
from matcher.sources.find_a_tender import PACKAGES_PATH, FindATender, fts_time  # noqa: E402
from matcher.store import init_db, make_engine  # noqa: E402
from matcher.store.models import Notice, SourceRelease  # noqa: E402


class Clock(list):
    """The client's sleep: records each wait, sleeps none."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def old_way(url: str, since, until, limit: int) -> tuple[int, set]:  # noqa: ANN001
    """6-hour windows, `stages=planning,tender,award`, following links.next (what the client did before)."""
    requests, got = 0, set()
    start = since
    while start < until:
        end = min(start + timedelta(hours=6), until)
        nxt = (f"{url}{PACKAGES_PATH}?updatedFrom={fts_time(start)}&updatedTo={fts_time(end)}"
               f"&stages=planning,tender,award&limit={limit}")
        while nxt:
            package = httpx.get(nxt).json()
            requests += 1
            got |= {(r["ocid"], r["id"]) for r in package["releases"]}
            nxt = (package.get("links") or {}).get("next")
        start = end
    return requests, got


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--days", type=int, default=3)
    ap.add_argument("--per-day", type=int, default=400)
    ap.add_argument("--delay", type=float, default=10.0, help="politeness delay (the shipped config: 10 s)")
    ap.add_argument("--limit", type=int, default=100)
    args = ap.parse_args()

    data = busy_days(date(2026, 9, 14), days=args.days, per_day=args.per_day)  # a Monday
    residue = len(data.residue_404) + len(data.residue_empty)
    listed = len(data.releases)
    with start_replay(fts=data.fts_data()) as server, tempfile.TemporaryDirectory() as tmp:
        old_requests, old_got = old_way(server.url, data.since, data.until, args.limit)
        engine = make_engine(f"sqlite:///{tmp}/bench.db")
        init_db(engine)
        cfg = SourceConfig(base_url=server.base_url("find_a_tender"), delay_seconds=args.delay, window_hours=6,
                           page_size=args.limit, lookback_days=(data.until - data.since).total_seconds() / 86400)
        runs = []
        for label in ("poll", "re-poll"):
            clock = Clock()
            server.reset_counts()
            with FindATender(cfg, sleep=clock) as src:
                started = time.perf_counter()
                report = poll_source(engine, src, data.until)
                measured = time.perf_counter() - started
            listing = sum(n for p, n in server.requests.items() if p == PACKAGES_PATH)
            runs.append((label, report, measured, sum(clock), listing))
        with Session(engine) as s:
            held = set(s.exec(select(SourceRelease.ocid, SourceRelease.release_id)).all())
            notices = s.exec(select(func.count()).select_from(Notice)).one()
        engine.dispose()

    minimum = math.ceil(listed / args.limit)
    print(f"Find a Tender, {args.days} constructed busy days x {args.per_day} releases ({listed} releases incl. "
          f"{len(data.twin_ids)} ids given as two releases, {residue} residue ids), limit {args.limit}, "
          f"delay {args.delay:g} s")
    print(f"anchor: fewest requests possible = {minimum} full pages (+{residue} by-id for the residue = "
          f"{minimum + residue})")
    lost, dup = len(data.keys - held), len(held - data.keys)
    for label, r, measured, slept, listing in runs:
        print(f"{label:8s}: {r.requests:4d} requests ({listing} listing pages, {r.by_id_requests} by id), "
              f"{r.requests / minimum:.2f}x the anchor; wall at {args.delay:g} s delay {(measured + slept) / 60:6.1f} min "
              f"(measured {measured:.1f} s + sleeps {slept:.0f} s); new {r.inserted}, unchanged {r.unchanged}, "
              f"gaps open {r.gaps_open}, residue {r.residue}, parts by links.next {r.parts_walked}")
    print(f"store: {len(held)} releases held by (ocid, id) of {listed} listed: lost {lost}, not listed {dup}; "
          f"{notices} notices (one per ocid)")
    print(f"old way (6-hour windows, stages, links.next): {old_requests} requests, {len(old_got)} of {listed} "
          f"releases, lost {listed - len(old_got & data.keys)}")


if __name__ == "__main__":
    main()
