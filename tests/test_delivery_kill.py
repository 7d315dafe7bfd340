"""The delivery guarantee under kill -9, on SQLite and on PostgreSQL, with a real aiosmtpd server.

`matcher digest send` runs in a process of its own and is killed (SIGKILL) at a chosen point of a send of many
digests over several connections: at a recipient (nothing handed over yet), while the relay holds a message it
has not answered (handed over, outcome unknown), or just after the relay's 250. Then the next run goes, then
next week's. Every recipient gets this week's items at least once (in this week's digest, or in next week's
when this week's never went), and a recipient gets a second copy only of a digest whose outcome was unknown.
"""
from __future__ import annotations

import os
import signal
import subprocess
import threading
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from helpers_digest import NOW, WEEK, add_match, add_notice, add_profile, make_config, store_for
from helpers_smtp import FaultyHandler, faulty_smtp, smtp_config_file
from sqlmodel import select

from matcher.deliver.week import send_week
from matcher.store import session_scope
from matcher.store.models import Digest

SMES = 24
NEXT_WEEK = NOW + timedelta(days=7)
KILL_POINTS = {  # (step of the relay at which the sender is killed, on the n-th such step)
    "at-rcpt": ("rcpt", 9),
    "holding-the-message": ("data", 9),
    "after-the-250": ("after-data", 9),
}


def _config_file(tmp_path: Path, db_url: str, port: int) -> Path:
    return smtp_config_file(tmp_path, db_url, port, connections=3, lease_seconds=2, timeout_seconds=5,
                            data_timeout_seconds=5)


def _seed(cfg) -> None:
    engine = store_for(cfg)
    for i in range(SMES):
        pid = f"sme{i:02d}"
        add_profile(engine, pid)
        add_notice(engine, f"n{i}", title=f"Tender {i}", closes_at=NOW + timedelta(days=30))
        add_match(engine, pid, f"n{i}", 0.9)
    engine.dispose()


def _send_killed(config: Path, handler: FaultyHandler, step: str, n: int) -> int:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "MATCHER_TEST_SECRET_NOT_SET": ""}  # key: the file
    env.pop("MATCHER_TEST_SECRET_NOT_SET")
    proc = subprocess.Popen([sys.executable, "-m", "matcher", "digest", "send", "--now", NOW.isoformat(),
                             "--config", str(config)], cwd=config.parent, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    killed = {"done": False}

    def kill(at: str, count: int) -> bool:
        if at == step and count == n and not killed["done"]:
            killed["done"] = True
            if step == "after-data":  # just after the relay's 250 has gone out
                threading.Timer(0.005, os.kill, (proc.pid, signal.SIGKILL)).start()
            else:  # the sender dies while the relay holds this command, before it answers
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
        return False

    handler.drop = kill
    out, _ = proc.communicate(timeout=120)
    handler.drop = None
    assert killed["done"], f"the sender finished before the kill point:\n{out.decode()}"
    assert proc.returncode == -signal.SIGKILL
    return proc.returncode


def _items_received(handler: FaultyHandler) -> dict[str, set[str]]:
    """recipient -> notice titles received, over every message."""
    got: dict[str, set[str]] = {}
    for msg in handler.messages:
        text = msg.get_body(("plain",)).get_content().replace("\r\n", "\n")
        rcpt = msg["To"].addresses[0].addr_spec
        got.setdefault(rcpt, set()).update(f"Tender {i}" for i in range(SMES) if f". Tender {i}\n" in text)
    return got


@pytest.mark.postgres
@pytest.mark.parametrize("point", list(KILL_POINTS))
@pytest.mark.parametrize("rerun_this_week", [True, False], ids=["then-next-run", "then-next-week"])
def test_a_killed_send_loses_no_digest_and_duplicates_only_unknown_outcomes(tmp_path, db_url, point, rerun_this_week):
    with faulty_smtp() as (handler, port):
        cfg = make_config(tmp_path, database={"url": db_url},
                          digest={"from_address": "Matcher <alerts@matcher.example.org>"},
                          delivery={"mode": "smtp", "smtp_port": port, "connections": 3, "lease_seconds": 2,
                                    "timeout_seconds": 5, "data_timeout_seconds": 5})
        _seed(cfg)
        config = _config_file(tmp_path, db_url, port)
        step, n = KILL_POINTS[point]
        _send_killed(config, handler, step, n)
        engine = store_for(cfg)
        time.sleep(2.2)  # the killed sender's leases run out
        if rerun_this_week:
            again = send_week(cfg, engine, NOW + timedelta(hours=1))
            assert again.delivery.stopped is None
        nxt = send_week(cfg, engine, NEXT_WEEK)
        assert nxt.delivery.stopped is None

        with session_scope(engine) as s:
            digests = {(d.profile_id, d.week): d for d in s.exec(select(Digest))}
        engine.dispose()

    this_week = {pid: d for (pid, week), d in digests.items() if week == WEEK}
    assert len(this_week) == SMES
    received = _items_received(handler)
    for i in range(SMES):
        pid = f"sme{i:02d}"
        assert f"Tender {i}" in received.get(f"{pid}@example.org", set()), f"{pid} never got its item ({point})"
    unknown = {pid for pid, d in this_week.items() if d.unknown_outcomes}
    duplicated = {rcpt.split("@")[0] for (rcpt, mid), copies in handler.copies.items() if copies > 1}
    assert duplicated <= unknown, (duplicated, unknown)
    assert sum(c - 1 for c in handler.copies.values()) <= sum(d.unknown_outcomes for d in this_week.values())
    if point == "holding-the-message":
        assert unknown, "the message the relay held when the sender died has an unknown outcome"
