"""Benchmark: one weekly digest run for 1,000 SMEs over 500 notices (build + render + outbox write).

Run from the repo root:

    .venv/bin/python bench/bench_digest.py                    # 1,000 profiles x 500 notices, 20 matches each
    .venv/bin/python bench/bench_digest.py --profiles 200 --per-profile 10 --max-items 5

It makes a temp SQLite store with synthetic Notice and Profile rows and the week's matches (MatchSets; not timed), then runs
jobs.digest.digest_job in outbox mode twice on fresh copies of the store: once plain for wall time (build, and
deliver = compose + render + atomic .eml write), once under tracemalloc for peak Python heap. The process's
peak RSS (resource.getrusage ru_maxrss) is printed last. Nothing is written outside the temp folder.
"""
from __future__ import annotations

import argparse
import random
import resource
import shutil
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert  # noqa: E402

from jobs.digest import digest_job  # noqa: E402
from matcher import clock  # noqa: E402
from matcher.config import config_from_dict  # noqa: E402
from matcher.digest.build import build_digests  # noqa: E402
from matcher.deliver.send import deliver_digests  # noqa: E402
from matcher.store.match_sets import store_sets  # noqa: E402
from matcher.store.models import Notice, Profile  # noqa: E402
from matcher.deliver.secrets import ensure_secret  # noqa: E402
from matcher.store import init_db, make_engine, session_scope  # noqa: E402

NOW = datetime(2025, 1, 27, 8, 0, tzinfo=UTC)
WORDS = ("cleaning waste parks software cloud catering legal training housing roads security data audit "
         "consultancy transport energy health schools library repairs survey design maintenance").split()


def make_store(folder: Path, profiles: int, notices: int, per_profile: int, seed: int = 7) -> Path:
    rng = random.Random(seed)
    db = folder / "seed.db"
    engine = make_engine(f"sqlite:///{db}")
    init_db(engine)
    week = clock.week_of(NOW)
    notice_rows = [{
        "key": f"ocds-b5fd17-{i:06d}", "source": "contracts_finder",
        "title": f"{' '.join(rng.sample(WORDS, 3)).capitalize()} services for lot {i}", "description": "",
        "buyer": f"Council {i % 97}", "cpv": [], "regions": [], "sections": {}, "suppliers": [], "links": [], "raw": {},
        "value_min": float(rng.randrange(10, 500) * 1000), "value_max": float(rng.randrange(500, 2000) * 1000),
        "currency": "GBP", "closes_at": NOW + timedelta(days=rng.randrange(2, 60)),
        "url": f"https://www.contractsfinder.service.gov.uk/notice/{i}", "sme_suitable": rng.random() < 0.6,
        "content_hash": f"{i:064d}", "first_seen": NOW, "last_seen": NOW,
    } for i in range(notices)]
    profile_rows = [{
        "id": f"sme-{p:05d}", "name": f"SME {p} Ltd", "email": f"sme{p}@example.org",
        "capabilities": " ".join(rng.sample(WORDS, 5)), "keywords": [], "cpv": [], "regions": [], "exclude": [],
        "enabled": True, "created_at": NOW, "updated_at": NOW,
    } for p in range(profiles)]
    lists = {}
    for p in range(profiles):
        lists[f"sme-{p:05d}"] = items = []
        for rank, n in enumerate(rng.sample(range(notices), per_profile)):
            w = [rng.random() for _ in range(4)]
            items.append({
                "notice_key": f"ocds-b5fd17-{n:06d}", "rank": rank,
                "dense": w[0], "lexical": w[1], "keyword": w[2], "cpv": w[3], "raw_score": sum(w) / 4,
                "score": round(1 - rank / (per_profile * 1.5), 4),
                "explanation": {"summary": "Your profile mentions the main services this notice buys.",
                                "capabilities": rng.sample(WORDS, 2), "terms": rng.sample(WORDS, 3),
                                "cpv": ["72000000 IT services"], "evidence": "The authority requires a supplier."},
            })
    with session_scope(engine) as s:
        s.execute(insert(Notice), notice_rows)
        s.execute(insert(Profile), profile_rows)
        store_sets(s, week, lists)  # the week's matches, as the match job stores them
    engine.dispose()
    return db


def run_once(folder: Path, seed_db: Path, max_items: int, trace: bool) -> dict:
    db = folder / "run.db"
    shutil.copy(seed_db, db)
    cfg = config_from_dict({
        "database": {"url": f"sqlite:///{db}"},
        "digest": {"max_items": max_items},
        "delivery": {"mode": "outbox", "outbox_dir": str(folder / "outbox")},
        "secrets": {"secret_env": "MATCHER_BENCH_SECRET_NOT_SET", "secret_file": str(folder / "secret")},
    }, base_dir=folder)
    ensure_secret(cfg)
    engine = make_engine(cfg.database_url())
    if trace:
        tracemalloc.start()
    t0 = time.perf_counter()
    with session_scope(engine) as s:
        build = build_digests(s, cfg, NOW)
    t1 = time.perf_counter()
    with session_scope(engine) as s:
        delivery = deliver_digests(s, cfg, NOW)
    t2 = time.perf_counter()
    peak = tracemalloc.get_traced_memory()[1] if trace else None
    if trace:
        tracemalloc.stop()
    rerun = digest_job(cfg, engine, NOW)  # the second run in a week: must send nothing
    files = list((folder / "outbox").rglob("*.eml"))
    out = {"build_s": t1 - t0, "deliver_s": t2 - t1, "digests": len(build.created), "sent": delivery.outcomes["sent"],
           "files": len(files), "eml_bytes": sum(f.stat().st_size for f in files), "peak_heap": peak,
           "rerun_sent": rerun.delivery.outcomes.get("sent", 0)}
    engine.dispose()
    shutil.rmtree(folder / "outbox")
    db.unlink()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profiles", type=int, default=1000)
    ap.add_argument("--notices", type=int, default=500)
    ap.add_argument("--per-profile", type=int, default=20, help="matches per profile (matching.top_k)")
    ap.add_argument("--max-items", type=int, default=10, help="digest.max_items")
    args = ap.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-digest-"))
    try:
        t = time.perf_counter()
        seed = make_store(folder, args.profiles, args.notices, args.per_profile)
        print(f"store: {args.profiles} profiles, {args.notices} notices, {args.profiles * args.per_profile} matches "
              f"(seeded in {time.perf_counter() - t:.1f} s, not timed below)")
        plain = run_once(folder, seed, args.max_items, trace=False)
        traced = run_once(folder, seed, args.max_items, trace=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    total = plain["build_s"] + plain["deliver_s"]
    print(f"build:   {plain['build_s']:.2f} s  ({plain['digests']} digests)")
    print(f"deliver: {plain['deliver_s']:.2f} s  ({plain['sent']} rendered + written, "
          f"{plain['eml_bytes'] / plain['files'] / 1024:.1f} KiB per .eml)")
    print(f"total:   {total:.2f} s  = {1000 * total / max(plain['digests'], 1):.1f} ms per SME")
    print(f"rerun in the same week sent: {plain['rerun_sent']}")
    print(f"peak Python heap (tracemalloc, build + deliver): {traced['peak_heap'] / 2**20:.1f} MiB")
    print(f"peak RSS of the process (ru_maxrss): {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f} MiB")


if __name__ == "__main__":
    main()
