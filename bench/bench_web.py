"""Benchmark: the champions' overview page under 16 concurrent clients, on SQLite and on PostgreSQL.

Run from the repo root:

    .venv/bin/python bench/bench_web.py                    # 2,000 and 10,000 SMEs, 16 clients, 320 requests, both stores
    .venv/bin/python bench/bench_web.py --smes 5000 --db sqlite

It seeds a store (not timed): N SMEs, each with this week's digest of 10 items over 500 notices (every 10th SME's
digest is empty, so the got-nothing list has rows), half of the items with a verdict, plus the 11 weeks before with
one item each (the page shows a 12-week trend); one champion. Then it starts `matcher serve` in its own process and
times one request for the cold first page (sent as soon as the server answers: it waits for the warm-up the server
began at start, matcher.web.warm, up to the week's index, figures, trend and page 1), then fetches the overview
(`/champion/{token}`, the current week) with `--clients` concurrent httpx clients, `--requests` in all, after one
warm-up request each: first all on the first page ("page 1", as champions open it), then walking through every page
of SMEs ("every page", `&page=1..N/100`: most pages are rendered for this champion for the first time during the
run). It prints the latency p50/p95/max and requests per second, beside the anchor measured
in the same run: the same clients fetching `/healthz` (the server's floor: a tiny page, a SELECT 1 and each
source's freshness). PostgreSQL is a throwaway cluster (tests/pgserver.py: Debian's postgresql binaries),
or MATCHER_TEST_PG_URL; its tables are ANALYZEd after seeding, as autovacuum does soon after a bulk write.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import httpx  # noqa: E402
from sqlalchemy import insert, text  # noqa: E402

from matcher import clock  # noqa: E402
from matcher.config import config_from_dict  # noqa: E402
from matcher.deliver.secrets import ensure_secret  # noqa: E402
from matcher.deliver.tokens import LinkSigner  # noqa: E402
from matcher.store import init_db, make_engine, session_scope  # noqa: E402
from matcher.store.champions import add_champion  # noqa: E402
from matcher.store.models import Digest, Feedback, Match, Notice, Profile  # noqa: E402


def seed(url: str, smes: int, notices: int = 500) -> None:
    rng = random.Random(5)
    engine = make_engine(url)
    init_db(engine)
    now = clock.utc_now()
    week = clock.week_of(now)
    weeks = [clock.week_of(now - timedelta(weeks=i)) for i in range(12)]
    notice_rows = [{"key": f"ocds-{i:06d}", "source": "contracts_finder", "title": f"Services lot {i}", "description": "",
                    "buyer": f"Council {i % 50}", "cpv": [], "regions": [], "sections": {}, "suppliers": [], "links": [],
                    "raw": {}, "lots": [], "closes_at": now + timedelta(days=20), "url": f"https://example.org/{i}",
                    "content_hash": f"{i:064d}", "first_seen": now, "last_seen": now} for i in range(notices)]
    profile_rows = [{"id": f"sme-{p:05d}", "name": f"SME {p} Ltd", "email": f"sme{p}@example.org",
                     "capabilities": "grounds maintenance", "keywords": [], "cpv": [], "regions": [], "exclude": [],
                     "enabled": True, "created_at": now, "updated_at": now} for p in range(smes)]
    with session_scope(engine) as s:
        s.execute(insert(Notice), notice_rows)
        s.execute(insert(Profile), profile_rows)
        def items(p: int, w: str) -> int:
            return (0 if p % 10 == 9 else 10) if w == week else 1

        digest_rows = [{"profile_id": f"sme-{p:05d}", "week": w, "state": "sent" if items(p, w) else "empty",
                        "item_count": items(p, w), "attempts": 1, "unknown_outcomes": 0, "created_at": now,
                        "sent_at": now if items(p, w) else None}
                       for p in range(smes) for w in weeks]
        ids = s.execute(insert(Digest).returning(Digest.id, Digest.profile_id, Digest.week), digest_rows).all()
        matches, feedback = [], []
        for did, pid, w in ids:
            for rank, n in enumerate(rng.sample(range(notices), items(int(pid[4:]), w))):
                matches.append({"profile_id": pid, "notice_key": f"ocds-{n:06d}", "week": w, "rank": rank, "score": 0.9 - rank / 20,
                                "dense": 0.5, "lexical": 0.2, "keyword": 0.1, "cpv": 0.0, "raw_score": 0.3,
                                "explanation": {"summary": "Matches your grounds work."}, "digest_id": did, "created_at": now})
                if w == week and rank % 2 == 0:
                    feedback.append({"profile_id": pid, "notice_key": f"ocds-{n:06d}", "verdict": "relevant", "via": "email",
                                     "created_at": now})
        s.execute(insert(Match), matches)
        s.execute(insert(Feedback), feedback)
        add_champion(s, "Bench Champion", "bench@council.example.org")
    if engine.dialect.name == "postgresql":  # as autovacuum does within a minute of a bulk write: without table
        with engine.begin() as c:  # statistics PostgreSQL plans the desk's joins badly (2.9 s instead of 0.65 s)
            c.execute(text("ANALYZE"))
    engine.dispose()


async def load(base: str, paths: list[str], clients: int, requests: int) -> tuple[list[float], float]:
    latencies: list[float] = []
    queue: asyncio.Queue = asyncio.Queue()
    for i in range(requests):
        queue.put_nowait(paths[i % len(paths)])
    path = paths[0]

    async def client() -> None:
        async with httpx.AsyncClient(base_url=base, timeout=60) as c:
            (await c.get(path)).raise_for_status()  # warm-up, not counted
            while not queue.empty():
                p = queue.get_nowait()
                t = time.perf_counter()
                r = await c.get(p)
                latencies.append(time.perf_counter() - t)
                r.raise_for_status()

    t0 = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return latencies, time.perf_counter() - t0


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else values[0]


def run(db: str, url: str, folder: Path, args: argparse.Namespace, smes: int) -> None:
    t = time.perf_counter()
    seed(url, smes)
    seeded = time.perf_counter() - t
    port = 18000 + random.randrange(1000)
    (folder / "config.toml").write_text(f'[database]\nurl = "{url}"\n[digest]\npublic_base_url = "http://127.0.0.1:{port}"\n'
                                        f'[secrets]\nsecret_env = "MATCHER_BENCH_SECRET_NOT_SET"\nsecret_file = "secret"\n')
    cfg = config_from_dict({"database": {"url": url}, "digest": {"public_base_url": f"http://127.0.0.1:{port}"},
                            "secrets": {"secret_env": "MATCHER_BENCH_SECRET_NOT_SET", "secret_file": str(folder / "secret")}},
                           base_dir=folder)
    ensure_secret(cfg)
    token_path = urlsplit(LinkSigner.from_config(cfg).champion_url(1)).path
    server = subprocess.Popen([sys.executable, "-m", "matcher", "serve", "--port", str(port), "--config", "config.toml"],
                              cwd=folder, stdout=subprocess.DEVNULL, stderr=(folder / "serve.log").open("w"),
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(base + "/healthz", timeout=2)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("matcher serve did not start")
                time.sleep(0.2)
        t = time.perf_counter()
        httpx.get(base + token_path, timeout=600).raise_for_status()
        cold = time.perf_counter() - t
        paths = [token_path] + [f"{token_path}?page={n}" for n in range(2, -(-smes // 100) + 1)]
        anchor, anchor_wall = asyncio.run(load(base, ["/healthz"], args.clients, args.requests))
        first, first_wall = asyncio.run(load(base, [token_path], args.clients, args.requests))
        page, page_wall = asyncio.run(load(base, paths, args.clients, args.requests))
    except Exception:
        print((folder / "serve.log").read_text()[-3000:], file=sys.stderr)
        raise
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    print(f"{db:10s} {smes} SMEs (seeded in {seeded:.0f} s), {args.clients} clients, {args.requests} requests"
          f" over {len(paths)} pages; cold first page {1000 * cold:.0f} ms; load {os.getloadavg()[0]:.1f}")
    for name, values, wall in (("page 1", first, first_wall), ("every page", page, page_wall)):
        print(f"  {name:10s} p50 {1000 * pct(values, 50):7.1f} ms  p95 {1000 * pct(values, 95):7.1f} ms  "
              f"max {1000 * max(values):7.1f} ms  {len(values) / wall:6.1f} req/s")
    print(f"  /healthz   p50 {1000 * pct(anchor, 50):7.1f} ms  p95 {1000 * pct(anchor, 95):7.1f} ms  max {1000 * max(anchor):7.1f} ms"
          f"  {len(anchor) / anchor_wall:6.1f} req/s  (anchor)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smes", type=int, nargs="+", default=[2000, 10000])
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--requests", type=int, default=320)
    ap.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    args = ap.parse_args()
    for smes in args.smes:
        if args.db in ("sqlite", "both"):
            folder = Path(tempfile.mkdtemp(prefix="bench-web-"))
            try:
                run("sqlite", f"sqlite:///{folder / 'store.db'}", folder, args, smes)
            finally:
                shutil.rmtree(folder, ignore_errors=True)
        if args.db in ("postgresql", "both"):
            from pgserver import fresh_schema_url, postgres_url

            from matcher.config import DatabaseConfig

            with postgres_url() as base:
                gen = fresh_schema_url(DatabaseConfig(url=base).url)
                url = next(gen)
                folder = Path(tempfile.mkdtemp(prefix="bench-web-"))
                try:
                    run("postgresql", url, folder, args, smes)
                finally:
                    shutil.rmtree(folder, ignore_errors=True)
                    next(gen, None)


if __name__ == "__main__":
    main()
