"""SIGTERM to a real `matcher digest send` process in the middle of a send of many digests to a real aiosmtpd
server, on SQLite and on PostgreSQL: it finishes the messages in flight, gives the rest back, says it stopped and
exits with 143 (128 + SIGTERM); nothing is left `sending`; the next run sends the rest, and every recipient has
exactly one copy (a second one only where an unknown outcome was counted)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from helpers_digest import NOW, WEEK, add_match, add_notice, add_profile, make_config, store_for
from helpers_smtp import FaultyHandler, faulty_smtp, smtp_config_file
from sqlmodel import select

from matcher.store import session_scope
from matcher.store.models import Digest

SMES = 40
TERM_AT = 12  # the n-th message the relay receives


def _config_file(tmp_path: Path, db_url: str, port: int) -> Path:
    return smtp_config_file(tmp_path, db_url, port, connections=3, timeout_seconds=10, data_timeout_seconds=10)


def _send(config: Path, now=NOW) -> subprocess.Popen:  # noqa: ANN001
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "COLUMNS": "200"}
    env.pop("MATCHER_TEST_SECRET_NOT_SET", None)  # the key comes from the file
    return subprocess.Popen([sys.executable, "-m", "matcher", "digest", "send", "--now", now.isoformat(),
                             "--config", str(config)], cwd=config.parent, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def _states(engine) -> dict[str, Digest]:  # noqa: ANN001
    with session_scope(engine) as s:
        return {d.profile_id: d for d in s.exec(select(Digest).where(Digest.week == WEEK))}


def test_sigterm_mid_send_stops_cleanly_and_the_next_run_sends_the_rest_once(tmp_path, db_url):
    handler = FaultyHandler()
    handler.data_delay = 0.05  # the relay takes a moment per message, so the stop lands mid-run
    with faulty_smtp(handler) as (server, port):
        cfg = make_config(tmp_path, database={"url": db_url})
        engine = store_for(cfg)
        for i in range(SMES):
            add_profile(engine, f"sme{i:02d}")
            add_notice(engine, f"n{i}", title=f"Tender {i}", closes_at=NOW + timedelta(days=30))
            add_match(engine, f"sme{i:02d}", f"n{i}", 0.9)
        config = _config_file(tmp_path, db_url, port)
        proc = _send(config)
        termed = threading.Event()

        def term(n: int) -> None:
            if n == TERM_AT and not termed.is_set():
                termed.set()
                os.kill(proc.pid, signal.SIGTERM)

        server.on_data = term
        out, _ = proc.communicate(timeout=180)
        server.on_data = None
        assert termed.is_set(), f"the sender finished before the SIGTERM:\n{out}"
        assert proc.returncode == 128 + signal.SIGTERM, out
        assert "received SIGTERM: stopping after the messages in flight" in out
        assert "stopped early: a stop was asked for" in out

        first = _states(engine)
        sent_first = sum(copies for copies in server.copies.values())
        assert len(first) == SMES
        assert not [pid for pid, d in first.items() if d.state == "sending"], "a digest was left sending"
        assert {d.state for d in first.values()} <= {"sent", "created"}
        assert sum(d.state == "sent" for d in first.values()) == sent_first
        assert TERM_AT <= sent_first < SMES  # the messages in flight finished, the rest were not tried

        again = _send(config, NOW + timedelta(minutes=5))
        out2, _ = again.communicate(timeout=180)
        assert again.returncode == 0, out2
    final = _states(engine)
    engine.dispose()
    assert {d.state for d in final.values()} == {"sent"}
    recipients = {rcpt for rcpt, _ in server.copies}
    assert recipients == {f"sme{i:02d}@example.org" for i in range(SMES)}
    unknown = sum(d.unknown_outcomes for d in final.values())
    extra = sum(c - 1 for c in server.copies.values())
    assert extra <= unknown  # a second copy only where the outcome was unknown, and counted
    assert len(server.copies) == SMES  # one Message-ID per recipient: resends kept it


def test_the_scheduler_s_stop_also_stops_its_send_under_way_leaving_the_rest_for_the_next_run(tmp_path):
    """`matcher run` sets this stop on SIGTERM: its shutdown no longer waits for a whole send (hours at scale)."""
    from jobs.scheduler import build_scheduler
    from matcher.digest.build import build_digests

    stop = threading.Event()
    handler = FaultyHandler()
    handler.on_data = lambda n: stop.set() if n == 5 else None
    with faulty_smtp(handler) as (server, port):
        cfg = make_config(tmp_path, digest={"from_address": "Matcher <alerts@matcher.example.org>"},
                          delivery={"mode": "smtp", "smtp_host": "127.0.0.1", "smtp_port": port, "connections": 1,
                                    "timeout_seconds": 5})
        engine = store_for(cfg)
        for i in range(20):
            add_profile(engine, f"sme{i:02d}")
            add_notice(engine, f"n{i}", title=f"Tender {i}", closes_at=NOW + timedelta(days=30))
            add_match(engine, f"sme{i:02d}", f"n{i}", 0.9)
        with session_scope(engine) as s:
            build_digests(s, cfg, NOW)
        scheduler = build_scheduler(cfg, engine, clock=lambda: NOW, stop=stop)
        retry = next(j for j in scheduler.get_jobs() if j.id == "retry-delivery")
        result = retry.func()
    assert result.stopped == "a stop was asked for"
    states = [d.state for d in _states(engine).values()]
    assert states.count("sent") == len(server.messages) == 5 and states.count("created") == 15
