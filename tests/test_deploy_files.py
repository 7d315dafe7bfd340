"""The deployment files hold up as far as they can be checked without a Docker daemon or a systemd host: the
compose file parses and wires app -> scheduler/web after a healthy PostgreSQL; every command the image, the
compose services and the systemd units run is a real `matcher` command; every file the Dockerfile copies
exists; the units pass `systemd-analyze verify`; the example config passes `config check --strict`."""
from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))


def _help_works(args: list[str]) -> None:
    """`matcher ARGS --help` exits 0: the command and its options exist."""
    options = [a for a in args if a.startswith("--")]
    done = subprocess.run([sys.executable, "-m", "matcher", *[a for a in args if not a.startswith("--") and a not in
                                                               _values(args)], "--help"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, (args, done.stderr)
    for option in options:
        assert option in done.stdout, (args, option)


def _values(args: list[str]) -> set[str]:
    """The values that follow options (--host 0.0.0.0): not command names."""
    return {args[i + 1] for i, a in enumerate(args[:-1]) if a.startswith("--") and not args[i + 1].startswith("--")}


def _compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def test_compose_runs_app_scheduler_and_web_after_a_healthy_postgres():
    services = _compose()["services"]
    assert set(services) == {"db", "app", "scheduler", "web"}
    assert services["db"]["image"].startswith("postgres:") and "healthcheck" in services["db"]
    assert services["app"]["depends_on"] == {"db": {"condition": "service_healthy"}}
    for name in ("scheduler", "web"):
        assert services[name]["depends_on"] == {"app": {"condition": "service_completed_successfully"}}
        assert services[name]["image"] == services["app"]["image"]  # one image, three roles
    assert services["app"]["command"] == ["init"] and services["scheduler"]["command"] == ["run"]
    assert services["web"]["command"][0] == "serve"
    env = services["scheduler"]["environment"]
    assert "PGPASSWORD" in env and "MATCHER_SECRET_KEY" in env  # secrets come from the environment


def test_every_command_the_deployment_runs_is_a_real_matcher_command():
    for name, service in _compose()["services"].items():
        if name != "db":
            _help_works(service["command"])
    for unit in UNITS:
        for line in unit.read_text().splitlines():
            if line.startswith(("ExecStart=", "ExecStartPre=")):
                words = shlex.split(line.split("=", 1)[1])
                assert words[0].endswith("/bin/matcher") and words[1] == "--config"
                _help_works(words[3:])


def test_the_dockerfile_copies_files_that_exist_and_installs_the_project():
    text = (DEPLOY / "Dockerfile").read_text()
    copies = [line.split()[1:-1] for line in text.splitlines() if line.startswith("COPY ")]
    assert copies
    for sources in copies:
        for src in sources:
            assert (ROOT / src).exists(), src
    assert "pip install ." in text and 'ENTRYPOINT ["matcher"' in text and "USER matcher" in text


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="no systemd-analyze here")
@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_systemd_units_verify(unit, tmp_path):
    matcher = Path(sys.executable).with_name("matcher")
    if not matcher.exists():
        pytest.skip("no matcher console script beside this interpreter")
    text = unit.read_text().replace("/srv/matcher/venv/bin/matcher", str(matcher))
    text = text.replace("User=matcher", "User=root").replace("Group=matcher", "Group=root")
    copy = tmp_path / unit.name
    copy.write_text(text)
    done = subprocess.run(["systemd-analyze", "verify", "--man=no", str(copy)], capture_output=True, text=True,
                          timeout=120)
    problems = [line for line in done.stderr.splitlines()
                if unit.name in line and "EnvironmentFile" not in line and "/etc/matcher" not in line]
    assert not problems, done.stderr


def test_the_example_production_config_passes_config_check_strict(tmp_path):
    done = subprocess.run([sys.executable, "-m", "matcher", "config", "check", "--strict", str(DEPLOY / "config.example.toml")],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path,
                          env={**os.environ, "SMTP_PASSWORD": "from-the-environment"})
    assert done.returncode == 0, done.stderr
    assert "warning" not in done.stderr
