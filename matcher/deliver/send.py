"""Sending digests: claim them as leases, compose, hand them to a transport (outbox .eml files, or SMTP), record
each outcome. The delivery guarantee (README, "Delivery guarantee") is kept here and in matcher.store.claims:

- a digest is sent only by the holder of its claim (a lease with a token, matcher.store.claims); a digest left
  in 'sending' by a killed worker is claimed again by the next run once its lease runs out;
- just before the message text goes out, the claim is checked and the handover is recorded (committed); a
  worker that dies after that point leaves an *unknown* outcome, which the next claim counts and logs, and the
  resend keeps the digest's Message-ID (made once, when the digest was built);
- a timeout or dropped connection after the text went out is also unknown (counted, resent next run); a 4xx
  or a failure before it is a plain failure (tried again); a permanent 5xx bounces the address at once;
- consecutive relay failures trip a circuit breaker (matcher.deliver.smtp): the run stops early, says why, and
  the digests not tried go back to 'created'.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import logging
import os
import queue
import re
import socket
import tempfile
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Protocol

from jinja2 import Environment
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from matcher import clock
from matcher.config import Config, DeliveryConfig
from matcher.deliver.compose_pool import ComposePool
from matcher.deliver.smtp import Job, Outcome, SmtpEngine, SmtpSettings
from matcher.deliver.tokens import LinkSigner
from matcher.digest.batch import Composed, Composer, why_not_sent
from matcher.digest.build import compose
from matcher.digest.render import template_env, to_bytes
from matcher.store import claims
from matcher.store.models import Digest, Profile, utcnow

log = logging.getLogger(__name__)


class Transport(Protocol):
    name: str

    def send(self, message: EmailMessage, digest: Digest) -> str:
        """Deliver one message; return where it went. Raise on failure."""
        ...


def _file_name(profile_id: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", profile_id).lstrip(".") or "sme"
    if safe != profile_id:  # keep two ids that clean to the same name apart
        safe += "-" + hashlib.sha1(profile_id.encode()).hexdigest()[:8]
    return safe + ".eml"


class OutboxTransport:
    """Writes <outbox_dir>/<week>/<profile_id>.eml atomically (temp file in the same folder, then rename)."""

    name = "outbox"

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path_for(self, digest: Digest) -> Path:
        return self.directory / digest.week / _file_name(digest.profile_id)

    def send(self, message: EmailMessage, digest: Digest) -> str:
        target = self.path_for(digest)
        target.parent.mkdir(parents=True, exist_ok=True)
        data = to_bytes(message)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".", suffix=".eml.tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return str(target)


class SmtpTransport:
    """SMTP through aiosmtplib (matcher.deliver.smtp): the configured relay, connections, timeouts and breaker.

    `tries` and `wait_seconds` bound the in-run retry of one message after a 4xx or a relay failure that came
    before the message text went out."""

    name = "smtp"

    def __init__(self, delivery: DeliveryConfig, tries: int = 2, wait_seconds: float = 0.5) -> None:
        self.cfg = delivery
        self.password = delivery.password()  # fails now, naming the variable, rather than mid-run
        self.settings = SmtpSettings(
            host=delivery.smtp_host, port=delivery.smtp_port, ssl=delivery.ssl, starttls=delivery.starttls,
            username=delivery.username, password=self.password,
            connect_timeout=delivery.connect_timeout_seconds, greeting_timeout=delivery.greeting_timeout_seconds,
            command_timeout=delivery.timeout_seconds, data_timeout=delivery.data_timeout_seconds,
            connections=delivery.connections, messages_per_connection=delivery.messages_per_connection,
            max_per_second=delivery.max_per_second, breaker_failures=delivery.breaker_failures,
            tries=tries, retry_wait=wait_seconds, local_hostname=delivery.helo_hostname or _fqdn(),
        )

    @property
    def where(self) -> str:
        return self.settings.where

    def send(self, message: EmailMessage, digest: Digest) -> str:
        """One message on its own connection (outside a delivery run, e.g. a test message)."""
        job = Job(digest_id=digest.id or 0, profile_id=digest.profile_id, sender=_sender(message),
                  recipients=_recipients(message), data=to_bytes(message))
        outcome: dict[str, Any] = {}

        async def ok(_: Job) -> bool:
            return True

        async def finished(_: Job, what: Outcome, error: str | None) -> None:
            outcome.update(what=what, error=error)

        once = iter([[job]])

        async def claim(_: int) -> list[Job] | None:
            return next(once, None)

        settings = SmtpSettings(**{**self.settings.__dict__, "connections": 1})
        SmtpEngine(settings).run(claim, ok, finished)
        if outcome.get("what") != "sent":
            raise DeliveryError(outcome.get("error") or f"SMTP {self.where}: not sent", outcome.get("what"))
        return f"smtp {self.where}"


_FQDN: list[str] = []


def _fqdn() -> str:
    if not _FQDN:
        _FQDN.append(socket.getfqdn() or "localhost")
    return _FQDN[0]


def _sender(message: EmailMessage) -> str:
    return message["From"].addresses[0].addr_spec


def _recipients(message: EmailMessage) -> list[str]:
    return [a.addr_spec for a in message["To"].addresses]


class DeliveryError(RuntimeError):
    """A message that could not be handed over; the text names the transport and the server's answer.
    `outcome` is how the attempt ended (matcher.deliver.smtp.Outcome), where known."""

    def __init__(self, message: str, outcome: str | None = None) -> None:
        super().__init__(message)
        self.outcome = outcome

    @property
    def transient(self) -> bool:
        """Worth another try: the relay said 4xx, failed before the text went, or the run never tried it. Never
        after a 5xx (bounced), nor after an unknown outcome (the text may have gone)."""
        return self.outcome in ("failed", "released")


def transport_for(cfg: Config) -> Transport:
    if cfg.delivery.mode == "smtp":
        return SmtpTransport(cfg.delivery)
    return OutboxTransport(cfg.path(cfg.delivery.outbox_dir))


@dataclass
class DeliveryResult:
    week: str
    outcomes: Counter = field(default_factory=Counter)  # sent, failed, dead, bounced, unknown, skipped, released
    errors: list[tuple[str, str]] = field(default_factory=list)  # (profile_id, error)
    sent_to: list[str] = field(default_factory=list)  # where each sent message went (outbox paths; SMTP: relay)
    stopped: str | None = None  # why the run stopped early (circuit breaker, stop asked for)
    unknown: int = 0  # outcomes that were unknown: this run's, and those found on claiming after a killed run
    in_flight: int = 0  # digests of the week still claimed by another sender (or a killed one, until its lease ends)

    def summary(self) -> str:
        parts = [f"{n} {what}" for what, n in sorted(self.outcomes.items())]
        if self.unknown:
            parts.append(f"{self.unknown} with an unknown outcome (resent with the same Message-ID; may be duplicates)")
        if self.in_flight:
            parts.append(f"{self.in_flight} claimed by another sender (taken over once its lease runs out)")
        text = "delivery: " + (", ".join(parts) or "nothing to send")
        return text + (f"\nstopped early: {self.stopped}" if self.stopped else "")


@dataclass
class _Claimed:
    digest: Digest
    profile: Profile
    message: EmailMessage


def _compose_claimed(session: Session, cfg: Config, now: datetime, env: Environment, signer: LinkSigner,
                     ids: list[int], token: str, result: DeliveryResult) -> list[_Claimed]:
    """Load and compose what was claimed; a digest whose SME left (or is paused) is 'skipped', saying why."""
    out = []
    for digest_id in ids:
        digest = session.get(Digest, digest_id)
        if digest is None:
            continue
        profile = session.get(Profile, digest.profile_id)
        why = why_not_sent(profile)
        if why:
            claims.skip(session, digest_id, token, f"{why} before the digest was sent")
            result.outcomes["skipped"] += 1
            continue
        try:
            message = compose(session, cfg, digest, profile, now, env, signer)
        except Exception as e:  # noqa: BLE001 - one digest that cannot be composed must not stop the others
            error = f"could not compose: {type(e).__name__}: {e}"
            log.warning("digest %s for %s: %s", digest_id, digest.profile_id, error)
            claims.mark_failed(session, digest_id, token, error, cfg.digest.max_attempts)
            result.outcomes["failed"] += 1
            result.errors.append((digest.profile_id, error))
            continue
        out.append(_Claimed(digest, profile, message))
    session.commit()
    session.expunge_all()
    return out


def deliver_digests(session: Session, cfg: Config, now: datetime, transport: Transport | None = None,
                    week: str | None = None, stop: threading.Event | None = None) -> DeliveryResult:
    """Claim, compose and send every pending digest of the week (default: the week of `now`), including those
    a killed worker left in 'sending' past their lease."""
    week = week or clock.week_of(now, cfg.digest.timezone)
    result = DeliveryResult(week=week)
    transport = transport or transport_for(cfg)
    env, signer = template_env(), LinkSigner.from_config(cfg)  # fail before claiming anything
    session.commit()
    engine = session.get_bind()
    token = uuid.uuid4().hex
    lease = timedelta(seconds=cfg.delivery.lease_seconds)
    if isinstance(transport, SmtpTransport):
        _deliver_smtp(engine, cfg, now, transport, week, token, lease, env, signer, result, stop)
    else:
        _deliver_one_by_one(session, cfg, now, transport, week, token, lease, env, signer, result, stop)
    result.in_flight = claims.in_flight(session, week, lease)
    session.commit()
    if result.unknown:
        log.warning("%s: %d send(s) with an unknown outcome (each resent with the same Message-ID)", week, result.unknown)
    if result.stopped:
        log.error("%s: delivery stopped early: %s", week, result.stopped)
    return result


def _claim(session: Session, week: str, n: int, token: str, lease: timedelta, result: DeliveryResult) -> list[int]:
    ids, unknown = claims.claim_batch(session, week, n, token, lease)
    if unknown:
        result.unknown += unknown
        result.outcomes["recovered-unknown"] += unknown
    return ids


def _deliver_one_by_one(session: Session, cfg: Config, now: datetime, transport: Transport, week: str, token: str,
                        lease: timedelta, env: Environment, signer: LinkSigner, result: DeliveryResult,
                        stop: threading.Event | None) -> None:
    while not (stop is not None and stop.is_set()):
        ids = _claim(session, week, 50, token, lease, result)
        if not ids:
            return
        batch = _compose_claimed(session, cfg, now, env, signer, ids, token, result)
        for i, item in enumerate(batch):
            if stop is not None and stop.is_set():
                claims.release(session, [c.digest.id for c in batch[i:]], token)  # type: ignore[misc]
                session.commit()
                result.stopped = "a stop was asked for"
                return
            digest = item.digest
            if not claims.mark_handover(session, digest.id, token, lease):  # type: ignore[arg-type]
                session.commit()
                result.outcomes["released"] += 1
                continue
            session.commit()
            try:
                where = transport.send(item.message, digest)
            except Exception as e:  # recorded on the digest and retried on the next run
                error = str(e) if isinstance(e, DeliveryError) else f"{type(e).__name__}: {e}"
                log.warning("digest %s for %s not sent: %s", digest.id, digest.profile_id, error)
                state = claims.mark_failed(session, digest.id, token, error, cfg.digest.max_attempts)  # type: ignore[arg-type]
                session.commit()
                result.errors.append((digest.profile_id, error))
                result.outcomes[state or "released"] += 1
                continue
            claims.mark_sent(session, digest.id, token, digest.profile_id, bool(item.profile.bounces))  # type: ignore[arg-type]
            session.commit()
            result.sent_to.append(where)
            result.outcomes["sent"] += 1


_CLOSE = object()
COMPOSE_CHUNK = 4  # digests composed between two turns of the sending loop
POOL_FROM = 1000  # a run with fewer digests composes them itself (starting workers takes seconds of CPU)
POOL_CHUNK = 8  # digests handed to a composing worker at once


class StoreWriter:
    """One thread with one Session doing the store work of an SMTP run, in order. Marks that arrive together
    (from several connections) share one commit; a claim runs on its own."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.queue: queue.Queue = queue.Queue()
        self.thread = threading.Thread(target=self._run, name="deliver-store", daemon=True)
        self.thread.start()

    def submit(self, fn: Callable[[Session], Any], alone: bool = False) -> concurrent.futures.Future:
        future: concurrent.futures.Future = concurrent.futures.Future()
        self.queue.put((fn, future, alone))
        return future

    async def call(self, fn: Callable[[Session], Any], alone: bool = False) -> Any:
        return await asyncio.wrap_future(self.submit(fn, alone))

    def close(self) -> None:
        self.queue.put(_CLOSE)
        self.thread.join()

    def _run(self) -> None:
        with Session(self.engine, expire_on_commit=False) as session:
            held = None
            while True:
                item = held if held is not None else self.queue.get()
                held = None
                if item is _CLOSE:
                    return
                group = [item]
                while not item[2] and len(group) < 500:
                    try:
                        nxt = self.queue.get_nowait()
                    except queue.Empty:
                        break
                    if nxt is _CLOSE or nxt[2]:
                        held = nxt
                        break
                    group.append(nxt)
                self._do(session, group)

    @staticmethod
    def _do(session: Session, group: list) -> None:
        try:
            results = [fn(session) for fn, _, _ in group]
            session.commit()
        except Exception:  # noqa: BLE001 - retried one by one so one bad mark cannot sink the others
            session.rollback()
            for fn, future, _ in group:
                try:
                    value = fn(session)
                    session.commit()
                    future.set_result(value)
                except Exception as e:  # noqa: BLE001
                    session.rollback()
                    future.set_exception(e)
            return
        for (_, future, _), value in zip(group, results, strict=True):
            future.set_result(value)


