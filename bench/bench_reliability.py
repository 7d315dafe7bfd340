"""Benchmark: the delivery guarantee at scale. 2,000 digests to a local SMTP server that drops connections at
random points; runs are repeated (as the scheduler's retry job would) until nothing is pending.

Run from the repo root:

    .venv/bin/python bench/bench_reliability.py                       # 2,000 digests, 3% drops at RCPT, 2% holding
    .venv/bin/python bench/bench_reliability.py --digests 500 --drop-rcpt 0.1 --drop-holding 0.05

The server (bench/smtp_sink.py, aiosmtpd in its own process) records every copy it accepts. It drops the
connection at a RCPT (nothing handed over) with probability --drop-rcpt, and after accepting a message but before
answering 250 (delivered, but the sender cannot know: an unknown outcome) with probability --drop-holding.
It prints, per recipient counted at the server: sent (exactly one copy), lost (no copy), duplicated (more than
one), the unknown outcomes the store counted, runs needed and wall time; beside the anchor measured in the same
run: the same digests sent to a server that drops nothing.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from smtp_sink import NOW, Sink, bench_config, copy_store, make_store  # noqa: E402


def send_until_done(folder: Path, seed: Path, name: str, sink: Sink, max_runs: int, **delivery) -> dict:  # noqa: ANN003
    from sqlalchemy import func
    from sqlmodel import select

    from matcher.deliver.send import deliver_digests
    from matcher.store import make_engine, session_scope
    from matcher.store.models import Digest

    db = copy_store(seed, folder, name)
    cfg = bench_config(folder, db, sink.port, **delivery)
    engine = make_engine(cfg.database_url())
    runs, stopped = 0, []
    t0 = time.perf_counter()
    for runs in range(1, max_runs + 1):
        with session_scope(engine) as s:
            result = deliver_digests(s, cfg, NOW + timedelta(minutes=runs))
        if result.stopped:
            stopped.append(result.stopped)
        with session_scope(engine) as s:
            pending = s.exec(select(func.count()).select_from(Digest).where(Digest.state.in_(("created", "failed", "sending")))).one()
        if not pending:
            break
    wall = time.perf_counter() - t0
    with session_scope(engine) as s:
        digests = list(s.exec(select(Digest).where(Digest.state != "empty")))
    engine.dispose()
    return {"wall": wall, "runs": runs, "digests": digests, "stopped": stopped, "pending": pending}


def tally(result: dict, copies: dict[tuple[str, str], int]) -> dict:
    per_recipient: dict[str, int] = {}
    for (rcpt, _), n in copies.items():
        per_recipient[rcpt] = per_recipient.get(rcpt, 0) + n
    expected = [f"sme{int(d.profile_id.split('-')[1])}@bench.example.org" for d in result["digests"]]
    got = [per_recipient.get(r, 0) for r in expected]
    unknown = sum(d.unknown_outcomes for d in result["digests"])
    dup_digests = {d.profile_id for d in result["digests"] if per_recipient.get(
        f"sme{int(d.profile_id.split('-')[1])}@bench.example.org", 0) > 1}
    unexplained = {d.profile_id for d in result["digests"] if d.profile_id in dup_digests and not d.unknown_outcomes}
    return {"digests": len(expected), "once": sum(1 for g in got if g == 1), "lost": sum(1 for g in got if g == 0),
            "duplicated": sum(1 for g in got if g > 1), "extra_copies": sum(g - 1 for g in got if g > 1),
            "unknown": unknown, "unexplained": len(unexplained),
            "states": {s: sum(1 for d in result["digests"] if d.state == s) for s in {d.state for d in result["digests"]}}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--digests", type=int, default=2000)
    ap.add_argument("--drop-rcpt", type=float, default=0.03)
    ap.add_argument("--drop-holding", type=float, default=0.02)
    ap.add_argument("--connections", type=int, default=4)
    ap.add_argument("--max-runs", type=int, default=20)
    args = ap.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-reliability-"))
    delivery = {"connections": args.connections, "breaker_failures": 1000, "data_timeout_seconds": 10,
                "timeout_seconds": 10, "lease_seconds": 600}
    try:
        t = time.perf_counter()
        seed = make_store(folder, args.digests)
        print(f"store: {args.digests} SMEs, digests built (seeded in {time.perf_counter() - t:.1f} s, not timed)")
        with Sink(folder) as clean:
            anchor = send_until_done(folder, seed, "anchor.db", clean, args.max_runs, **delivery)
            anchor_t = tally(anchor, clean.copies())
        with Sink(folder, args.drop_rcpt, args.drop_holding, seed=7) as faulty:
            run = send_until_done(folder, seed, "faulty.db", faulty, args.max_runs, **delivery)
            t_ = tally(run, faulty.copies())
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(f"relay dropping connections: {args.drop_rcpt:.0%} at RCPT, {args.drop_holding:.0%} holding a message "
          f"(delivered, never answered); {args.connections} connections")
    print(f"  digests {t_['digests']}: sent once {t_['once']}, lost {t_['lost']}, duplicated {t_['duplicated']} "
          f"({t_['extra_copies']} extra copies), unknown outcomes counted {t_['unknown']}, duplicates without an "
          f"unknown outcome {t_['unexplained']}")
    print(f"  {run['runs']} run(s), {run['pending']} still pending, wall {run['wall']:.1f} s; states {t_['states']}")
    print(f"anchor, same digests to a relay that drops nothing: sent once {anchor_t['once']}, lost {anchor_t['lost']}, "
          f"duplicated {anchor_t['duplicated']}, {anchor['runs']} run(s), wall {anchor['wall']:.1f} s")


if __name__ == "__main__":
    main()
