"""Shared by the delivery benchmarks: a store of N SMEs with this week's digests ready to send, and an aiosmtpd
sink in a process of its own (so it does not share the sender's GIL) that records every accepted copy and can drop
connections at random points.

    python bench/smtp_sink.py PORT COPIES_FILE [--drop-rcpt P] [--drop-holding P] [--seed S]

--drop-rcpt: close the connection at a RCPT (nothing handed over: the sender knows it failed);
--drop-holding: accept the message, then close the connection instead of answering 250 (the copy is delivered,
the sender cannot know: an unknown outcome).
"""
from __future__ import annotations

import argparse
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

NOW = datetime(2025, 1, 27, 8, 0, tzinfo=UTC)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_store(folder: Path, smes: int, items: int = 5, notices: int = 300) -> Path:
    """A SQLite store with `smes` SMEs, each `items` matches this week; digests built (not timed)."""
    from sqlalchemy import insert

    from matcher import clock
    from matcher.config import config_from_dict
    from matcher.deliver.secrets import ensure_secret
    from matcher.digest.build import build_digests
    from matcher.store import init_db, make_engine, session_scope
    from matcher.store.match_sets import store_sets
    from matcher.store.models import Notice, Profile

    rng = random.Random(11)
    db = folder / "seed.db"
    engine = make_engine(f"sqlite:///{db}")
    init_db(engine)
    week = clock.week_of(NOW)
    with session_scope(engine) as s:
        s.execute(insert(Notice), [{
            "key": f"ocds-{i:06d}", "source": "contracts_finder", "title": f"Grounds maintenance lot {i}",
            "description": "", "buyer": f"Council {i % 40}", "cpv": [], "regions": [], "sections": {}, "suppliers": [],
            "links": [], "raw": {}, "lots": [], "value_min": 20000.0, "value_max": 80000.0, "currency": "GBP",
            "closes_at": NOW + timedelta(days=21), "url": f"https://www.contractsfinder.service.gov.uk/notice/{i}",
            "content_hash": f"{i:064d}", "first_seen": NOW, "last_seen": NOW} for i in range(notices)])
        s.execute(insert(Profile), [{
            "id": f"sme-{p:05d}", "name": f"SME {p} Ltd", "email": f"sme{p}@bench.example.org",
            "capabilities": "grounds maintenance and cleaning", "keywords": [], "cpv": [], "regions": [],
            "exclude": [], "enabled": True, "created_at": NOW, "updated_at": NOW} for p in range(smes)])
        store_sets(s, week, {f"sme-{p:05d}": [{  # the week's matches, as the match job stores them
            "notice_key": f"ocds-{n:06d}", "rank": r,
            "score": 0.9 - r / 20, "dense": 0.5, "lexical": 0.2, "keyword": 0.1, "cpv": 0.0, "raw_score": 0.3,
            "explanation": {"summary": "Your grounds work matches this tender.", "capabilities": ["grounds maintenance"],
                            "terms": ["grounds"], "cpv": [], "evidence": "Grounds maintenance of parks."}}
            for r, n in enumerate(rng.sample(range(notices), items))] for p in range(smes)})
    cfg = bench_config(folder, db, 25)
    ensure_secret(cfg)
    with session_scope(engine) as s:
        build_digests(s, cfg, NOW)
    engine.dispose()
    return db


def bench_config(folder: Path, db: Path, port: int, **delivery):  # noqa: ANN201
    from matcher.config import config_from_dict

    return config_from_dict({
        "database": {"url": f"sqlite:///{db}"},
        "digest": {"from_address": "Matcher <alerts@matcher.example.org>", "public_base_url": "https://links.example.org"},
        "delivery": {"mode": "smtp", "smtp_host": "127.0.0.1", "smtp_port": port, **delivery},
        "secrets": {"secret_env": "MATCHER_BENCH_SECRET_NOT_SET", "secret_file": str(folder / "secret")},
    }, base_dir=folder)


def copy_store(seed: Path, folder: Path, name: str) -> Path:
    target = folder / name
    shutil.copy(seed, target)
    return target


class Sink:
    """The sink process: start(), copies() -> {(recipient, Message-ID): n}, stop()."""

    def __init__(self, folder: Path, drop_rcpt: float = 0.0, drop_holding: float = 0.0, seed: int = 1) -> None:
        self.port = free_port()
        self.file = folder / f"copies-{self.port}.txt"
        self.args = [sys.executable, __file__, str(self.port), str(self.file), "--drop-rcpt", str(drop_rcpt),
                     "--drop-holding", str(drop_holding), "--seed", str(seed)]

    def __enter__(self) -> "Sink":
        self.proc = subprocess.Popen(self.args)
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise SystemExit("the SMTP sink did not start")
                time.sleep(0.1)

    def __exit__(self, *exc: object) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=20)

    def copies(self) -> dict[tuple[str, str], int]:
        out: dict[tuple[str, str], int] = {}
        if self.file.exists():
            for line in self.file.read_text().splitlines():
                rcpt, mid = line.split("\t")
                out[(rcpt, mid)] = out.get((rcpt, mid), 0) + 1
        return out


def _serve(port: int, file: Path, drop_rcpt: float, drop_holding: float, seed: int) -> None:
    from aiosmtpd.controller import Controller

    rng = random.Random(seed)
    out = file.open("a", buffering=1)
    lock = threading.Lock()

    class Handler:
        async def handle_RCPT(self, server, session, envelope, address, options):  # noqa: ANN001, N802
            if rng.random() < drop_rcpt:
                server.transport.close()
                return "421 4.3.0 dropped"
            envelope.rcpt_tos.append(address)
            return "250 OK"

        async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, N802
            head = envelope.content.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
            mid = next((line.split(":", 1)[1].strip() for line in head.split("\r\n")
                        if line.lower().startswith("message-id:")), "?")
            with lock:
                for rcpt in envelope.rcpt_tos:
                    out.write(f"{rcpt}\t{mid}\n")
            if rng.random() < drop_holding:  # delivered, but the sender never hears so
                server.transport.close()
            return "250 2.0.0 OK"

    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    controller.stop()
    out.close()


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("file", type=Path)
    ap.add_argument("--drop-rcpt", type=float, default=0.0)
    ap.add_argument("--drop-holding", type=float, default=0.0)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    _serve(a.port, a.file, a.drop_rcpt, a.drop_holding, a.seed)
