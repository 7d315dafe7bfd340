"""Bad config stops start-up with the key named; `matcher config check` validates and prints."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from matcher.config import ConfigError, load_config

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "config.toml"


def _matcher(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "matcher", *args], capture_output=True, text=True, cwd=cwd or ROOT)


def _variant(tmp_path: Path, old: str, new: str) -> Path:
    text = SHIPPED.read_text()
    assert old in text, f"shipped config.toml no longer contains {old!r}"
    p = tmp_path / "config.toml"
    p.write_text(text.replace(old, new, 1))
    return p


def test_shipped_config_passes_check():
    result = _matcher("config", "check", str(SHIPPED))
    assert result.returncode == 0, result.stderr
    assert "[matching]" in result.stdout and "threshold" in result.stdout


def test_string_threshold_fails_check_naming_the_key(tmp_path):
    bad = _variant(tmp_path, "threshold = 0.", 'threshold = "high" # 0.')
    result = _matcher("config", "check", str(bad))
    assert result.returncode != 0
    assert "matching.threshold" in result.stderr


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ("top_k = ", "top_kk = ", "matching.top_kk: unknown key"),
        ("min_days_to_close = ", "min_days_to_close = -4 # ", "matching.min_days_to_close"),
        ('mode = "outbox"', 'mode = "pigeon"', "delivery.mode"),
        ('timezone = "Europe/London"', 'timezone = "Mars/Olympus"', "digest.timezone"),
        ("page_size = 100", "page_size = 1000", "sources.contracts_finder.page_size"),
        ('weekday = "mon"', 'weekday = "someday"', "digest.weekday"),
    ],
)
def test_bad_value_raises_error_naming_key(tmp_path, old, new, key):
    with pytest.raises(ConfigError) as err:
        load_config(_variant(tmp_path, old, new))
    assert key in str(err.value)


def test_any_command_refuses_to_start_on_bad_config(tmp_path):
    bad = _variant(tmp_path, "threshold = 0.", "threshold = 7 # 0.")
    result = _matcher("profiles", "list", "--config", str(bad))
    assert result.returncode == 2
    assert "matching.threshold" in result.stderr


def test_unknown_source_is_named(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text('[sources.tenders_electronic_daily]\nbase_url = "https://example.invalid"\n')
    with pytest.raises(ConfigError, match="sources: .*unknown source 'tenders_electronic_daily'"):
        load_config(p)


def test_missing_file_is_reported(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.toml")


def test_smtp_password_comes_from_named_environment_variable(tmp_path, monkeypatch):
    cfg = load_config(_variant(tmp_path, '# password_env = "MATCHER_SMTP_PASSWORD"', 'password_env = "MY_SMTP_PW"'))
    monkeypatch.delenv("MY_SMTP_PW", raising=False)
    with pytest.raises(ConfigError, match="delivery.password_env: environment variable MY_SMTP_PW is not set"):
        cfg.delivery.password()
    monkeypatch.setenv("MY_SMTP_PW", "s3cret")
    assert cfg.delivery.password() == "s3cret"
