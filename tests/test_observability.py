"""Observable: progress as bars on a terminal and log lines off one, `run --once` ends with a summary table,
Prometheus metrics at /metrics read from the store, JSON log lines on request, and `config check` warns about
settings a real service cannot use."""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from matcher.config import config_from_dict
from matcher.deliver.secrets import ensure_secret
from matcher.ingest.poll import poll_source
from matcher.progress import Progress
from matcher.replay import recording_now
from matcher.sources.registry import make_source
from matcher.store import session_scope
from matcher.store.models import Digest, NoticeIdProbe, Quarantined
from matcher.web.app import create_app

DM_NOW = recording_now("digital_marketplace")
SAMPLE_PROFILES = Path(__file__).resolve().parent.parent / "matcher" / "data" / "sample_profiles.json"


def _matcher(folder: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "matcher", *args], cwd=folder, capture_output=True, text=True,
                          timeout=900, env={**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", **(env or {})})


def test_progress_off_a_terminal_is_log_lines_and_on_one_a_bar(caplog, capsys):
    with caplog.at_level(logging.INFO, logger="matcher.progress"):
        with Progress("sell2wales", total=2, unit="window", bar=False) as p:
            p.step(note="02-2025")
            p.step()
    assert [r.getMessage() for r in caplog.records] == ["sell2wales: 1/2 windows (02-2025)", "sell2wales: 2/2 windows"]
    with Progress("match: explaining", total=3, unit="SME", bar=True) as p:
        p.step(3)
    assert "match: explaining" in capsys.readouterr().err and len(caplog.records) == 2


def test_run_once_ends_with_a_summary_table_and_logs_progress_without_a_terminal(tmp_path, replay):
    (tmp_path / "config.toml").write_text(
        '[database]\nurl = "sqlite:///store.db"\n[secrets]\nsecret_file = "key"\n'
        '[delivery]\nmode = "outbox"\n[digest]\nsend_empty = true\n'
        f'[sources.digital_marketplace]\nbase_url = "{replay.base_url("digital_marketplace")}"\n'
        'delay_seconds = 0\nlookback_days = 14\n')
    assert _matcher(tmp_path, "profiles", "import", str(SAMPLE_PROFILES)).returncode == 0
    done = _matcher(tmp_path, "run", "--once", "--now", DM_NOW.isoformat())
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "Poll" in out and "Match" in out and "Digests" in out
    assert "digital_marketplace" in out and "PollReport(" not in out and "DigestJobReport(" not in out
    row = next(line for line in out.splitlines() if "digital_marketplace" in line)
    assert "27" in row and "ok" in row  # 27 new notices, the poll succeeded
    # stderr is not a terminal here: progress came as plain log lines, without --verbose
    assert "digital_marketplace: 1/1 window" in done.stderr
    assert "match: scoring: 20/20 SMEs" in done.stderr  # per chunk of SMEs (one chunk here)


def test_json_logs_are_one_object_per_line(tmp_path):
    (tmp_path / "config.toml").write_text('[database]\nurl = "sqlite:///store.db"\n')
    done = _matcher(tmp_path, "--log-format", "json", "-v", "db", "upgrade")
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stderr.splitlines() if line.strip()]
    assert lines and all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    by_env = _matcher(tmp_path, "-v", "db", "upgrade", env={"MATCHER_LOG_FORMAT": "json"})
    assert all(json.loads(line) for line in by_env.stderr.splitlines() if line.strip())


def test_metrics_report_the_store_per_source_and_state(engine, replay, source_config, tmp_path):
    with make_source("digital_marketplace", source_config("digital_marketplace")) as src:
        report = poll_source(engine, src, DM_NOW)
    assert report.ok
    with session_scope(engine) as s:
        s.add(Quarantined(source="sell2wales", reason="no title", payload="{}", payload_hash="x" * 64))
        s.add(NoticeIdProbe(source="find_a_tender", notice_id="000123-2025"))
        s.add(NoticeIdProbe(source="find_a_tender", notice_id="000124-2025", state="residue"))
        s.add(Digest(profile_id="a", week="2020-W40", state="sent"))
        s.add(Digest(profile_id="b", week="2020-W40", state="failed"))
    cfg = config_from_dict({"secrets": {"secret_file": str(tmp_path / "key")}}, base_dir=tmp_path)
    ensure_secret(cfg)
    client = TestClient(create_app(cfg, engine, now=lambda: DM_NOW + timedelta(days=1)))
    answer = client.get("/metrics")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(answer.text) for s in family.samples}
    assert samples[("matcher_notices", (("source", "digital_marketplace"),))] == 27
    assert samples[("matcher_quarantined", (("source", "sell2wales"),))] == 1
    assert samples[("matcher_gaps_open", (("source", "find_a_tender"),))] == 1
    assert samples[("matcher_digests", (("state", "sent"),))] == 1
    assert samples[("matcher_digests", (("state", "failed"),))] == 1
    assert samples[("matcher_poll_duration_seconds", (("source", "digital_marketplace"),))] > 0
    assert samples[("matcher_last_successful_poll_timestamp_seconds", (("source", "digital_marketplace"),))] == DM_NOW.timestamp()
    assert samples[("matcher_poll_failing", (("source", "digital_marketplace"),))] == 0


def _check(tmp_path: Path, toml: str, env: dict | None = None) -> subprocess.CompletedProcess:
    (tmp_path / "config.toml").write_text(toml)
    return _matcher(tmp_path, "config", "check", "--strict", env=env)


def test_config_check_warns_about_settings_a_real_service_cannot_use(tmp_path):
    done = _check(tmp_path, '[delivery]\nmode = "outbox"\n')  # the defaults: fine for the demo, not for a service
    assert done.returncode == 1  # --strict: warnings fail the check
    err = " ".join(done.stderr.split())
    assert "digest.public_base_url: http://127.0.0.1:8080 is this machine" in err
    assert "digest.from_address: SME Opportunity Matcher <alerts@matcher.invalid> is at a reserved domain" in err
    smtp = _check(tmp_path, '[digest]\npublic_base_url = "https://alerts.example.org"\n'
                  'from_address = "Alerts <alerts@alerts.example.org>"\n[delivery]\nmode = "smtp"\n'
                  'smtp_host = "smtp.example.org"\nstarttls = true\n')
    assert smtp.returncode == 1
    assert "delivery.password_env: unset in smtp mode" in " ".join(smtp.stderr.split())
    missing = _check(tmp_path, '[digest]\npublic_base_url = "https://alerts.example.org"\n'
                     'from_address = "Alerts <alerts@alerts.example.org>"\n[delivery]\nmode = "smtp"\n'
                     'smtp_host = "smtp.example.org"\nstarttls = true\nusername = "u"\npassword_env = "MATCHER_TEST_NO_SUCH_VAR"\n')
    assert "environment variable MATCHER_TEST_NO_SUCH_VAR is not set" in " ".join(missing.stderr.split())


def test_config_check_is_quiet_for_a_production_config(tmp_path):
    done = _check(tmp_path, '[digest]\npublic_base_url = "https://alerts.example.org"\n'
                  'from_address = "Alerts <alerts@alerts.example.org>"\n[delivery]\nmode = "smtp"\n'
                  'smtp_host = "smtp.example.org"\nstarttls = true\nusername = "alerts"\npassword_env = "SMTP_PASSWORD"\n',
                  env={"SMTP_PASSWORD": "secret"})
    assert done.returncode == 0, done.stderr
    assert "warning" not in done.stderr
