"""A real PostgreSQL for the tests: MATCHER_TEST_PG_URL if set (CI sets it), else a throwaway cluster.

The throwaway cluster needs Debian's postgresql binaries; as root it runs them as the postgres user.
Without either, PostgreSQL tests are skipped locally and fail under CI (CI=true), so CI can't pass untested.
"""
from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest


def _bin_dir() -> str | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    return os.path.dirname(found[-1]) if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"PostgreSQL tests must run in CI: {reason}")
    pytest.skip(reason)


@contextmanager
def postgres_url() -> Iterator[str]:
    url = os.environ.get("MATCHER_TEST_PG_URL")
    if url:
        yield url
        return
    bindir = _bin_dir()
    if not bindir:
        _unavailable("no MATCHER_TEST_PG_URL and no PostgreSQL binaries (apt-get install postgresql)")
    as_user: list[str] = []
    if os.geteuid() == 0:
        if not shutil.which("runuser"):
            _unavailable("running as root without runuser to drop to the postgres user")
        as_user = ["runuser", "-u", "postgres", "--"]
    data = tempfile.mkdtemp(prefix="matcher-pg-")
    shutil.chown(data, "postgres") if as_user else None
    port = _free_port()
    subprocess.run(as_user + [f"{bindir}/initdb", "-D", data, "-U", "matcher", "--auth=trust", "-E", "UTF8"],
                   check=True, capture_output=True)
    opts = f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={data} -c fsync=off"
    subprocess.run(as_user + [f"{bindir}/pg_ctl", "-D", data, "-o", opts, "-w", "-l", f"{data}/log", "start"],
                   check=True, capture_output=True)
    try:
        subprocess.run([f"{bindir}/createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "matcher", "matcher_test"],
                       check=True, capture_output=True)
        yield f"postgresql://matcher@127.0.0.1:{port}/matcher_test"
    finally:
        subprocess.run(as_user + [f"{bindir}/pg_ctl", "-D", data, "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(data, ignore_errors=True)


def fresh_schema_url(base_url: str) -> Iterator[str]:
    """A new empty schema per test, so tests never see each other's rows."""
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    plain = base_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in base_url else "?"
    try:
        yield f"{base_url}{sep}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
