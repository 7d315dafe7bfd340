"""Composing digests in worker processes beside the sender (delivery.compose_workers), so that rendering
runs on another core while the sender's one thread talks SMTP and its store thread commits.

Composing only reads the store: each worker has its own engine and its own Composer (matcher.digest.batch),
is handed the ids of digests the sender has already claimed, and hands back their bytes. Every claim, fence
and outcome stays with the sender, so the delivery guarantee does not depend on the workers: a worker that
dies costs nothing but time (the sender composes that batch itself). Workers ignore SIGINT and SIGTERM, so a
stop asked of the sender finishes what is in flight; they end with the run, or within a second of the
sender's death (kill -9 included: each watches its parent).
"""
from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime
from typing import Any

from matcher.config import Config
from matcher.deliver.tokens import LinkSigner
from matcher.digest.batch import Composed, Composer

log = logging.getLogger(__name__)

_worker: dict[str, Any] = {}


def _orphaned(parent: int) -> None:
    """End this worker once the sender is gone (killed: nobody would ever read what it composes)."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)


def _start(cfg: Config, now: datetime, signer: LinkSigner) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    threading.Thread(target=_orphaned, args=(os.getppid(),), daemon=True, name="compose-orphan-watch").start()
    from matcher.digest.render import template_env
    from matcher.store import make_engine

    _worker["engine"] = make_engine(cfg.database_url())
    _worker["composer"] = Composer(cfg, now, template_env(), signer)


def _compose(digest_ids: list[int]) -> list[Composed]:
    from sqlmodel import Session

    with Session(_worker["engine"], expire_on_commit=False) as session:
        return _worker["composer"].compose(session, digest_ids)


class ComposePool:
    """`workers` processes composing for one run (one config, one `now`, one signing key)."""

    def __init__(self, cfg: Config, now: datetime, signer: LinkSigner, workers: int) -> None:
        self.pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                        initializer=_start, initargs=(cfg, now, signer))
        self.failed = False
        self.started = self.pool.submit(_compose, [])  # done once the workers are up (importing takes seconds)

    @property
    def ready(self) -> bool:
        """The workers are up; until then the sender composes for itself rather than wait."""
        return self.started.done() and not self.failed

    async def compose(self, digest_ids: list[int]) -> list[Composed] | None:
        """The digests composed by a worker; None if the pool broke (the caller composes them itself)."""
        if self.failed:
            return None
        try:
            return await asyncio.wrap_future(self.pool.submit(_compose, digest_ids))
        except Exception as e:  # noqa: BLE001 - a broken worker must not cost the run: the sender composes
            if not self.failed:
                log.warning("composing workers stopped (%s: %s); the sender composes the rest itself", type(e).__name__, e)
            self.failed = True
            return None

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
