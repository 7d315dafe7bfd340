"""A poll whose process is killed (SIGKILL) partway through resumes from its watermark: nothing lost, nothing
twice. The poll job (what `matcher poll` and the scheduler run) runs in a subprocess and is killed once the
replay server has seen N of its requests; a second poll then completes from the stored watermark."""
from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session

from jobs.poll import poll_job
from matcher.config import load_config
from matcher.store.models import Watermark
from matcher.store import as_utc, make_engine

FTS, PCS = "find_a_tender", "public_contracts_scotland"
CASES = {
    # 3 days of 6-hour windows, 4 releases a page: 17 requests, killed in the 7th window
    FTS: dict(path="/api/1.0/ocdsReleasePackages", now=datetime(2025, 2, 23, tzinfo=UTC), days=3, kill_after=8,
              options={"page_size": 4, "window_hours": 6}),
    # March and April 2019, three notice types each: 6 requests, killed in April
    PCS: dict(path="/pcs/v1/Notices", now=datetime(2019, 4, 30, 12, tzinfo=UTC), days=40, kill_after=4,
              options={"notice_types": [2, 3, 14]}),
}
OVERLAP_MINUTES = 60
# the scheduler's poll step (what `matcher poll` runs), in a process of its own
POLL_SCRIPT = """
import sys
from datetime import datetime
from jobs.poll import poll_job
from matcher.config import load_config
from matcher.store import init_db, make_engine
cfg = load_config("config.toml")
engine = make_engine(cfg.database_url())
init_db(engine)
poll_job(cfg, engine, datetime.fromisoformat(sys.argv[2]), [sys.argv[1]])
"""


def _toml(value) -> str:  # noqa: ANN001
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return str(value)


def _write_config(tmp_path, source: str, base_url: str, case: dict) -> None:
    values = {"base_url": base_url, "delay_seconds": 0.05, "lookback_days": case["days"],
              "overlap_minutes": OVERLAP_MINUTES, "retry_wait_seconds": 0.01, "timeout_seconds": 5, **case["options"]}
    lines = ["[database]", 'url = "sqlite:///store.db"', f"[sources.{source}]"]
    lines += [f"{k} = {_toml(v)}" for k, v in values.items()]
    (tmp_path / "config.toml").write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("source", [FTS, PCS])
def test_a_killed_poll_resumes_from_its_watermark_and_loses_nothing(source, tmp_path, replay, recorded, stored):
    case = CASES[source]
    now = case["now"]
    _write_config(tmp_path, source, replay.base_url(source), case)
    poll = subprocess.Popen([sys.executable, "-c", POLL_SCRIPT, source, now.isoformat()],
                            cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while replay.hits(case["path"]) < case["kill_after"] and poll.poll() is None and time.monotonic() < deadline:
            time.sleep(0.002)
        assert poll.poll() is None, f"the poll ended before it could be killed: {poll.stderr.read().decode()[-2000:]}"
        poll.kill()
    finally:
        poll.wait(timeout=30)
    assert poll.returncode == -9

    cfg = load_config(tmp_path / "config.toml")
    engine = make_engine(cfg.database_url())
    with Session(engine) as s:
        killed_at = s.get(Watermark, source)
    partial, rows, _ = stored(engine)
    expected = recorded(source, now - timedelta(days=case["days"]), now)
    assert killed_at is not None and killed_at.position is not None and as_utc(killed_at.position) < now
    assert killed_at.last_success_at is None and rows < len(expected)  # it really stopped partway

    (resumed,) = poll_job(cfg, engine, now, [source])
    assert resumed.ok, resumed.error
    assert resumed.since == as_utc(killed_at.position) - timedelta(minutes=OVERLAP_MINUTES)  # from its watermark
    notices, rows, held = stored(engine)
    assert notices == expected and rows == len(expected) and held == []
    assert set(partial) <= set(notices)
    engine.dispose()


def test_a_find_a_tender_poll_killed_mid_split_resumes_with_nothing_lost(tmp_path):
    """A CONSTRUCTED busy day (matcher.replay.fts_busy): full first pages split their windows; the poll is killed
    while it reads the halves of a split window, so its watermark stands inside a 6-hour window."""
    from datetime import date

    from sqlmodel import select

    from matcher.replay import start_replay
    from matcher.replay.fts_busy import busy_days
    from matcher.store.models import SourceRelease

    data = busy_days(date(2026, 9, 14), days=1, per_day=400)
    now = data.until
    case = dict(days=1, options={"page_size": 100, "window_hours": 6})
    path = "/api/1.0/ocdsReleasePackages"
    with start_replay(fts=data.fts_data()) as server:
        _write_config(tmp_path, FTS, server.base_url(FTS), case)
        poll = subprocess.Popen([sys.executable, "-c", POLL_SCRIPT, FTS, now.isoformat()],
                                cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            # 00-06 UK is one short page; 06-12 is full, so its halves and quarters follow: kill among them
            deadline = time.monotonic() + 120
            while server.hits(path) < 6 and poll.poll() is None and time.monotonic() < deadline:
                time.sleep(0.002)
            assert poll.poll() is None, f"the poll ended before it could be killed: {poll.stderr.read().decode()[-2000:]}"
            poll.kill()
        finally:
            poll.wait(timeout=30)
        assert poll.returncode == -9

        cfg = load_config(tmp_path / "config.toml")
        engine = make_engine(cfg.database_url())
        with Session(engine) as s:
            killed_at = as_utc(s.get(Watermark, FTS).position)
            partial = set(s.exec(select(SourceRelease.ocid, SourceRelease.release_id)).all())
        first = now - timedelta(days=1)
        assert first < killed_at < now and (killed_at - first) % timedelta(hours=6)  # inside a split window
        assert partial < data.keys  # it really stopped partway

        (resumed,) = poll_job(cfg, engine, now, [FTS])
        assert resumed.complete, resumed
        assert resumed.since == killed_at - timedelta(minutes=OVERLAP_MINUTES)
        with Session(engine) as s:
            held = set(s.exec(select(SourceRelease.ocid, SourceRelease.release_id)).all())
        assert held == data.keys
        engine.dispose()
