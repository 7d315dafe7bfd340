"""Profiles import from JSON and CSV: bad rows are reported by line, good rows still land."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from matcher.store.profiles import read_profiles

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "matcher" / "data" / "sample_profiles.json"


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    cfg = tmp_path / "config.toml"
    if not cfg.exists():
        cfg.write_text('[database]\nurl = "sqlite:///store.db"\n')
    return subprocess.run([sys.executable, "-m", "matcher", *args, "--config", str(cfg)],
                          capture_output=True, text=True, cwd=tmp_path)


def test_sample_profiles_import_cleanly():
    report = read_profiles(SAMPLES)
    assert report.errors == []
    assert len(report.profiles) >= 5
    assert all(p.capabilities and p.email for p in report.profiles)


def test_bad_json_row_is_reported_with_its_line_and_others_imported(tmp_path):
    rows = json.loads(SAMPLES.read_text())[:3]
    rows[1]["email"] = "not-an-email"
    path = tmp_path / "p.json"
    path.write_text(json.dumps(rows, indent=1))
    line_of_second = path.read_text().splitlines().index(" {", 2) + 1
    report = read_profiles(path)
    assert [p.id for p in report.profiles] == [rows[0]["id"], rows[2]["id"]]
    assert len(report.errors) == 1
    assert f"line {line_of_second}" in report.errors[0] and "email" in report.errors[0]


def test_csv_with_same_columns_imports_and_reports_bad_line(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text(
        "id,name,email,capabilities,keywords,cpv,regions\n"
        "a1,Alpha Ltd,alpha@example.org,We clean offices,cleaning|windows,90910000,UK-wide\n"
        "a2,Beta Ltd,beta@example,We mend roofs,roofing,,North West\n"
        "a3,Gamma Ltd,gamma@example.org,We translate,translation;interpreting,7953,London\n"
    )
    report = read_profiles(path)
    assert [p.id for p in report.profiles] == ["a1", "a3"]
    assert report.profiles[0].keywords == ["cleaning", "windows"]
    assert report.profiles[1].keywords == ["translation", "interpreting"]
    assert report.profiles[1].cpv == ["79530000"]
    assert len(report.errors) == 1 and "line 3" in report.errors[0] and "a2" in report.errors[0]


def test_import_takes_a_cadence_from_json_or_csv_and_an_empty_cell_keeps_the_smes_choice(tmp_path, engine):
    from matcher.store import session_scope
    from matcher.store.models import Profile
    from sqlmodel import select

    from matcher.store.profiles import save_profiles

    (tmp_path / "p.json").write_text(json.dumps([
        {"id": "d1", "name": "Daily Ltd", "email": "d@example.org", "capabilities": "We clean", "cadence": "Daily"},
        {"id": "h1", "name": "Hourly Ltd", "email": "h@example.org", "capabilities": "We clean", "cadence": "hourly"}]))
    (tmp_path / "p.csv").write_text("id,name,email,capabilities,cadence\n"
                                    "d1,Daily Ltd,d@example.org,We clean,\n"  # empty: what the SME chose stays
                                    "w1,Weekly Ltd,w@example.org,We mend,weekly\n")
    first = read_profiles(tmp_path / "p.json")
    assert [(p.id, p.cadence) for p in first.profiles] == [("d1", "daily")]
    assert len(first.errors) == 1 and "(profile h1): cadence: Input should be 'weekly' or 'daily'" in first.errors[0]
    with session_scope(engine) as s:
        save_profiles(s, first, "p.json")
    again = read_profiles(tmp_path / "p.csv")
    assert again.errors == [] and [(p.id, p.cadence) for p in again.profiles] == [("d1", "weekly"), ("w1", "weekly")]
    with session_scope(engine) as s:
        save_profiles(s, again, "p.csv")
        assert {p.id: p.cadence for p in s.exec(select(Profile))} == {"d1": "daily", "w1": "weekly"}


def test_cli_import_then_list_show_disable(tmp_path):
    result = _cli(tmp_path, "profiles", "import", str(SAMPLES))
    assert result.returncode == 0, result.stderr
    first = json.loads(SAMPLES.read_text())[0]["id"]
    shown = _cli(tmp_path, "profiles", "show", first)
    assert json.loads(shown.stdout)["id"] == first
    assert _cli(tmp_path, "profiles", "disable", first).returncode == 0
    listed = [json.loads(line) for line in _cli(tmp_path, "profiles", "list", "--json").stdout.splitlines()]
    assert {p["id"]: p["enabled"] for p in listed}[first] is False
    again = _cli(tmp_path, "profiles", "import", str(SAMPLES))
    assert "0 added" in again.stdout


def test_add_rejects_bad_email_naming_the_option(tmp_path):
    result = _cli(tmp_path, "profiles", "add", "--id", "x", "--name", "X", "--email", "x@", "--capabilities", "We do X")
    assert result.returncode == 2
    assert "--email" in result.stderr


def test_init_twice_is_harmless(tmp_path):
    assert _cli(tmp_path, "init").returncode == 0
    assert _cli(tmp_path, "init").returncode == 0
    assert (tmp_path / "store.db").exists()
