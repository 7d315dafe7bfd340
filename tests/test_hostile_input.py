"""Hostile input never crashes a command, never costs other rows, and is never read as terminal markup: profile
files with NUL bytes, overlong ids, CR/LF in names and huge texts (on SQLite and PostgreSQL); titles and ids
holding rich markup; files that are folders or not UTF-8; CSV cells with line breaks."""
from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers_digest import NOW, add_match, add_notice, add_profile, make_config, store_for
from sqlmodel import select

from jobs.digest import digest_job
from matcher.store import session_scope
from matcher.store.models import Profile
from matcher.store.profiles import read_profiles

GOOD = [{"id": f"good{i}", "name": f"Good {i} Ltd", "email": f"owner{i}@good.example.org",
         "capabilities": "Grounds maintenance and grass cutting"} for i in range(10)]
BAD = [
    {"id": "nul", "name": "Nul\x00 Ltd", "email": "secret.person@private.example.org", "capabilities": "cleaning"},
    {"id": "x" * 101, "name": "Long id Ltd", "email": "long.id.owner@private.example.org", "capabilities": "cleaning"},
    {"id": "crlf", "name": "Evil\r\nBcc: victim@example.org", "email": "crlf@private.example.org", "capabilities": "x"},
    {"id": "huge", "name": "Huge Ltd", "email": "huge@private.example.org", "capabilities": "word " * 400_000},
]


def _matcher(tmp_path: Path, *args: str, db_url: str | None = None) -> subprocess.CompletedProcess:
    cfg = tmp_path / "config.toml"
    if not cfg.exists():
        cfg.write_text(f'[database]\nurl = "{db_url or "sqlite:///store.db"}"\n[secrets]\nsecret_file = "key"\n')
    return subprocess.run([sys.executable, "-m", "matcher", *args, "--config", str(cfg)],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120)


def test_profile_import_stores_every_valid_row_and_reports_each_bad_one_by_line_and_field(tmp_path, db_url):
    rows = GOOD[:5] + BAD + GOOD[5:]
    path = tmp_path / "profiles.json"
    path.write_text(json.dumps(rows, indent=1))
    result = _matcher(tmp_path, "profiles", "import", str(path), db_url=db_url)
    assert result.returncode == 0, result.stderr
    assert "10 added, 0 updated, 4 rejected" in result.stdout
    lines = path.read_text().splitlines()
    starts = [i + 1 for i, line in enumerate(lines) if line == " {"]
    for row, field in zip(BAD, ["name", "id", "name", "capabilities"], strict=True):
        line = starts[rows.index(row)]
        assert any(f"line {line} " in e and f"{field}:" in e for e in result.stderr.splitlines()), (field, result.stderr)
    assert "Traceback" not in result.stderr
    assert "private.example.org" not in result.stdout + result.stderr  # no personal data in any message
    cfg = make_config(tmp_path, database={"url": db_url})
    with session_scope(store_for(cfg)) as s:
        assert sorted(p.id for p in s.exec(select(Profile))) == sorted(r["id"] for r in GOOD)


@pytest.mark.postgres
def test_a_row_the_database_refuses_costs_only_that_row_on_postgres(tmp_path, pg_url):
    from matcher.store.profiles import ImportReport, save_profiles
    from matcher.schema import ProfileSpec

    cfg = make_config(tmp_path, database={"url": pg_url})
    engine = store_for(cfg)
    report = ImportReport()
    for i, row in enumerate(GOOD[:3]):
        report.profiles.append(ProfileSpec.model_validate(row))
        report.lines.append(i + 1)
    report.profiles[1] = report.profiles[1].model_copy(update={"name": "N\x00L"})  # slipped past validation
    with session_scope(engine) as s:
        counts = save_profiles(s, report, "p.json")
    assert counts == {"added": 2, "updated": 0, "rejected": 1}
    assert "line 2" in report.errors[0] and "database refused it" in report.errors[0]
    assert "@good.example.org" not in report.errors[0]
    with session_scope(engine) as s:
        assert sorted(p.id for p in s.exec(select(Profile))) == ["good0", "good2"]
    engine.dispose()


def test_markup_in_titles_and_ids_is_printed_as_text_by_every_command(tmp_path):
    cfg = make_config(tmp_path, database={"url": f"sqlite:///{tmp_path / 'store.db'}"})
    engine = store_for(cfg)
    add_profile(engine, "acme[/b]", name="[bold]Acme[/bold] Ltd", email="acme@example.org")
    add_notice(engine, "n1", title="Catering [/bold] and [red]cleaning[/red]")
    add_match(engine, "acme[/b]", "n1", 0.9)
    (tmp_path / "config.toml").write_text(f'[database]\nurl = "sqlite:///{tmp_path / "store.db"}"\n'
                                          f'[secrets]\nsecret_env = "MATCHER_TEST_SECRET_NOT_SET"\n'
                                          f'secret_file = "secret-key"\n[delivery]\noutbox_dir = "outbox"\n')
    listed = _matcher(tmp_path, "notices", "list")
    profiles = _matcher(tmp_path, "profiles", "list")
    sent = _matcher(tmp_path, "digest", "send", "--now", NOW.isoformat())
    added = _matcher(tmp_path, "profiles", "add", "--id", "[/i]x", "--name", "[/u] Ltd", "--email", "a@b.example.org",
                     "--capabilities", "[/] cleaning")
    for result in (listed, profiles, sent, added):
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr
    assert "[/bold]" in listed.stdout.replace("\n", "")
    assert "acme[/b]" in profiles.stdout and "[bold]Acme" in profiles.stdout
    assert "acme[/b]" in sent.stdout and "1 sent" in sent.stdout
    with session_scope(engine) as s:
        assert s.get(Profile, "[/i]x") is not None  # `profiles add` did not roll back


