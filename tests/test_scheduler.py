"""The scheduler: triggers from config, explicit misfire/coalesce/max_instances, and a clean stop on SIGTERM."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from apscheduler.triggers.cron import CronTrigger

from jobs.scheduler import build_scheduler
from matcher.config import config_from_dict
from matcher.store import make_engine


def _cfg(tmp_path: Path):
    return config_from_dict(
        {"digest": {"weekday": "thu", "time": "09:15:00", "timezone": "Europe/London"},
         "scheduler": {"poll_every_minutes": 30, "misfire_grace_seconds": 900},
         "database": {"url": "sqlite:///s.db"}},
        base_dir=tmp_path,
    )


def test_jobs_use_configured_triggers_and_never_overlap(tmp_path):
    cfg = _cfg(tmp_path)
    scheduler = build_scheduler(cfg, make_engine(cfg.database_url()))
    scheduler.start(paused=True)
    try:
        jobs = {j.id: j for j in scheduler.get_jobs()}
        assert set(jobs) == {"poll", "weekly-digest", "daily-digest", "retry-delivery", "reminders"}
        for job in jobs.values():
            assert job.misfire_grace_time == 900
            assert job.coalesce is True
            assert job.max_instances == 1
        assert jobs["poll"].trigger.interval.total_seconds() == 30 * 60
        assert jobs["retry-delivery"].trigger.interval.total_seconds() == 30 * 60
        weekly = jobs["weekly-digest"].trigger
        assert isinstance(weekly, CronTrigger)
        fields = {f.name: str(f) for f in weekly.fields}
        assert (fields["day_of_week"], fields["hour"], fields["minute"]) == ("thu", "9", "15")
        assert str(weekly.timezone) == "Europe/London"
        daily = {f.name: str(f) for f in jobs["reminders"].trigger.fields}  # reminders go out every day
        assert (daily["day_of_week"], daily["hour"], daily["minute"]) == ("*", "9", "15")
        digests = {f.name: str(f) for f in jobs["daily-digest"].trigger.fields}  # so do the daily digests
        assert (digests["day_of_week"], digests["hour"], digests["minute"]) == ("*", "9", "15")
    finally:
        scheduler.shutdown(wait=False)


def test_run_stops_cleanly_on_sigterm(tmp_path):
    (tmp_path / "config.toml").write_text('[database]\nurl = "sqlite:///s.db"\n[secrets]\nsecret_file = "key"\n')
    proc = subprocess.Popen([sys.executable, "-m", "matcher", "run", "--config", "config.toml"], cwd=tmp_path,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        seen = ""
        while "scheduler running" not in seen and time.monotonic() < deadline and proc.poll() is None:
            seen += proc.stdout.readline()
        assert "scheduler running" in seen, proc.stderr.read() if proc.poll() is not None else seen
        time.sleep(1.5)  # let the first poll run
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "received SIGTERM" in err and "scheduler stopped" in err


def test_the_daily_job_matches_and_sends_for_daily_smes_only(tmp_path):
    from datetime import UTC, datetime

    from helpers_digest import make_config, store_for
    from sqlmodel import select

    from matcher.ingest.notices import upsert_notice
    from matcher.schema import NoticeRecord, ProfileSpec
    from matcher.store import session_scope
    from matcher.store.models import Digest
    from matcher.store.profiles import save_profile

    now = datetime(2025, 1, 28, 9, 15, tzinfo=UTC)
    cfg = make_config(tmp_path)
    engine = store_for(cfg)
    with session_scope(engine) as s:
        for pid, cadence in (("daily-sme", "daily"), ("weekly-sme", "weekly")):
            save_profile(s, ProfileSpec(id=pid, name=pid, email=f"{pid}@example.org", cadence=cadence,
                                        capabilities="Grass cutting, hedge trimming and tree surgery for councils."))
        upsert_notice(s, NoticeRecord(key="parks", source="contracts_finder", title="Grass cutting in parks",
                                      description="Grass cutting and hedge trimming in the council's parks."))
    scheduler = build_scheduler(cfg, engine, clock=lambda: now)
    scheduler.start(paused=True)
    try:
        scheduler.get_job("daily-digest").func()  # what the trigger runs at 09:15 every day
    finally:
        scheduler.shutdown(wait=False)
    with session_scope(engine) as s:
        digests = {(d.profile_id, d.week): d.state for d in s.exec(select(Digest))}
    assert digests == {("daily-sme", "2025-01-28"): "sent"}
