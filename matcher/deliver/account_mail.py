"""The service's own short emails (not digests): confirm a sign-up, your profile link, confirm a further
recipient, a champion's sign-in link. Plain text from templates/mail/, sent through the configured transport
(outbox .eml files under <outbox_dir>/account/, or SMTP), one message per recipient.

A transient failure (a 4xx, a relay that failed before the text went) is retried a few times with growing
waits (tenacity); a permanent one (5xx) or an unknown outcome is not. What still fails is logged (kind and error,
never the address): the page a person sees never says whether an address is known, so it never says whether a
message went either, and the person can ask again.
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from jinja2 import Environment
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from matcher.config import Config
from matcher.deliver.send import DeliveryError, OutboxTransport, SmtpTransport
from matcher.digest.render import mail_domain

log = logging.getLogger(__name__)

TRIES = 4  # attempts per account email, waits of 1, 2, 4 s between them (WAIT_SECONDS doubling)
WAIT_SECONDS = 1.0

SUBJECTS = {
    "confirm": "Confirm your sign-up to SME Opportunity Matcher",
    "welcome": "Your SME Opportunity Matcher profile is ready",
    "profile_link": "Your SME Opportunity Matcher profile link",
    "recipient": "Confirm you want the SME Opportunity Matcher digest",
    "champion_link": "Your SME champion sign-in link",
}


@dataclass(frozen=True)
class Mailing:
    """Where an account email is filed in the outbox: <outbox_dir>/account/<profile_id>.eml (the transports'
    `week` / `profile_id` naming, as for digests)."""

    profile_id: str
    week: str = "account"
    id: int | None = None  # no digest row


def compose(env: Environment, cfg: Config, kind: str, to: str, now: datetime, **context: object) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = cfg.digest.from_address
    msg["To"] = Address(addr_spec=to)
    msg["Subject"] = SUBJECTS[kind]
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = make_msgid(kind, domain=mail_domain(cfg))
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(env.get_template(f"mail/{kind}.txt").render(**context), cte="quoted-printable")
    return msg


def send(cfg: Config, message: EmailMessage, kind: str, now: datetime) -> str:
    """Hand one account email to the configured transport; returns where it went."""
    to = message["To"].addresses[0].addr_spec
    stamp = f"{now:%Y%m%dT%H%M%S}-{kind}-{hashlib.sha256((to + message['Message-ID']).encode()).hexdigest()[:12]}"
    if cfg.delivery.mode == "smtp":
        return SmtpTransport(cfg.delivery).send(message, Mailing(stamp))  # type: ignore[arg-type]
    return OutboxTransport(cfg.path(cfg.delivery.outbox_dir)).send(message, Mailing(stamp))  # type: ignore[arg-type]


def _transient(e: BaseException) -> bool:
    return isinstance(e, DeliveryError) and e.transient


def mail(cfg: Config, env: Environment, kind: str, to: str, now: datetime, tries: int = TRIES,
         wait_seconds: float = WAIT_SECONDS, **context: object) -> str | None:
    """Compose once and send, retrying transient failures; what still fails is logged (kind and error, never
    the address) and None returned."""
    try:
        message = compose(env, cfg, kind, to, now, **context)
        for attempt in Retrying(stop=stop_after_attempt(tries), reraise=True,
                                wait=wait_exponential(multiplier=wait_seconds, max=30 * wait_seconds),
                                retry=retry_if_exception(_transient)):
            with attempt:
                if attempt.retry_state.attempt_number > 1:
                    log.info("%s email: try %d of %d", kind, attempt.retry_state.attempt_number, tries)
                return send(cfg, message, kind, now)
    except Exception as e:  # noqa: BLE001 - the caller's page is the same either way
        log.warning("%s email not sent: %s: %s", kind, type(e).__name__, e)
    return None
