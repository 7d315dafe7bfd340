"""Config values are strict (no silent coercion), URLs and addresses are checked, and secrets stay out of output."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from matcher.config import ConfigError, config_from_dict, mask_url
from matcher.deliver.secrets import signing_key

SOURCE = {"base_url": "https://www.contractsfinder.service.gov.uk"}


def _err(data: dict) -> str:
    with pytest.raises(ConfigError) as e:
        config_from_dict(data)
    return str(e.value)


@pytest.mark.parametrize("data, key", [
    ({"sources": {"contracts_finder": {**SOURCE, "enabled": "off"}}}, "sources.contracts_finder.enabled"),
    ({"delivery": {"smtp_port": "25"}}, "delivery.smtp_port"),
    ({"digest": {"send_empty": 1}}, "digest.send_empty"),
    ({"sources": {"contracts_finder": {"base_url": "http://"}}}, "sources.contracts_finder.base_url"),
    ({"sources": {"contracts_finder": {"base_url": "http://host:port"}}}, "sources.contracts_finder.base_url"),
    ({"digest": {"public_base_url": "not a url"}}, "digest.public_base_url"),
    ({"digest": {"public_base_url": "/relative/path"}}, "digest.public_base_url"),
    ({"digest": {"public_base_url": "ftp://files.example.org"}}, "digest.public_base_url"),
    ({"digest": {"from_address": "nobody"}}, "digest.from_address"),
    ({"digest": {"from_address": "Alerts <alerts@>"}}, "digest.from_address"),
    ({"digest": {"from_address": "A\r\nBcc: x@example.org <a@example.org>"}}, "digest.from_address"),
])
def test_a_wrong_value_is_an_error_naming_the_key_never_converted(data, key):
    assert f"{key}:" in _err(data)


@pytest.mark.parametrize("sender", ["alerts@matcher.invalid", "alerts@localhost", "a@mail.test", "a@intranet"])
def test_smtp_mode_needs_a_real_sender_domain(sender):
    message = _err({"delivery": {"mode": "smtp"}, "digest": {"from_address": f"Alerts <{sender}>"}})
    assert "digest.from_address" in message and "cannot send real mail" in message
    config_from_dict({"delivery": {"mode": "outbox"}, "digest": {"from_address": f"Alerts <{sender}>"}})  # fine


def test_good_values_still_load():
    cfg = config_from_dict({"sources": {"contracts_finder": {**SOURCE, "window_hours": 24, "enabled": False}},
                            "delivery": {"mode": "smtp", "timeout_seconds": 5},
                            "digest": {"from_address": "Alerts <alerts@matcher.example.org>", "time": "07:30",
                                       "public_base_url": "https://links.example.org/matcher"}})
    assert cfg.sources["contracts_finder"].window_hours == 24.0 and cfg.digest.time.hour == 7


def test_mask_url_hides_only_the_password():
    assert mask_url("postgresql+psycopg://matcher:s3cr3t@db:5432/m") == "postgresql+psycopg://matcher:***@db:5432/m"
    assert mask_url("postgresql://db/m") == "postgresql://db/m"
    assert mask_url("sqlite:///store.db") == "sqlite:///store.db"


def _matcher(tmp_path: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "matcher", *args], capture_output=True, text=True, cwd=tmp_path,
                          env={**os.environ, **(env or {})}, timeout=120)


def test_config_check_init_and_errors_never_print_a_database_password(tmp_path):
    (tmp_path / "config.toml").write_text('[database]\nurl = "postgresql://matcher:Hunter2Secret@127.0.0.1:9/m"\n'
                                          '[secrets]\nsecret_file = "key"\n')
    checked = _matcher(tmp_path, "config", "check")
    assert checked.returncode == 0 and "matcher:***@127.0.0.1:9/m" in checked.stdout
    init = _matcher(tmp_path, "init")  # nothing listens on port 9: fails, and says where without the password
    assert init.returncode != 0
    (tmp_path / "bad.toml").write_text('[database]\nurl = "mysql://matcher:Hunter2Secret@db/m"\n')
    bad = _matcher(tmp_path, "config", "check", "--config", "bad.toml")
    assert bad.returncode == 2 and "database.url" in bad.stderr
    for result in (checked, init, bad):
        assert "Hunter2Secret" not in result.stdout + result.stderr


def test_a_short_signing_key_is_refused_from_the_environment_and_from_the_file(tmp_path, monkeypatch):
    cfg = config_from_dict({"secrets": {"secret_env": "MATCHER_TEST_KEY", "secret_file": str(tmp_path / "k")}})
    monkeypatch.setenv("MATCHER_TEST_KEY", "x")
    with pytest.raises(ConfigError, match="MATCHER_TEST_KEY holds a key of 1 characters; at least 32"):
        signing_key(cfg)
    monkeypatch.setenv("MATCHER_TEST_KEY", "k" * 32)
    assert signing_key(cfg) == "k" * 32
    monkeypatch.delenv("MATCHER_TEST_KEY")
    (tmp_path / "k").write_text("short-key-of-20-chr")
    with pytest.raises(ConfigError, match="shorter than 32"):
        signing_key(cfg)
    (tmp_path / "config.toml").write_text('[database]\nurl = "sqlite:///s.db"\n[secrets]\nsecret_env = "MY_KEY"\n')
    init = _matcher(tmp_path, "init", env={"MY_KEY": "abc"})
    assert init.returncode == 2 and "MY_KEY" in init.stderr and "Traceback" not in init.stderr