SENT_WAIT = 0.05  # seconds a sent mark waits for a handover to share its transaction with


class _GroupCommit:
    """The handover and sent marks of all connections, gathered on the sending loop and written by the store
    thread as one UPDATE each in one transaction (group commit): while one transaction is being committed, the
    marks that arrive meanwhile wait for the next. A handover still returns only once its mark is committed,
    so the text never goes out before it; a sent mark is never waited for (a run killed first leaves the
    digest handed over: an unknown outcome, resent with the same Message-ID)."""

    def __init__(self, writer: StoreWriter, token: str, lease: timedelta) -> None:
        self.writer, self.token, self.lease = writer, token, lease
        self.handovers: list[tuple[int, asyncio.Future]] = []
        self.sents: list[tuple[int, str, bool]] = []
        self.busy = False

    async def handover(self, digest_id: int) -> bool:
        future = asyncio.get_running_loop().create_future()
        self.handovers.append((digest_id, future))
        self._kick()
        return await future

    def sent(self, digest_id: int, profile_id: str, was_bouncing: bool) -> None:
        """Rides with the next handover's transaction (no commit of its own), or goes within SENT_WAIT."""
        self.sents.append((digest_id, profile_id, was_bouncing))
        if len(self.sents) == 1:
            asyncio.get_running_loop().call_later(SENT_WAIT, self._kick)

    def _kick(self) -> None:
        if self.busy or not (self.handovers or self.sents):
            return  # (sent marks left waiting go with the group after the one being committed)
        handovers, sents = self.handovers, self.sents
        self.handovers, self.sents, self.busy = [], [], True
        token, lease = self.token, self.lease

        def write(session: Session) -> set[int]:
            claims.mark_sent_many(session, sents, token)
            return claims.mark_handovers(session, [d for d, _ in handovers], token, lease)

        loop = asyncio.get_running_loop()
        done = self.writer.submit(write)
        done.add_done_callback(lambda f: loop.call_soon_threadsafe(self._done, f, handovers))

    def _done(self, done: concurrent.futures.Future, handovers: list[tuple[int, asyncio.Future]]) -> None:
        self.busy = False
        error = done.exception()
        for digest_id, future in handovers:
            if not future.done():
                if error is not None:
                    future.set_exception(error)
                else:
                    future.set_result(digest_id in done.result())
        self._kick()

    async def close(self) -> None:
        """Wait until every mark handed in is committed."""
        while self.busy or self.sents or self.handovers:
            self._kick()
            await asyncio.sleep(0.005)


