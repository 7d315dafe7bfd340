"""Benchmark: delivery at scale. N digests (10,000 by default) to a local aiosmtpd sink (its own process), with the
sent-once guarantee on (leases, handover marks, batched claims, several connections), beside the anchor measured
in the same run: a bare aiosmtplib loop handing the same number of messages of the same size to the same sink
over one connection (no store, no composing).

    .venv/bin/python bench/bench_delivery.py --digests 10000          # also: bench/bench_scale.py --digests 10000
    .venv/bin/python bench/bench_delivery.py --digests 2000 --connections 8

Prints the job's wall time (claim + compose + send + record), messages a second, the CPU time composing takes
(measured alone afterwards, the way the job composes: batches of claimed digests; in the job it runs in
delivery.compose_workers processes beside the sender), the ratio to the bare loop and the machine's load; and
checks every recipient got exactly one copy.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from smtp_sink import NOW, Sink, bench_config, copy_store, make_store  # noqa: E402


async def bare_loop(port: int, count: int, data: bytes) -> float:
    import aiosmtplib

    smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, local_hostname="bench.local")
    await smtp.connect()
    t = time.perf_counter()
    for i in range(count):
        await smtp.sendmail("alerts@matcher.example.org", [f"bare{i}@bench.example.org"],
                            data.replace(b"Message-ID: <", f"Message-ID: <bare{i}.".encode(), 1))
    elapsed = time.perf_counter() - t
    await smtp.quit()
    return elapsed


def run(digests: int, connections: int, compose_workers: int = 1) -> None:
    from matcher.deliver.send import deliver_digests
    from matcher.store import make_engine, session_scope

    folder = Path(tempfile.mkdtemp(prefix="bench-delivery-"))
    try:
        t = time.perf_counter()
        seed = make_store(folder, digests)
        print(f"store: {digests} digests built (seeded in {time.perf_counter() - t:.1f} s, not timed)")
        with Sink(folder) as sink:
            db = copy_store(seed, folder, "run.db")
            cfg = bench_config(folder, db, sink.port, connections=connections, compose_workers=compose_workers)
            engine = make_engine(cfg.database_url())
            t0 = time.perf_counter()
            with session_scope(engine) as s:
                result = deliver_digests(s, cfg, NOW)
            job = time.perf_counter() - t0
            engine.dispose()
            copies = sink.copies()
            sample = (folder / "sample.eml")
            from sqlmodel import select

            from matcher.deliver.tokens import LinkSigner
            from matcher.digest.batch import Composer
            from matcher.digest.render import template_env
            from matcher.store.models import Digest

            engine = make_engine(cfg.database_url())
            composer = Composer(cfg, NOW, template_env(), LinkSigner.from_config(cfg))
            with session_scope(engine) as s:  # as the job composes: batches of claimed digests
                ids = list(s.exec(select(Digest.id).where(Digest.state == "sent").order_by(Digest.id).limit(400)))
                tc = time.perf_counter()
                messages = [c.data for i in range(0, len(ids), 8) for c in composer.compose(s, ids[i:i + 8])]
                per_compose = (time.perf_counter() - tc) / max(len(ids), 1)
            engine.dispose()
            sample.write_bytes(messages[0])
            bare = asyncio.run(bare_loop(sink.port, digests, messages[0]))
        per = {}
        for (rcpt, _), n in copies.items():
            if rcpt.startswith("sme"):
                per[rcpt] = per.get(rcpt, 0) + n
        once = sum(1 for n in per.values() if n == 1)
        print(f"delivery job: {result.outcomes.get('sent', 0)} sent in {job:.1f} s = {result.outcomes.get('sent', 0) / job:.0f} "
              f"messages/s over {connections} connections; {once} recipients got exactly one copy, "
              f"{sum(1 for n in per.values() if n > 1)} more than one; stopped early: {result.stopped or 'no'}")
        print(f"  composing alone: {1000 * per_compose:.1f} ms per digest ({per_compose * digests:.1f} s of CPU; "
              f"delivery.compose_workers = {cfg.delivery.compose_workers} process(es) beside the sender), "
              f"{len(messages[0]) / 1024:.1f} KiB per message")
        print(f"anchor, bare aiosmtplib loop (one connection, same sink, same size): {digests} in {bare:.1f} s = "
              f"{digests / bare:.0f} messages/s; job / anchor = {job / bare:.2f}x")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    from matcher.config import DeliveryConfig

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--digests", type=int, default=10000)
    ap.add_argument("--connections", type=int, default=DeliveryConfig().connections,
                    help="SMTP connections at once (default: delivery.connections's)")
    ap.add_argument("--compose-workers", type=int, default=1, help="delivery.compose_workers (0: the sender composes)")
    args = ap.parse_args()
    run(args.digests, args.connections, args.compose_workers)
    print(f"machine load (uptime): {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
