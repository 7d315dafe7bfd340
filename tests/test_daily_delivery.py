"""The delivery guarantee for daily digests under kill -9 (SQLite, a real aiosmtpd relay): `matcher digest send
--cadence daily` is killed mid-send; then it runs again the same day, or not until the next day. Every daily SME
gets the day's item (that day, or in the next day's digest when the day's never went), a resend keeps the
digest's Message-ID, and a second copy comes only of a digest whose outcome was unknown."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from helpers_digest import NOW, add_match, add_notice, add_profile, make_config, store_for
from helpers_smtp import FaultyHandler, faulty_smtp, smtp_config_file
from sqlmodel import select

from matcher.deliver.week import retry_undelivered, send_week
from matcher.period import period_of
from matcher.store import session_scope
from matcher.store.models import Digest

SMES = 12
TODAY = period_of(NOW, "daily").label
NEXT_DAY = NOW + timedelta(days=1)
KILL_POINTS = {"at-rcpt": ("rcpt", 5), "holding-the-message": ("data", 5), "after-the-250": ("after-data", 5)}


def _config_file(tmp_path: Path, port: int) -> Path:
    return smtp_config_file(tmp_path, f"sqlite:///{tmp_path / 'store.db'}", port, connections=2, lease_seconds=2,
                            timeout_seconds=5, data_timeout_seconds=5)


def _seed(cfg) -> None:
    engine = store_for(cfg)
    for i in range(SMES):
        pid = f"sme{i:02d}"
        add_profile(engine, pid, cadence="daily")
        add_notice(engine, f"n{i}", title=f"Tender {i}", closes_at=NOW + timedelta(days=30))
        add_match(engine, pid, f"n{i}", 0.9, week=TODAY)
        add_notice(engine, f"m{i}", title=f"Tender {SMES + i}", closes_at=NOW + timedelta(days=30))  # new the next day
        add_match(engine, pid, f"m{i}", 0.8, week=period_of(NEXT_DAY, "daily").label)
    add_profile(engine, "weekly-sme")  # a weekly SME: the daily send leaves it alone
    add_notice(engine, "w1", title="Weekly tender")
    add_match(engine, "weekly-sme", "w1", 0.9)
    engine.dispose()


def _send_killed(config: Path, handler: FaultyHandler, step: str, n: int) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    env.pop("MATCHER_TEST_SECRET_NOT_SET", None)  # the key comes from the file
    proc = subprocess.Popen([sys.executable, "-m", "matcher", "digest", "send", "--cadence", "daily", "--now",
                             NOW.isoformat(), "--config", str(config)], cwd=config.parent, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    killed = {"done": False}

    def kill(at: str, count: int) -> bool:
        if at == step and count == n and not killed["done"]:
            killed["done"] = True
            if step == "after-data":
                threading.Timer(0.005, os.kill, (proc.pid, signal.SIGKILL)).start()
            else:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
        return False

    handler.drop = kill
    out, _ = proc.communicate(timeout=120)
    handler.drop = None
    assert killed["done"], f"the sender finished before the kill point:\n{out.decode()}"
    assert proc.returncode == -signal.SIGKILL


def _received(handler: FaultyHandler) -> dict[str, list[tuple[str, str]]]:
    """recipient -> (Message-ID, text) of every message accepted."""
    got: dict[str, list[tuple[str, str]]] = {}
    for msg in handler.messages:
        text = msg.get_body(("plain",)).get_content().replace("\r\n", "\n")
        got.setdefault(msg["To"].addresses[0].addr_spec, []).append((msg["Message-ID"], text))
    return got


@pytest.mark.parametrize("point", list(KILL_POINTS))
@pytest.mark.parametrize("rerun_today", [True, False], ids=["then-later-today", "then-next-day"])
def test_a_killed_daily_send_loses_nothing_and_the_next_day_brings_what_never_went(tmp_path, point, rerun_today):
    with faulty_smtp() as (handler, port):
        cfg = make_config(tmp_path, digest={"from_address": "Matcher <alerts@matcher.example.org>"},
                          delivery={"mode": "smtp", "smtp_port": port, "connections": 2, "lease_seconds": 2,
                                    "timeout_seconds": 5, "data_timeout_seconds": 5})
        _seed(cfg)
        _send_killed(_config_file(tmp_path, port), handler, *KILL_POINTS[point])
        engine = store_for(cfg)
        time.sleep(2.2)  # the killed sender's leases run out
        if rerun_today:  # the scheduler's retry job, between the daily runs
            assert retry_undelivered(cfg, engine, NOW + timedelta(hours=1)).stopped is None
        nxt = send_week(cfg, engine, NEXT_DAY, cadence="daily")
        assert nxt.delivery.stopped is None
        with session_scope(engine) as s:
            digests = {(d.profile_id, d.week): d for d in s.exec(select(Digest))}
        engine.dispose()

    received = _received(handler)
    today = {pid: d for (pid, week), d in digests.items() if week == TODAY}
    assert set(today) == {f"sme{i:02d}" for i in range(SMES)}  # the weekly SME got no daily digest
    assert not any(pid == "weekly-sme" for pid, _ in digests)
    for i in range(SMES):
        pid = f"sme{i:02d}"
        texts = [t for _, t in received.get(f"{pid}@example.org", [])]
        assert any(f". Tender {i}\n" in t for t in texts), f"{pid} never got the day's item ({point})"
        assert any(f". Tender {SMES + i}\n" in t for t in texts), f"{pid} never got the next day's item"
        d = today[pid]
        if d.state == "sent":  # every copy of the day's digest carried its one Message-ID
            assert {mid for mid, t in received[f"{pid}@example.org"] if f". Tender {i}\n" in t} == {d.message_id}
        else:  # never went that day: given up by the next day's build, its item carried into that digest
            assert d.state == "dead" and not rerun_today
    unknown = {pid for pid, d in today.items() if d.unknown_outcomes}
    duplicated = {rcpt.split("@")[0] for (rcpt, _), copies in handler.copies.items() if copies > 1}
    assert duplicated <= unknown, (duplicated, unknown)
    if point == "holding-the-message":
        assert unknown, "the message the relay held when the sender died has an unknown outcome"
    if rerun_today:
        assert all(d.state == "sent" for d in today.values())
    else:  # the kill came before the last SMEs' digests: they came back the next day
        assert any(d.state == "dead" for d in today.values())
