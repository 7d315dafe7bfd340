"""`matcher poll`, `matcher sources status` and the scheduler's poll_job, against the replay server."""
from __future__ import annotations

import socket
from datetime import UTC, datetime

from sqlmodel import Session, func, select
from typer.testing import CliRunner

from jobs.poll import poll_job
from matcher.cli import app, common
from matcher.config import config_from_dict
from matcher.store.models import Notice, Watermark
from matcher.store import init_db, make_engine

FAST = {"delay_seconds": 0, "retry_wait_seconds": 0.01, "rate_limit_wait_seconds": 0.01, "max_retries": 1,
        "timeout_seconds": 2}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write_config(tmp_path, sources: dict) -> None:
    lines = ['[database]', 'url = "sqlite:///store.db"']
    for name, values in sources.items():
        lines.append(f"[sources.{name}]")
        lines += [f"{k} = {v!r}".replace("'", '"').replace("True", "true").replace("False", "false") for k, v in values.items()]
    (tmp_path / "config.toml").write_text("\n".join(lines) + "\n")


def test_poll_command_prints_a_summary_and_status_shows_the_store(tmp_path, replay, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(common.console, "_width", 200)  # a wide terminal (undone after: the width is not pinned)
    _write_config(tmp_path, {
        "contracts_finder": {"base_url": replay.url, "stages": ["tender", "award"], **FAST},
        "digital_marketplace": {"base_url": replay.url, "enabled": False, **FAST},
    })
    runner = CliRunner()
    polled = runner.invoke(app, ["poll", "--now", "2025-01-23T22:30:00", "--config", "config.toml"])
    assert polled.exit_code == 0, polled.output
    assert "contracts_finder" in polled.output and "digital_marketplace" not in polled.output
    assert " 91 " in polled.output  # inserted: 100 releases, 97 not planning, of 91 distinct processes
    status = runner.invoke(app, ["sources", "status", "--config", "config.toml"])
    assert status.exit_code == 0, status.output
    row = next(line for line in status.output.splitlines() if "contracts_finder" in line)
    assert "2025-01-23 22:30" in row and " 91 " in row
    assert "not configured" not in status.output and "digital_marketplace" in status.output


def test_poll_of_an_unconfigured_source_is_refused_naming_it(tmp_path, replay, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _write_config(tmp_path, {"contracts_finder": {"base_url": replay.url, **FAST}})
    result = CliRunner().invoke(app, ["poll", "--source", "find_a_tender", "--config", "config.toml"])
    assert result.exit_code == 2 and "find_a_tender" in result.output


def test_one_failing_source_does_not_stop_the_others(tmp_path, replay):
    cfg = config_from_dict({
        "database": {"url": "sqlite:///store.db"},
        "sources": {
            "digital_marketplace": {"base_url": f"http://127.0.0.1:{_free_port()}", **FAST},  # nothing listens
            "contracts_finder": {"base_url": replay.url, **FAST},
            "sell2wales": {"base_url": replay.url + "/no-such-api", **FAST},  # answers 404
        },
    }, base_dir=tmp_path)
    engine = make_engine(cfg.database_url())
    init_db(engine)
    now = datetime(2025, 1, 23, 22, 30, tzinfo=UTC)
    reports = {r.source: r for r in poll_job(cfg, engine, now)}
    assert set(reports) == {"digital_marketplace", "contracts_finder", "sell2wales"}
    assert reports["contracts_finder"].ok and reports["contracts_finder"].inserted > 0
    assert "connection failed" in reports["digital_marketplace"].error
    assert "HTTP 404" in reports["sell2wales"].error
    with Session(engine) as s:
        assert s.exec(select(func.count()).select_from(Notice)).one() == reports["contracts_finder"].inserted
        dm = s.get(Watermark, "digital_marketplace")
        assert dm.position is None and "connection failed" in dm.last_error
        assert "HTTP 404" in s.get(Watermark, "sell2wales").last_error
    engine.dispose()
