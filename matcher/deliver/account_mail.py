"""The service's own short emails (not digests): confirm a sign-up, your profile link, confirm a further
recipient, a champion's sign-in link. Plain text from templates/mail/, sent through the configured transport
(outbox .eml files under <outbox_dir>/account/, or SMTP), one message per recipient.

A failure is raised to the caller, which logs it: the page a person sees never says whether an address is
known, so it never says whether a message went either.
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

from matcher.config import Config
from matcher.deliver.send import OutboxTransport, SmtpTransport
from matcher.digest.render import mail_domain

log = logging.getLogger(__name__)

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


def mail(cfg: Config, env: Environment, kind: str, to: str, now: datetime, **context: object) -> str | None:
    """Compose and send; a failure is logged (kind and error, never the address) and None returned."""
    try:
        return send(cfg, compose(env, cfg, kind, to, now, **context), kind, now)
    except Exception as e:  # noqa: BLE001 - the caller's page is the same either way
        log.warning("%s email not sent: %s: %s", kind, type(e).__name__, e)
        return None
