"""Shared set-up for the digest, delivery and web tests: a temp store and config, rows, and real servers.

Everything runs against real things on 127.0.0.1: a SQLite file in tmp_path, aiosmtpd, uvicorn.
"""
from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

from aiosmtpd.controller import Controller
from sqlalchemy.engine import Engine

from matcher import clock
from matcher.config import Config, config_from_dict
from matcher.store.match_sets import chosen_items, store_sets
from matcher.store.models import Notice, Profile
from matcher.deliver.secrets import ensure_secret
from matcher.store import init_db, make_engine, session_scope

NOW = datetime(2025, 1, 27, 8, 0, tzinfo=UTC)  # a Monday: ISO week 2025-W05
WEEK = clock.week_of(NOW)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_config(tmp_path: Path, **sections: dict) -> Config:
    data: dict = {
        "database": {"url": f"sqlite:///{tmp_path / 'store.db'}"},
        "digest": {"public_base_url": "http://127.0.0.1:8080"},
        "delivery": {"mode": "outbox", "outbox_dir": str(tmp_path / "outbox")},
        "secrets": {"secret_env": "MATCHER_TEST_SECRET_NOT_SET", "secret_file": str(tmp_path / "secret-key")},
    }
    for name, values in sections.items():
        data[name] = {**data.get(name, {}), **values}
    cfg = config_from_dict(data, base_dir=tmp_path)
    ensure_secret(cfg)
    return cfg


def store_for(cfg: Config) -> Engine:
    engine = make_engine(cfg.database_url())
    init_db(engine)
    return engine


def add_profile(engine: Engine, pid: str, name: str | None = None, **kw) -> None:
    fields = {"name": name or f"{pid} Ltd", "email": f"{pid}@example.org", "capabilities": "software development"}
    fields.update(kw)
    with session_scope(engine) as s:
        s.add(Profile(id=pid, **fields))


def add_notice(engine: Engine, key: str, title: str | None = None, **kw) -> None:
    fields = {
        "source": "contracts_finder", "title": title or f"Notice {key}", "buyer": "Leeds City Council",
        "url": f"https://www.contractsfinder.service.gov.uk/notice/{key}", "value_min": 10000.0, "value_max": 50000.0,
        "currency": "GBP", "closes_at": NOW + timedelta(days=20), "sme_suitable": True, "content_hash": key,
    }
    fields.update(kw)
    with session_scope(engine) as s:
        s.add(Notice(key=key, **fields))


def add_match(engine: Engine, pid: str, key: str, score: float, week: str = WEEK, rank: int = 0,
              explanation: dict | None = None) -> None:
    why = explanation if explanation is not None else {
        "summary": "Your web development work matches this tender.",
        "capabilities": ["web development"], "terms": ["website", "accessibility"],
        "cpv": ["72000000 IT services"], "evidence": "The council needs a new accessible website.",
    }
    item = {"notice_key": key, "rank": rank, "dense": 0.0, "lexical": 0.0, "keyword": 0.0, "cpv": 0.0, "raw_score": 0.0,
            "score": score, "explanation": why}
    with session_scope(engine) as s:  # the SME's set for the week, with this item added (as the match job stores it)
        store_sets(s, week, {pid: chosen_items(s, week, [pid]).get(pid, []) + [item]})


def parse_eml(data: bytes) -> EmailMessage:
    return BytesParser(policy=policy.default).parsebytes(data)  # type: ignore[return-value]


class CollectingHandler:
    """An aiosmtpd handler that keeps each accepted message, or answers every DATA with `fail_with`."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.recipients: list[list[str]] = []
        self.fail_with: str | None = None
        self.data_commands = 0

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: ANN001
        self.data_commands += 1
        if self.fail_with:
            return self.fail_with
        self.messages.append(parse_eml(envelope.content))
        self.recipients.append(list(envelope.rcpt_tos))
        return "250 2.0.0 OK"


@contextmanager
def smtp_server() -> Iterator[tuple[CollectingHandler, int]]:
    handler = CollectingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield handler, controller.port
    finally:
        controller.stop()


@contextmanager
def web_server(app, port: int) -> Iterator[str]:  # noqa: ANN001
    """Run a Starlette app under uvicorn in a thread on 127.0.0.1; yields its base URL."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"uvicorn did not start on 127.0.0.1:{port}")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
