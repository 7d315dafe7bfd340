"""Composing workers (matcher.deliver.compose_pool) end with their sender, even when it is killed with -9."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

from helpers_digest import make_config, store_for


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] not in "ZX"  # a zombie has ended
    except FileNotFoundError:
        return False


def test_composing_workers_end_within_seconds_of_their_sender_being_killed(tmp_path):
    cfg = make_config(tmp_path)
    store_for(cfg).dispose()
    sender = textwrap.dedent(f"""
        import multiprocessing, sys, time
        from datetime import UTC, datetime
        from matcher.config import load_config
        from matcher.deliver.compose_pool import ComposePool
        from matcher.deliver.tokens import LinkSigner

        if __name__ == "__main__":
            cfg = load_config({str(tmp_path / 'matcher.toml')!r})
            pool = ComposePool(cfg, datetime.now(UTC), LinkSigner("k" * 40, "https://x.example.org"), 2)
            pool.started.result(timeout=120)
            print(" ".join(str(p.pid) for p in multiprocessing.active_children()),
                  flush=True)
            time.sleep(600)
    """)
    (tmp_path / "matcher.toml").write_text(f'[database]\nurl = "{cfg.database_url()}"\n')
    proc = subprocess.Popen([sys.executable, "-c", sender], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    try:
        workers = [int(p) for p in proc.stdout.readline().split()]  # type: ignore[union-attr]
        assert workers and all(_alive(p) for p in workers)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(_alive(p) for p in workers)
