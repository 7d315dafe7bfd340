"""`matcher digest send` and `matcher digest preview` through the real CLI app and a config file."""
from __future__ import annotations

from helpers_digest import NOW, WEEK, add_match, add_notice, add_profile, make_config, store_for
from sqlmodel import select
from typer.testing import CliRunner

from matcher.cli import app
from matcher.store.models import Digest
from matcher.store import session_scope


def _config_file(tmp_path) -> str:
    path = tmp_path / "config.toml"
    path.write_text(f"""
[database]
url = "sqlite:///store.db"
[digest]
public_base_url = "https://links.example.org"
[delivery]
mode = "outbox"
outbox_dir = "outbox"
[secrets]
secret_env = "MATCHER_TEST_SECRET_NOT_SET"
secret_file = "secret-key"
""")
    return str(path)


def _seed(tmp_path):
    cfg = make_config(tmp_path, database={"url": f"sqlite:///{tmp_path / 'store.db'}"})
    engine = store_for(cfg)
    add_profile(engine, "acme")
    add_notice(engine, "n1", title="School catering <framework>")
    add_match(engine, "acme", "n1", 0.8)
    return engine


def test_preview_prints_the_digest_and_sends_nothing(tmp_path):
    engine = _seed(tmp_path)
    config = _config_file(tmp_path)
    runner = CliRunner()

    text = runner.invoke(app, ["digest", "preview", "acme", "--now", NOW.isoformat(), "--config", config])
    html = runner.invoke(app, ["digest", "preview", "acme", "--now", NOW.isoformat(), "--html", "--config", config])

    assert text.exit_code == 0, text.output
    assert "School catering <framework>" in text.stdout and "List-Unsubscribe: <https://links.example.org/" in text.stdout
    assert html.exit_code == 0 and "School catering &lt;framework&gt;" in html.stdout
    assert html.stdout.lstrip().startswith("<!DOCTYPE html>")
    with session_scope(engine) as s:
        assert s.exec(select(Digest)).all() == []
    assert not (tmp_path / "outbox").exists()


def test_preview_of_an_unknown_profile_says_so(tmp_path):
    _seed(tmp_path)
    result = CliRunner().invoke(app, ["digest", "preview", "nobody", "--config", _config_file(tmp_path)])
    assert result.exit_code == 1 and "no profile 'nobody'" in result.output


def test_send_builds_delivers_and_prints_a_table(tmp_path):
    engine = _seed(tmp_path)
    result = CliRunner().invoke(app, ["digest", "send", "--now", NOW.isoformat(), "--config", _config_file(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "acme" in result.output and "sent" in result.output
    assert (tmp_path / "outbox" / WEEK / "acme.eml").exists()
    with session_scope(engine) as s:
        assert [d.state for d in s.exec(select(Digest))] == ["sent"]


def test_send_with_a_bad_now_is_a_usage_error(tmp_path):
    result = CliRunner().invoke(app, ["digest", "send", "--now", "next tuesday", "--config", _config_file(tmp_path)])
    assert result.exit_code == 2 and "--now" in result.output
