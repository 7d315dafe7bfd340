"""Turning a digest into an email: view models, the Jinja2 templates, and the MIME message.

Notice text comes from outside, so the HTML template is autoescaped and notice URLs are only linked when
they are plain http(s). The email is multipart/alternative (text/plain + text/html) with RFC 8058 one-click
unsubscribe headers. Nothing here touches the store; matcher.digest.build gathers the rows.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from email.headerregistry import Address
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from matcher import clock
from matcher.config import Config, ConfigError
from matcher.store.models import Match, Notice, Profile
from matcher.deliver.tokens import LinkSigner

LICENCE = "Contains public sector information licensed under the Open Government Licence v3.0."
# an installed copy carries them inside the package (matcher/templates: setup.py maps them there); a checkout
# keeps them at the repo root
_PACKAGED_TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
TEMPLATES_DIR = _PACKAGED_TEMPLATES if _PACKAGED_TEMPLATES.is_dir() else Path(__file__).resolve().parents[2] / "templates"
CURRENCY_SIGNS = {"GBP": "£", "EUR": "€", "USD": "$"}


class TemplatesMissing(RuntimeError):
    """The templates folder (repo-root templates/, or matcher/templates in an installed copy) or a template in
    it is not where the package expects it."""


def template_env(directory: Path | None = None) -> Environment:
    """The one Jinja2 environment: HTML autoescaped, text not; an unknown variable is an error."""
    folder = directory or TEMPLATES_DIR
    if not folder.is_dir():
        raise TemplatesMissing(f"templates folder not found at {folder}: a checkout keeps them in templates/ beside "
                               f"matcher/, an installed copy in matcher/templates (reinstall the package)")
    for name in ("digest.html", "digest.txt"):
        if not (folder / name).is_file():
            raise TemplatesMissing(f"template {name} is missing from {folder}")
    return Environment(
        loader=FileSystemLoader(folder),
        autoescape=select_autoescape(enabled_extensions=("html", "htm", "xml"), default_for_string=True, default=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


@dataclass
class DigestItem:
    """One listed notice, ready for the templates: every field is plain text or a checked URL."""

    notice_key: str
    title: str
    url: str | None
    buyer: str | None
    value: str | None
    closes: str | None
    closing_soon: bool
    sme_suitable: bool
    vcse_suitable: bool
    source: str
    score: float
    summary: str | None = None
    capabilities: list[str] = field(default_factory=list)
    terms: list[str] = field(default_factory=list)
    cpv: list[str] = field(default_factory=list)
    evidence: str | None = None
    feedback_url: str = ""  # "Not relevant"
    relevant_url: str = ""


@dataclass
class DigestView:
    profile_id: str
    profile_name: str
    week: str
    week_start: str
    items: list[DigestItem]
    unsubscribe_url: str
    licence: str = LICENCE
    profile_url: str = ""  # the signed link to view and edit the profile


def safe_url(url: str | None) -> str | None:
    """Only absolute http(s) URLs become links; anything else (javascript:, data:, relative) is dropped."""
    if not url:
        return None
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc or any(c in url for c in "\r\n\t "):
        return None
    return url


def format_money(amount: float, currency: str | None) -> str:
    sign = CURRENCY_SIGNS.get((currency or "GBP").upper())
    number = f"{amount:,.0f}" if float(amount).is_integer() or amount >= 1000 else f"{amount:,.2f}"
    return f"{sign}{number}" if sign else f"{currency.upper()} {number}"  # type: ignore[union-attr]


def format_value(vmin: float | None, vmax: float | None, currency: str | None) -> str | None:
    """'£50,000', or '£10,000 – £50,000' when min and max differ; None when no value is given."""
    if vmin is None and vmax is None:
        return None
    if vmin is None or vmax is None or vmin == vmax:
        return format_money(vmax if vmax is not None else vmin, currency)  # type: ignore[arg-type]
    low, high = sorted((vmin, vmax))
    return f"{format_money(low, currency)} – {format_money(high, currency)}"


def format_when(when: datetime, tz: str) -> str:
    local = when.astimezone(ZoneInfo(tz))
    return f"{local:%a} {local.day} {local:%b %Y, %H:%M}"


QUOTE_MAX_CHARS = 300  # a capability phrase quoted in full (once per email)
REQUOTE_MAX_CHARS = 60  # the same phrase when an earlier item already quoted it


def shorten(text: str, limit: int) -> str:
    """`text` cut at a word boundary to at most `limit` characters, with an ellipsis when cut."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0] if " " in text[: limit - 1] else text[: limit - 1]
    return cut.rstrip(" ,;.") + "…"


