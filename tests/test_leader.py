"""One leader among several `matcher run` processes on one store: only it polls and runs the weekly job; the
others wait, and one takes over when the leader is killed (SIGKILL: no clean-up). On real PostgreSQL (advisory
lock) with two and three processes, and on SQLite (file lock)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest


LEADS = "leader: this process"
WAITS = "waiting to take over"


class Runner:
    """A `matcher -v run` process, its stderr in a file."""

    def __init__(self, folder: Path, n: int):
        self.log = folder / f"run{n}.log"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "matcher", "-v", "run", "--config", str(folder / "config.toml")], cwd=folder,
            env={**os.environ, "PYTHONUNBUFFERED": "1"}, stdout=subprocess.DEVNULL, stderr=self.log.open("w"))

    def text(self) -> str:
        return self.log.read_text()

    def polled(self) -> bool:
        return "contracts_finder: window" in self.text()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _until(condition, timeout: float = 90.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _config(folder: Path, url: str, replay) -> None:  # noqa: ANN001
    (folder / "config.toml").write_text(
        f'[database]\nurl = "{url}"\n[secrets]\nsecret_file = "key"\n'
        f'[scheduler]\nleader_check_seconds = 0.3\n'
        f'[sources.contracts_finder]\nbase_url = "{replay.base_url("contracts_finder")}"\ndelay_seconds = 0\n'
        f'lookback_days = 2\nretry_wait_seconds = 0.1\n')


def _elect_and_take_over(folder: Path, count: int) -> None:
    runners = [Runner(folder, 0)]
    try:
        _until(lambda: LEADS in runners[0].text(), what="the first process to lead")
        _until(runners[0].polled, what="the leader's first poll")
        runners += [Runner(folder, n) for n in range(1, count)]
        _until(lambda: all(WAITS in r.text() for r in runners[1:]), what="the others to wait")
        time.sleep(1.0)  # a few lock checks: still nobody else leads, and only the leader polled
        assert [LEADS in r.text() for r in runners] == [True] + [False] * (count - 1)
        assert [r.polled() for r in runners] == [True] + [False] * (count - 1)

        runners[0].proc.send_signal(signal.SIGKILL)  # no clean-up: the store must notice by itself
        runners[0].proc.wait(timeout=30)
        _until(lambda: sum(LEADS in r.text() for r in runners[1:]) >= 1, what="a waiting process to take over")
        time.sleep(1.5)
        new = [r for r in runners[1:] if LEADS in r.text()]
        assert len(new) == 1, [r.text()[-500:] for r in runners[1:]]
        _until(new[0].polled, what="the new leader's poll")
        assert sum(r.polled() for r in runners[1:]) == 1  # the still-waiting ones never polled
        for r in runners[1:]:
            r.stop()
            assert r.proc.returncode == 0, r.text()[-2000:]
            assert "scheduler stopped" in r.text()
    finally:
        for r in runners:
            if r.proc.poll() is None:
                r.proc.kill()
                r.proc.wait()


@pytest.mark.postgres
def test_two_schedulers_on_postgres_one_leads_the_other_takes_over_when_it_is_killed(tmp_path, replay, pg_url):
    _config(tmp_path, pg_url, replay)
    _elect_and_take_over(tmp_path, 2)


@pytest.mark.postgres
def test_three_schedulers_on_postgres_exactly_one_takes_over(tmp_path, replay, pg_url):
    _config(tmp_path, pg_url, replay)
    _elect_and_take_over(tmp_path, 3)


def test_two_schedulers_on_sqlite_one_leads_the_other_takes_over_when_it_is_killed(tmp_path, replay):
    _config(tmp_path, "sqlite:///store.db", replay)
    _elect_and_take_over(tmp_path, 2)


def test_run_once_refuses_to_run_beside_a_leading_scheduler(tmp_path, replay):
    _config(tmp_path, "sqlite:///store.db", replay)
    leader = Runner(tmp_path, 0)
    try:
        _until(lambda: LEADS in leader.text(), what="the scheduler to lead")
        once = subprocess.run([sys.executable, "-m", "matcher", "run", "--once", "--config", "config.toml"],
                              cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert once.returncode == 1
        assert "leads on this store" in once.stderr and "Traceback" not in once.stderr
    finally:
        leader.stop()
