"""Installable: the built wheel carries the templates, the bundled data and the migrations. Built from the
packaged files only, installed into a fresh venv, run from a folder with no checkout in sight: `matcher demo`
writes its digests, and `matcher db upgrade` upgrades a store made by release 0.1.0.

The fresh venv reaches the dependencies already installed here through a .pth file (no network, and torch is
gigabytes); pip still checks the wheel's declared dependencies against them (--no-index, no --no-deps).
"""
from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGED = ("matcher", "jobs", "templates", "README.md", "pyproject.toml", "setup.py")
FIXTURE = Path(__file__).parent / "data" / "store-0.1.0.sqlite.gz"


def _run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float = 900) -> subprocess.CompletedProcess:
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(cmd)}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("src")
    for name in PACKAGED:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(path, src / name)
    dist = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist), "."],
         cwd=src, env=os.environ.copy(), timeout=600)
    (found,) = dist.glob("sme_opportunity_matcher-*.whl")
    return found


def test_the_wheel_carries_templates_data_and_migrations(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for template in sorted(p.relative_to(ROOT / "templates") for p in (ROOT / "templates").rglob("*") if p.is_file()):
        assert f"matcher/templates/{template.as_posix()}" in names
    for migration in sorted((ROOT / "matcher/store/migrations/versions").glob("*.py")):
        assert f"matcher/store/migrations/versions/{migration.name}" in names
    assert "matcher/store/migrations/env.py" in names and "matcher/store/migrations/script.py.mako" in names
    assert "matcher/data/sample_profiles.json" in names
    assert any(n.startswith("matcher/data/replay/") for n in names)
    assert not any(n.startswith("tests/") or "__pycache__" in n for n in names)


def test_a_fresh_venv_with_the_wheel_runs_the_demo_and_upgrades_an_old_store(wheel, tmp_path):
    venv = tmp_path / "venv"
    # no pip (nor its old setuptools) in the venv: this interpreter's pip installs into it (pip --python)
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=tmp_path, env=os.environ.copy(), timeout=300)
    python = venv / "bin" / "python"
    site = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                     cwd=tmp_path, env=os.environ.copy()).stdout.strip())
    (site / "zz_shared_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-index", "-q", str(wheel)],
         cwd=tmp_path, env=env, timeout=600)

    where = _run([str(python), "-c", "import matcher, matcher.digest.render as r; print(matcher.__file__); print(r.TEMPLATES_DIR)"],
                 cwd=tmp_path, env=env).stdout.split()
    assert all(Path(p).is_relative_to(site) for p in where), where  # the installed copy, not the checkout

    demo = _run([str(venv / "bin" / "matcher"), "demo", "--dir", "demo"], cwd=tmp_path, env=env)
    assert "digests written to" in demo.stdout, demo.stdout
    written = [p for p in (tmp_path / "demo" / "outbox").rglob("*") if p.is_file()]
    assert written, "the demo wrote no digest"

    with gzip.open(FIXTURE) as f:
        (tmp_path / "old.db").write_bytes(f.read())
    (tmp_path / "config.toml").write_text('[database]\nurl = "sqlite:///old.db"\n')
    upgraded = _run([str(venv / "bin" / "matcher"), "db", "upgrade"], cwd=tmp_path, env=env)
    assert "upgraded from" in upgraded.stdout
    listed = _run([str(venv / "bin" / "matcher"), "profiles", "list", "--json"], cwd=tmp_path, env=env)
    assert len(listed.stdout.splitlines()) == 20