def _deliver_smtp(engine: Engine, cfg: Config, now: datetime, transport: SmtpTransport, week: str, token: str,
                  lease: timedelta, env: Environment, signer: LinkSigner, result: DeliveryResult,
                  stop: threading.Event | None) -> None:
    writer = StoreWriter(engine)
    max_attempts = cfg.digest.max_attempts
    max_bounces = cfg.delivery.max_hard_bounces
    composer = Composer(cfg, now, env, signer)
    pool = None
    if cfg.delivery.compose_workers and _pending(engine, week, lease) >= POOL_FROM:
        pool = ComposePool(cfg, now, signer, cfg.delivery.compose_workers)

    def recorded(c: Composed) -> Job | None:
        """A composed digest as a Job; one skipped or that could not be composed is recorded as such."""
        if c.skip:
            writer.submit(lambda s: claims.skip(s, c.digest_id, token, f"{c.skip} before the digest was sent"))
            result.outcomes["skipped"] += 1
            return None
        if c.error:
            writer.submit(lambda s: claims.mark_failed(s, c.digest_id, token, c.error or "", max_attempts))
            result.outcomes["failed"] += 1
            result.errors.append((c.profile_id, c.error))
            return None
        return Job(digest_id=c.digest_id, profile_id=c.profile_id, sender=c.sender, recipients=list(c.recipients),
                   data=c.data, extra={"bouncing": c.bouncing})

    async def compose_here(ids: list[int]) -> list[Composed]:
        """On the sending loop's own thread, a few at a time, so the connections go on sending (and the store
        on committing) in between, and no second thread fights this one for the interpreter."""
        out: list[Composed] = []
        for start in range(0, len(ids), COMPOSE_CHUNK):
            with Session(engine, expire_on_commit=False) as reading:
                out += composer.compose(reading, ids[start:start + COMPOSE_CHUNK])
            await asyncio.sleep(0)
        return out

    async def compose_there(ids: list[int]) -> list[Composed]:
        chunks = [ids[i:i + POOL_CHUNK] for i in range(0, len(ids), POOL_CHUNK)]
        out: list[Composed] = []
        for chunk, composed in zip(chunks, await asyncio.gather(*(pool.compose(c) for c in chunks)), strict=True):  # type: ignore[union-attr]
            out += composed if composed is not None else await compose_here(chunk)
        return out

    async def claim(n: int) -> list[Job] | None:
        """Claims are made by the store's thread; the claimed digests are composed by the workers, or here."""
        ids = await writer.call(lambda s: _claim(s, week, n, token, lease, result), alone=True)
        if not ids:
            return None
        composed = await (compose_there(ids) if pool is not None and pool.ready else compose_here(ids))
        return [j for j in map(recorded, composed) if j is not None]

    marks = _GroupCommit(writer, token, lease)

    async def handover(job: Job) -> bool:
        return await marks.handover(job.digest_id)

    async def finished(job: Job, outcome: Outcome, error: str | None) -> None:
        if outcome == "sent":
            marks.sent(job.digest_id, job.profile_id, job.extra["bouncing"])
            result.outcomes["sent"] += 1
            result.sent_to.append(f"smtp {transport.where}")
            return
        if outcome == "released":
            writer.submit(lambda s: claims.release(s, [job.digest_id], token))
            result.outcomes["released"] += 1
            return
        result.errors.append((job.profile_id, error or outcome))
        if outcome == "bounced":
            writer.submit(lambda s: claims.mark_bounced(s, job.digest_id, token, job.profile_id, error or "", max_bounces))
            result.outcomes["bounced"] += 1
            return
        state = await writer.call(lambda s: claims.mark_failed(s, job.digest_id, token, error or "", max_attempts,
                                                               unknown=outcome == "unknown"))
        if outcome == "unknown":
            result.unknown += 1
            result.outcomes["unknown"] += 1
        else:
            result.outcomes[state or "released"] += 1

    try:
        async def run() -> Any:
            try:
                return await SmtpEngine(transport.settings).run_async(claim, handover, finished, stop)
            finally:
                await marks.close()  # every sent mark committed before the run returns

        summary = asyncio.run(run())
        result.stopped = summary.stopped
    finally:
        writer.close()
        if pool is not None:
            pool.close()


def _pending(engine: Engine, week: str, lease: timedelta) -> int:
    """How many digests of the week a run would claim (worth starting composing workers for?)."""
    with Session(engine) as session:
        stmt = select(func.count()).select_from(Digest).where(Digest.week == week, claims.claimable(utcnow(), lease))
        return session.exec(stmt).one()
