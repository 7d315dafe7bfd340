"""Benchmark: the weekly match at national scale, N SMEs against 1,000 notices, writing results included.

Run from the repo root:

    .venv/bin/python bench/bench_scale.py --profiles 1000 10000        # each size in a fresh process
    .venv/bin/python bench/bench_scale.py --profiles 100000
    .venv/bin/python bench/bench_scale.py --profiles 100000 --db-url postgresql://user@host/db   # on PostgreSQL

What it does, per size (each in its own process, so the peak RSS is that size's alone):
- a temp SQLite store with the bundled real notices (tests/data/eval/notices; repeated under new keys to reach
  --notices, 1,000 by default, and given a closing date four weeks ahead so every one is a candidate);
- N synthetic SMEs made from the bundled real profiles (tests/data/eval/profiles.json and
  matcher/data/sample_profiles.json), each a real profile's text with its own id and e-mail;
- the vector cache warmed first (untimed): embedding is left out of the time, profile vectors are cached;
- then the match step itself (matcher.match_week.match_week: load, score, choose, explain, write) timed.

It prints one line per size (SMEs, notices, seconds, peak MiB) and, beside it, the anchor measured in the same
process: a bare float32 matrix product of the SMEs' query vectors with the notices' vectors plus a top-20
selection, the least any matcher that reads meaning has to do. With more than one size it also prints the
growth exponent of the time (1.0 = linear in SMEs).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

NOW = datetime(2025, 2, 3, 8, 0, tzinfo=UTC)
PROFILE_FILES = [ROOT / "tests" / "data" / "eval" / "profiles.json", ROOT / "matcher" / "data" / "sample_profiles.json"]
NOTICE_DIR = ROOT / "tests" / "data" / "eval" / "notices"


def _config(folder: Path, url: str | None = None):
    from matcher.config import config_from_dict

    return config_from_dict({"database": {"url": url or f"sqlite:///{folder / 'matcher.db'}"},
                             "delivery": {"mode": "outbox", "outbox_dir": str(folder / "outbox")}}, base_dir=folder)


def base_profiles():
    from matcher.store.profiles import read_profiles

    out = []
    for path in PROFILE_FILES:
        if path.exists():
            out += read_profiles(path).profiles
    return out


def real_notices(count: int):
    from matcher.quality.corpus import read_notices

    notices = read_notices(sorted(NOTICE_DIR.glob("*.jsonl")))
    out = []
    for i in range(count):
        n = notices[i % len(notices)]
        copy = i // len(notices)
        out.append(n.model_copy(update={
            "key": n.key if copy == 0 else f"{n.key}-copy{copy}",
            "closes_at": NOW + timedelta(days=28), "status": "active", "stage": "tender", "links": [],
        }))
    return out


def seed(folder: Path, notices: int) -> Path:
    """The store every size starts from: notices, and a warm vector cache for them and every base profile."""
    from sqlalchemy import insert

    from jobs.match import match_job
    from matcher.ingest.notices import _fields
    from matcher.store import init_db, make_engine, session_scope
    from matcher.store.models import Match, Notice
    from matcher.store.profiles import save_profile

    cfg = _config(folder)
    engine = make_engine(cfg.database.url)
    init_db(engine)
    rows = [_fields(n) | {"first_seen": NOW, "last_seen": NOW} for n in real_notices(notices)]
    with session_scope(engine) as s:
        s.execute(insert(Notice), rows)
        for p in base_profiles():
            save_profile(s, p)
    match_job(cfg, engine, NOW)  # fills the vector cache (notices, profiles, explanation texts); not timed
    with session_scope(engine) as s:
        s.execute(Match.__table__.delete())
    engine.dispose()
    return folder / "matcher.db"


@contextmanager
def _store(seed_db: Path, folder: Path, db_url: str | None) -> Iterator[str]:
    """The store one size runs on: a copy of the seed; or, with a PostgreSQL URL, a fresh schema there holding the
    seed's notices and vector cache (dropped after)."""
    if not db_url:
        shutil.copy(seed_db, folder / "matcher.db")
        yield f"sqlite:///{folder / 'matcher.db'}"
        return
    from sqlalchemy import insert, select

    from matcher.config import DatabaseConfig
    from matcher.store import init_db, make_engine
    from matcher.store.models import Embedding, Notice

    sys.path.insert(0, str(ROOT / "tests"))
    from pgserver import fresh_schema_url  # the tests' fresh schema (its URL sets search_path), dropped after

    with contextmanager(fresh_schema_url)(DatabaseConfig(url=db_url).url) as url:
        shutil.copy(seed_db, folder / "seed.db")
        seed_engine, engine = make_engine(f"sqlite:///{folder / 'seed.db'}"), make_engine(url)
        init_db(seed_engine), init_db(engine)  # a kept seed gets this release's schema first
        with seed_engine.connect() as src, engine.begin() as dst:
            for table in (Notice.__table__, Embedding.__table__):
                rows = [dict(r._mapping) for r in src.execute(select(table))]
                for start in range(0, len(rows), 2000):
                    dst.execute(insert(table), rows[start:start + 2000])
        seed_engine.dispose(), engine.dispose()
        yield url