def test_cr_lf_in_a_name_is_refused_at_import_and_at_add(tmp_path):
    path = tmp_path / "p.csv"
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, ["id", "name", "email", "capabilities"])
        w.writeheader()
        w.writerow({"id": "ok", "name": "Fine Ltd", "email": "a@fine.example.org", "capabilities": "cleaning"})
        w.writerow({"id": "bad", "name": "Bad\r\nBcc: x@example.org", "email": "b@fine.example.org", "capabilities": "x"})
    report = read_profiles(path)
    assert [p.id for p in report.profiles] == ["ok"]
    assert "line 3" in report.errors[0] and "name:" in report.errors[0] and "control character U+000D" in report.errors[0]
    added = _matcher(tmp_path, "profiles", "add", "--id", "x", "--name", "A\nB", "--email", "a@b.example.org",
                     "--capabilities", "cleaning")
    assert added.returncode == 2 and "--name" in added.stderr and "Traceback" not in added.stderr


def test_csv_keeps_line_breaks_in_quoted_cells_and_reports_the_line_a_row_starts_on(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text('id,name,email,capabilities\n'
                    'a,A Ltd,a@x.example.org,"Line one\nline two\r\nline three"\n'
                    'b,B Ltd,not-an-email,"x\ny"\n'
                    'c,C Ltd,c@x.example.org,plain\n', newline="")
    report = read_profiles(path)
    assert [p.id for p in report.profiles] == ["a", "c"]
    assert report.profiles[0].capabilities == "Line one\nline two\r\nline three"
    assert report.errors == [report.errors[0]] and f"{path}: line 5 (profile b): email:" in report.errors[0]
    assert report.lines == [2, 7]


def test_json_errors_name_the_right_line_after_a_non_object_entry(tmp_path):
    path = tmp_path / "p.json"
    path.write_text('[\n  "a string",\n  42,\n  {"id": "a", "name": "A", "email": "a@x.example.org",\n'
                    '   "capabilities": "cleaning"},\n  {"id": "b", "name": "B", "email": "bad",\n'
                    '   "capabilities": "x"}\n]\n')
    report = read_profiles(path)
    assert report.errors[:2] == [f"{path}: line 2: expected an object", f"{path}: line 3: expected an object"]
    assert report.errors[2].startswith(f"{path}: line 6 (profile b): email:")
    assert report.lines == [4]


def test_a_long_capability_text_is_quoted_in_full_once_per_email_and_the_email_stays_small(tmp_path):
    from helpers_digest import parse_eml

    long_text = " ".join(f"word{i}" for i in range(900))[:4990]  # near the 5,000-character limit
    cfg = make_config(tmp_path)
    engine = store_for(cfg)
    add_profile(engine, "long", capabilities=long_text)
    for i in range(10):
        add_notice(engine, f"n{i}", title=f"Grounds maintenance lot {i}")
        add_match(engine, "long", f"n{i}", 0.9 - i / 100, explanation={
            "summary": "Your grounds work matches.", "capabilities": [long_text], "terms": ["grounds"],
            "cpv": [], "evidence": "Grounds maintenance of parks."})
    digest_job(cfg, engine, NOW)
    eml = next((tmp_path / "outbox").rglob("*.eml"))
    assert eml.stat().st_size < 100_000
    msg = parse_eml(eml.read_bytes())
    for part in ("plain", "html"):
        body = msg.get_body((part,)).get_content()
        assert body.count("word40 word41") <= 1  # quoted at length once at most
        assert "word200" not in body  # and never the whole text


@pytest.mark.parametrize("case", ["folder", "not-utf8", "missing"])
def test_unreadable_profile_and_config_paths_get_one_clear_line(tmp_path, case):
    target = tmp_path / "input.json"
    if case == "folder":
        target.mkdir()
    elif case == "not-utf8":
        target.write_bytes(b'[{"id": "caf\xe9"}]')
    imported = _matcher(tmp_path, "profiles", "import", str(target))
    assert imported.returncode == 2 and "Traceback" not in imported.stderr
    assert str(target) in imported.stderr and len(imported.stderr.strip().splitlines()) == 1, imported.stderr
    config = tmp_path / "c.toml"
    if case == "folder":
        config.mkdir()
    elif case == "not-utf8":
        config.write_bytes(b'[digest]\nsubject = "caf\xe9"\n')
    checked = subprocess.run([sys.executable, "-m", "matcher", "config", "check", "--config", str(config)],
                             capture_output=True, text=True, cwd=tmp_path)
    assert checked.returncode == 2 and "Traceback" not in checked.stderr
    assert {"folder": "is a folder", "not-utf8": "not UTF-8", "missing": "not found"}[case] in checked.stderr