def quote_once(items: list["DigestItem"]) -> list["DigestItem"]:
    """Each capability phrase is quoted in full (up to QUOTE_MAX_CHARS) the first time an email lists it, and only
    shortened after that, so a long capability text cannot fill an email ten times over."""
    seen: set[str] = set()
    for item in items:
        quoted = []
        for phrase in item.capabilities:
            quoted.append(shorten(phrase, REQUOTE_MAX_CHARS if phrase in seen else QUOTE_MAX_CHARS))
            seen.add(phrase)
        item.capabilities = quoted
    return items


def explanation_strings(value: Any, limit: int | None = 12) -> list[str]:
    """Explanation lists may be missing, a single string, or hold odd types: keep the non-empty strings
    (at most `limit`; None keeps all)."""
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)):
        return []
    out = []
    for v in value:
        if isinstance(v, dict):  # e.g. {"code": ..., "description": ...}
            v = " ".join(str(x) for x in (v.get("code"), v.get("description")) if x)
        if isinstance(v, (str, int)) and str(v).strip():
            out.append(str(v).strip())
    return out[:limit]


def explanation_text(value: Any) -> str | None:
    """A non-empty stripped string, or None for anything else."""
    return value.strip() if isinstance(value, str) and value.strip() else None


def make_item(match: Match, notice: Notice, cfg: Config, now: datetime, signer: LinkSigner) -> DigestItem:
    why = match.explanation if isinstance(match.explanation, dict) else {}
    days = clock.days_until(notice.closes_at, now)
    return DigestItem(
        notice_key=notice.key,
        title=notice.title,
        url=safe_url(notice.url),
        buyer=explanation_text(notice.buyer),
        value=format_value(notice.value_min, notice.value_max, notice.currency),
        closes=format_when(notice.closes_at, cfg.digest.timezone) if notice.closes_at else None,
        closing_soon=days is not None and 0 <= days <= cfg.digest.closing_soon_days,
        sme_suitable=bool(notice.sme_suitable),
        vcse_suitable=bool(notice.vcse_suitable),
        source=notice.source,
        score=float(match.score),
        summary=explanation_text(why.get("summary")),
        capabilities=explanation_strings(why.get("capabilities")),
        terms=explanation_strings(why.get("terms")),
        cpv=explanation_strings(why.get("cpv")),
        evidence=explanation_text(why.get("evidence")),
        feedback_url=signer.feedback_url(match.profile_id, notice.key, "not-relevant"),
        relevant_url=signer.feedback_url(match.profile_id, notice.key, "relevant"),
    )


def subject_for(cfg: Config, week: str) -> str:
    start = clock.week_start(week)
    try:
        return cfg.digest.subject.format(week_start=f"{start.day} {start:%B %Y}")
    except (KeyError, IndexError, ValueError) as e:
        raise ConfigError(f"digest.subject: {cfg.digest.subject!r} cannot be filled in ({e}); only {{week_start}} is available") from None


def mail_domain(cfg: Config) -> str:
    _, addr = parseaddr(cfg.digest.from_address)
    domain = addr.rpartition("@")[2]
    if not domain:
        raise ConfigError(f"digest.from_address: {cfg.digest.from_address!r} has no domain")
    return domain


def recipients(profile: Profile) -> list[Address]:
    """The profile's address and its further recipients (each confirmed), named after the SME."""
    out = [Address(display_name=profile.name or "", addr_spec=profile.email)]
    seen = {profile.email.casefold()}
    for extra in getattr(profile, "extra_emails", None) or []:
        if extra.casefold() not in seen:
            seen.add(extra.casefold())
            out.append(Address(display_name=profile.name or "", addr_spec=extra))
    return out


def build_message(
    env: Environment, cfg: Config, view: DigestView, profile: Profile, message_id: str, now: datetime
) -> EmailMessage:
    """The multipart/alternative email for one digest, headers included."""
    text = env.get_template("digest.txt").render(d=view)
    html = env.get_template("digest.html").render(d=view)
    msg = EmailMessage()
    msg["From"] = cfg.digest.from_address
    msg["To"] = recipients(profile)
    msg["Subject"] = subject_for(cfg, view.week)
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = message_id
    msg["List-Unsubscribe"] = f"<{view.unsubscribe_url}>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(text, cte="quoted-printable")
    msg.add_alternative(html, subtype="html", cte="quoted-printable")
    return msg


# RFC 5322 allows header lines up to 998 characters. At the usual 78 the email package would turn the long
# List-Unsubscribe URL into an RFC 2047 encoded-word, which mail clients do not read as a URL.
WIRE_POLICY = policy.SMTP.clone(max_line_length=998)


def to_bytes(message: EmailMessage) -> bytes:
    """The message as sent and as written to the outbox (CRLF line ends, headers unencoded where possible)."""
    return message.as_bytes(policy=WIRE_POLICY)
