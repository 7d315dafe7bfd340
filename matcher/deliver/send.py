"""Sending digests: one interface, two transports (outbox .eml files, or SMTP through aiosmtplib).

The send protocol (GOV.UK Notify style): a digest is sent only after a conditional UPDATE claims it
(matcher.store.claims.claim_digest: created/failed -> sending); success -> 'sent'; failure -> 'failed' with last_error, tried
again on the next run until digest.max_attempts, then 'dead'. A digest whose SME unsubscribed (or was
disabled) after it was built is 'skipped'. Sending is at most once per (SME, week): a 'sent' digest is never
claimed again.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

import aiosmtplib
from jinja2 import Environment
from sqlalchemy import update
from sqlmodel import Session, col, select
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from matcher import clock
from matcher.config import Config, DeliveryConfig
from matcher.digest.build import PENDING_STATES, compose
from matcher.store.claims import claim_digest, finish_digest
from matcher.store.models import Digest, Profile
from matcher.digest.render import template_env, to_bytes
from matcher.deliver.tokens import LinkSigner

log = logging.getLogger(__name__)

# a claim older than this is taken to be from a worker that died mid-send (matcher.store.claims.claim_digest)
STALE_CLAIM = timedelta(minutes=30)


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


def _transient(exc: BaseException) -> bool:
    """Worth another try within this run: a 4xx answer, or the connection failing."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        return bool(exc.recipients) and all(400 <= r.code < 500 for r in exc.recipients)
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return 400 <= exc.code < 500
    return isinstance(exc, (OSError, asyncio.TimeoutError))


class SmtpTransport:
    """aiosmtplib.send with the configured host, port, TLS mode and login; a short retry on transient errors."""

    name = "smtp"

    def __init__(self, delivery: DeliveryConfig, tries: int = 3, wait_seconds: float = 0.5) -> None:
        self.cfg = delivery
        self.password = delivery.password()  # fails now, naming the variable, rather than mid-run
        self.tries = tries
        self.wait_seconds = wait_seconds

    def send(self, message: EmailMessage, digest: Digest) -> str:
        retrying = Retrying(
            stop=stop_after_attempt(self.tries),
            wait=wait_exponential(multiplier=self.wait_seconds, max=10),
            retry=retry_if_exception(_transient),
            reraise=True,
        )
        where = f"{self.cfg.smtp_host}:{self.cfg.smtp_port}"
        try:
            for attempt in retrying:
                with attempt:
                    asyncio.run(self._send(message))
        except Exception as e:
            raise DeliveryError(f"SMTP {where}: {type(e).__name__}: {e}") from e
        return f"smtp {where}"

    async def _send(self, message: EmailMessage) -> None:
        await aiosmtplib.send(
            to_bytes(message),
            sender=message["From"].addresses[0].addr_spec,
            recipients=[a.addr_spec for a in message["To"].addresses],
            hostname=self.cfg.smtp_host,
            port=self.cfg.smtp_port,
            username=self.cfg.username,
            password=self.password,
            use_tls=self.cfg.ssl,
            start_tls=self.cfg.starttls,
            timeout=self.cfg.timeout_seconds,
        )


class DeliveryError(RuntimeError):
    """A message that could not be handed over; the text names the transport and the server's answer."""


def transport_for(cfg: Config) -> Transport:
    if cfg.delivery.mode == "smtp":
        return SmtpTransport(cfg.delivery)
    return OutboxTransport(cfg.path(cfg.delivery.outbox_dir))


@dataclass
class DeliveryResult:
    week: str
    outcomes: Counter = field(default_factory=Counter)  # sent, failed, dead, skipped, claimed-elsewhere
    errors: list[tuple[str, str]] = field(default_factory=list)  # (profile_id, error)
    sent_to: list[str] = field(default_factory=list)  # where each sent message went


def _skip(session: Session, digest: Digest, why: str) -> None:
    session.execute(
        update(Digest)
        .where(Digest.id == digest.id, col(Digest.state).in_(PENDING_STATES))
        .values(state="skipped", last_error=why)
    )
    session.commit()


def pending_digests(session: Session, week: str) -> list[Digest]:
    stale_before = clock.utc_now() - STALE_CLAIM
    stmt = (
        select(Digest)
        .where(Digest.week == week)
        .where(col(Digest.state).in_(PENDING_STATES) | ((Digest.state == "sending") & (col(Digest.claimed_at) < stale_before)))
        .order_by(Digest.profile_id)
    )
    return list(session.exec(stmt))


def _deliver_one(session: Session, cfg: Config, now: datetime, digest: Digest, transport: Transport,
                 env: Environment, signer: LinkSigner, result: DeliveryResult) -> str:
    """Claim, compose and send one digest; returns the outcome."""
    profile = session.get(Profile, digest.profile_id)
    if profile is None or not profile.enabled or profile.unsubscribed_at is not None:
        why = "profile removed" if profile is None else ("profile unsubscribed" if profile.enabled else "profile disabled")
        _skip(session, digest, f"{why} before the digest was sent")
        return "skipped"
    if not claim_digest(session, digest.id, clock.utc_now() - STALE_CLAIM):  # type: ignore[arg-type]
        return "claimed-elsewhere"
    try:
        message = compose(session, cfg, digest, profile, now, env, signer)
        where = transport.send(message, digest)
    except Exception as e:  # recorded on the digest and retried on the next run
        error = str(e) if isinstance(e, DeliveryError) else f"{type(e).__name__}: {e}"
        log.warning("digest %s for %s not sent: %s", digest.id, digest.profile_id, error)
        finish_digest(session, digest.id, ok=False, error=error, max_attempts=cfg.digest.max_attempts)  # type: ignore[arg-type]
        result.errors.append((digest.profile_id, error))
        return session.exec(select(Digest.state).where(Digest.id == digest.id)).one()
    finish_digest(session, digest.id, ok=True)  # type: ignore[arg-type]
    result.sent_to.append(where)
    return "sent"


def deliver_digests(session: Session, cfg: Config, now: datetime, transport: Transport | None = None,
                    week: str | None = None) -> DeliveryResult:
    """Claim, compose and send every pending digest of the week (default: the week of `now`)."""
    week = week or clock.week_of(now, cfg.digest.timezone)
    result = DeliveryResult(week=week)
    digests = pending_digests(session, week)
    if not digests:
        return result
    transport = transport or transport_for(cfg)
    env, signer = template_env(), LinkSigner.from_config(cfg)  # fail before claiming anything
    for digest in digests:
        result.outcomes[_deliver_one(session, cfg, now, digest, transport, env, signer, result)] += 1
        session.expunge_all()  # keep the identity map small: the store's UPDATEs scan it
    return result