def run_size(seed_db: Path, profiles: int, db_url: str | None = None) -> dict:
    """In this (fresh) process: copy the seed (to db_url's server, if given), add `profiles` SMEs, time the match step."""
    from sqlalchemy import insert
    from sqlmodel import select

    from matcher.embed import Embedder, cached_embed, matching_vectors
    from matcher.match_week import match_week, notice_record
    from matcher.store import init_db, make_engine, session_scope
    from matcher.store.models import Notice, Profile

    folder = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    try:
        with _store(seed_db, folder, db_url) as url:
            cfg = _config(folder, url)
            engine = make_engine(cfg.database.url)
            init_db(engine)  # a seed kept from an older release gets this release's schema (migrations)
            base = base_profiles()
            with session_scope(engine) as s:
                s.execute(Profile.__table__.delete())
                rows = []
                for i in range(profiles):
                    p = base[i % len(base)]
                    rows.append(p.model_dump() | {"id": f"sme-{i:06d}", "email": f"sme{i}@example.org",
                                                  "created_at": NOW, "updated_at": NOW})
                s.execute(insert(Profile), rows)
            embedder = Embedder(cfg.embedding)
            # untimed: one SME per base profile, so every text the explanations compare is in the vector cache
            match_week(cfg, engine, NOW, profile_ids=[f"sme-{i:06d}" for i in range(min(len(base), profiles))], embedder=embedder)
            t0 = time.perf_counter()
            report = match_week(cfg, engine, NOW, embedder=embedder)
            seconds = time.perf_counter() - t0
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

            # the anchor, same process: the bare matrix product and a top-20 pick
            import numpy as np

            def encode(texts):
                with session_scope(engine) as s:
                    return cached_embed(s, embedder, texts)[0]

            with session_scope(engine) as s:
                notices = [notice_record(r) for r in s.exec(select(Notice))]
            pvecs, nvecs = matching_vectors(encode, base, notices)
            queries = np.stack([pvecs[i % len(pvecs)].query for i in range(profiles)]).astype(np.float32)
            t1 = time.perf_counter()
            for start in range(0, profiles, 4096):
                sims = queries[start:start + 4096] @ nvecs.T
                np.argpartition(-sims, 20, axis=1)[:, :20]
            anchor = time.perf_counter() - t1
            engine.dispose()
            return {"profiles": profiles, "notices": len(notices), "seconds": round(seconds, 2), "peak_mib": round(peak),
                    "written": report.written, "anchor_seconds": round(anchor, 3)}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    from matcher.config import DeliveryConfig

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profiles", type=int, nargs="+", default=[1000, 10000], help="SME counts, each run on its own")
    ap.add_argument("--notices", type=int, default=1000)
    ap.add_argument("--seed-db", type=Path, help="keep the seeded store here and reuse it on later runs")
    ap.add_argument("--db-url", help="run each size on this PostgreSQL server instead (a fresh schema per size, "
                    "seeded from the SQLite seed's notices and vector cache)")
    ap.add_argument("--_one", nargs=2, help=argparse.SUPPRESS)  # internal: seed-db profiles
    ap.add_argument("--digests", type=int, help="instead: delivery of this many digests (bench/bench_delivery.py)")
    ap.add_argument("--connections", type=int, default=DeliveryConfig().connections,
                    help="with --digests: SMTP connections at once (default: delivery.connections's)")
    args = ap.parse_args()
    if args.digests:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from bench_delivery import run as run_delivery

        run_delivery(args.digests, args.connections)
        print("machine load (1, 5, 15 min): " + " ".join(f"{x:.2f}" for x in os.getloadavg()) + f" on {os.cpu_count()} cores")
        return
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    if args._one:
        print(json.dumps(run_size(Path(args._one[0]), int(args._one[1]), args.db_url)))
        return
    folder = Path(tempfile.mkdtemp(prefix="bench-scale-seed-"))
    try:
        t0 = time.perf_counter()
        if args.seed_db and args.seed_db.exists():
            seed_db = args.seed_db
        else:
            seed_db = seed(folder, args.notices)
            print(f"seeded {args.notices} notices and warmed the vector cache in {time.perf_counter() - t0:.1f} s (untimed)")
            if args.seed_db:
                shutil.copy(seed_db, args.seed_db)
        results = []
        for n in args.profiles:
            out = subprocess.run([sys.executable, __file__, "--_one", str(seed_db), str(n)]
                                 + (["--db-url", args.db_url] if args.db_url else []), capture_output=True, text=True)
            if out.returncode:
                sys.exit(f"the run with {n} SMEs failed:\n{out.stderr}")
            r = json.loads(out.stdout.strip().splitlines()[-1])
            results.append(r)
            print(("PostgreSQL " if args.db_url else "") + f"match: {r['profiles']:>7} SMEs x {r['notices']} notices: {r['seconds']:8.2f} s, peak {r['peak_mib']:5d} MiB, "
                  f"{r['written']} matches written | anchor (bare matmul + top-20): {r['anchor_seconds']:.3f} s")
        if len(results) > 1:
            a, b = results[0], results[-1]
            k = math.log(b["seconds"] / a["seconds"]) / math.log(b["profiles"] / a["profiles"])
            print(f"growth exponent {a['profiles']} -> {b['profiles']} SMEs: {k:.2f} (1.0 = linear)")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
