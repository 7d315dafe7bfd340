"""Turning a digest into an email: view models, the Jinja2 templates, and the MIME message.

Notice text comes from outside, so the HTML template is autoescaped and notice URLs are only linked when
they are plain http(s). The email is multipart/alternative (text/plain + text/html) with RFC 8058 one-click
unsubscribe headers. Nothing here touches the store; matcher.digest.build gathers the rows.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
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
from matcher.digest.items import (
    COMING_UP, OPEN, Why, challenge_of, days_left, group_of, in_days, kind_of, lots_of, marks_of, place_of,
    portals_of, value_text,
)
from matcher.match.explain import as_shown, strength_label
from matcher.deliver.tokens import LinkSigner
from matcher.digest.wire import HeaderCache, digest_bytes

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
    group: str = "open"  # "open" (open for bids) or "coming_up" (pipeline, planned, market engagement)
    kind: str = "Tender"  # the notice type in plain words
    when: str | None = None  # "Closes in 12 days: Mon 3 Mar 2025, 12:00" / "Engage now: market engagement ends ..."
    places: list[str] = field(default_factory=list)
    portals: list = field(default_factory=list)  # digest_items.Portal
    marks: list[str] = field(default_factory=list)
    lots: list[str] = field(default_factory=list)  # titles of the lots that fit this SME
    lot_count: int = 0
    buyer_record: str | None = None  # the buyer's award record from stored award notices
    why: Why | None = None
    calendar_url: str | None = None


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
    common_capability: str | None = None  # the capability phrase most items matched, stated once
    omitted: int = 0  # items left out to keep the email under MAX_EMAIL_BYTES
    cadence: str = "weekly"  # or daily: the email says how often it comes (week_start is then the day)

    @property
    def open_items(self) -> list[DigestItem]:
        return [i for i in self.items if i.group == OPEN]

    @property
    def coming_items(self) -> list[DigestItem]:
        return [i for i in self.items if i.group == COMING_UP]

    @property
    def closing_soon(self) -> int:
        return sum(1 for i in self.items if i.closing_soon)


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


def when_text(notice: Notice, group: str, cfg: Config, now: datetime) -> tuple[str | None, bool]:
    """What to do by when, and whether it is closing soon (within digest.closing_soon_days)."""
    tz = cfg.digest.timezone
    if group == COMING_UP:
        deadline = getattr(notice, "engagement_deadline", None)
        if deadline is not None:
            days = days_left(deadline, now, tz)
            soon = 0 <= days <= cfg.digest.closing_soon_days
            return f"Engage now: market engagement ends {in_days(days)}, {format_when(deadline, tz)}", soon
        if notice.closes_at is not None:
            days = days_left(notice.closes_at, now, tz)
            return f"Engage now: responses close {in_days(days)}, {format_when(notice.closes_at, tz)}", \
                0 <= days <= cfg.digest.closing_soon_days
        return "Engage now: no engagement deadline given", False
    if notice.closes_at is None:
        return "Open for bids: no closing date given", False
    days = days_left(notice.closes_at, now, tz)
    return f"Closes {in_days(days)}: {format_when(notice.closes_at, tz)}", 0 <= days <= cfg.digest.closing_soon_days


def labelled(entries: list[str], labels: dict[str, str] | None) -> list[str]:
    """CPV entries as '<code> <label>': a bare code gets the label another stored notice gives it, if any."""
    out = []
    for entry in entries:
        code, _, label = entry.partition(" ")
        out.append(entry if label or not labels or code not in labels else f"{code} {labels[code]}")
    return out


def notice_facts(notice: Notice, cfg: Config, now: datetime, signer: LinkSigner, buyers: Any = None) -> dict[str, Any]:
    """What an item says that depends on its notice alone (and on the run's `now`, config and award index):
    the same for every SME sent that notice, so a run of many digests works it out once per notice."""
    group = group_of(notice)
    when, soon = when_text(notice, group, cfg, now)
    record = None
    if buyers is not None:
        from matcher.digest.buyers import buyer_of

        bid, _ = buyer_of(notice.raw or {})
        record = buyers.line_for(bid, notice.buyer)
    has_deadline = notice.closes_at is not None or (group == COMING_UP and getattr(notice, "engagement_deadline", None))
    return {
        "notice_key": notice.key, "title": notice.title, "url": safe_url(notice.url),
        "buyer": explanation_text(notice.buyer), "value": value_text(notice, format_money),
        "closes": format_when(notice.closes_at, cfg.digest.timezone) if notice.closes_at else None,
        "closing_soon": soon, "sme_suitable": bool(notice.sme_suitable), "vcse_suitable": bool(notice.vcse_suitable),
        "source": notice.source, "group": group, "when": when, "places": place_of(notice),
        "portals": portals_of(notice, safe_url), "marks": marks_of(notice), "lot_count": len(lots_of(notice)),
        "buyer_record": record, "calendar_url": signer.calendar_url(notice.key) if has_deadline else None,
        "challenge": challenge_of(notice),
    }


def make_item(match: Match, notice: Notice, cfg: Config, now: datetime, signer: LinkSigner,
              buyers: Any = None, cpv_labels: dict[str, str] | None = None,
              facts: dict[str, Any] | None = None) -> DigestItem:
    """One item; `buyers` (a buyers.BuyerIndex) gives the buyer's award record, or None to leave it out;
    `cpv_labels` names CPV codes the explanation lists bare; `facts`: notice_facts() of this notice, if the
    caller keeps them (they are the same for every SME)."""
    facts = facts if facts is not None else notice_facts(notice, cfg, now, signer, buyers)
    why = as_shown(match.explanation, float(match.score))
    challenge = explanation_text(why.get("challenge")) or facts["challenge"]
    if challenge and why.get("any_sector") is True:
        challenge += "; listed because you asked for challenges in any sector"
    caps = explanation_strings(why.get("capabilities"))
    shared = {k: v for k, v in facts.items() if k != "challenge"}
    return DigestItem(
        **shared | {"places": list(facts["places"]), "portals": list(facts["portals"]), "marks": list(facts["marks"])},
        score=float(match.score),
        summary=explanation_text(why.get("summary")),
        capabilities=caps,
        terms=explanation_strings(why.get("terms")),
        cpv=labelled(explanation_strings(why.get("cpv")), cpv_labels),
        evidence=explanation_text(why.get("evidence")),
        feedback_url=signer.feedback_url(match.profile_id, notice.key, "not-relevant"),
        relevant_url=signer.feedback_url(match.profile_id, notice.key, "relevant"),
        kind=kind_of(notice, challenge),
        lots=explanation_strings(why.get("lots"), limit=5),
        why=Why(
            strength=strength_label(float(match.score)),
            capability=caps[0] if caps else None,
            terms=explanation_strings(why.get("terms"), limit=3),
            cpv=labelled(explanation_strings(why.get("cpv"), limit=3), cpv_labels),
            evidence=explanation_text(why.get("evidence")),
            challenge=challenge,
            summary=(explanation_text(why.get("summary")) or "").rstrip(". ") or None,
        ),
    )


def state_common_capability(items: list[DigestItem]) -> str | None:
    """The capability phrase two or more items matched best: stated once for the digest, and left out of
    those items' lines."""
    counts: dict[str, int] = {}
    for item in items:
        if item.why and item.why.capability:
            counts[item.why.capability] = counts.get(item.why.capability, 0) + 1
    common = max(counts, key=lambda c: (counts[c], c), default=None)
    if common is None or counts[common] < 2:
        return None
    for item in items:
        if item.why and item.why.capability == common:
            item.why.capability = None
    return common


def subject_for(cfg: Config, week: str) -> str:
    if "-W" not in week:  # a daily digest's period is its date
        day = date.fromisoformat(week)
        try:
            return cfg.digest.daily_subject.format(day=f"{day:%A} {day.day} {day:%B %Y}")
        except (KeyError, IndexError, ValueError) as e:
            raise ConfigError(f"digest.daily_subject: {cfg.digest.daily_subject!r} cannot be filled in ({e}); "
                              "only {day} is available") from None
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


MAX_EMAIL_BYTES = 100_000  # what some mail clients clip ("[Message clipped]") and phones download slowly
MAX_NAME_CHARS = 120  # the SME's name as shown in the email
MAX_PHRASE_CHARS = 160  # a capability phrase longer than this is not a phrase: it is not quoted


def short(text: str, limit: int) -> str:
    """`text` cut at a word boundary with an ellipsis when longer than `limit` (for names, never for quotes)."""
    if len(text) <= limit:
        return text
    head = text[: limit - 1]
    return (head[: head.rfind(" ")] if head.rfind(" ") > limit // 2 else head).rstrip(" ,;:") + "\u2026"


def _prepare(view: DigestView) -> None:
    """Names and phrases cut to what an email shows (the same for both ways of building the message)."""
    view.profile_name = short(" ".join(view.profile_name.split()), MAX_NAME_CHARS)
    if view.common_capability and len(view.common_capability) > MAX_PHRASE_CHARS:
        view.common_capability = None
    for item in view.items:
        if item.why and item.why.capability and len(item.why.capability) > MAX_PHRASE_CHARS:
            item.why.capability = None
        item.lots = [short(t, 200) for t in item.lots]


def build_message(
    env: Environment, cfg: Config, view: DigestView, profile: Profile, message_id: str, now: datetime
) -> EmailMessage:
    """The multipart/alternative email for one digest, headers included: under MAX_EMAIL_BYTES whatever the
    profile and notices say (the lowest-ranked items are left out, and the email says how many)."""
    _prepare(view)
    msg, bound = _message(env, cfg, view, profile, message_id, now)
    if bound <= MAX_EMAIL_BYTES:  # far under: no need to encode it once more just to measure it
        return msg
    while (size := len(to_bytes(msg))) > MAX_EMAIL_BYTES and view.items:
        drop = max(1, len(view.items) // 10) if size > 2 * MAX_EMAIL_BYTES else 1
        view.items, view.omitted = view.items[:-drop], view.omitted + drop
        msg, _ = _message(env, cfg, view, profile, message_id, now)
    return msg


def build_wire(env: Environment, cfg: Config, view: DigestView, profile: Profile, message_id: str, now: datetime,
               cache: HeaderCache) -> bytes:
    """build_message() then to_bytes(), the same bytes (but for the random boundary), made directly
    (matcher.digest.wire). A message that may be near MAX_EMAIL_BYTES takes build_message's way."""
    _prepare(view)
    text, html = _render(env, view)
    if _encoded_bound(text, html) > MAX_EMAIL_BYTES:
        return to_bytes(build_message(env, cfg, view, profile, message_id, now))
    lines = [cache.fold(name, value, shared) for name, value, shared in _headers(cfg, view, profile, message_id, now)]
    return digest_bytes(lines, text, html, cache)


def _encoded_bound(*parts: str) -> int:
    """An upper bound on the parts' size once quoted-printable encoded: an ASCII byte takes at most 1.05 bytes
    (soft line breaks), any other at most 3 (=XX), plus the headers' share."""
    total = 8_000
    for part in parts:
        data = part.encode("utf-8")
        other = len(data) - len(part.encode("ascii", "ignore")) + data.count(b"=")
        total += int((len(data) - other) * 1.05) + 3 * other + data.count(b"\n") * 2
    return total


def _render(env: Environment, view: DigestView) -> tuple[str, str]:
    return env.get_template("digest.txt").render(d=view), env.get_template("digest.html").render(d=view)


def _headers(cfg: Config, view: DigestView, profile: Profile, message_id: str, now: datetime) -> list[tuple[str, Any, bool]]:
    """(name, value, shared by the digests of a run) for each header, in order."""
    return [
        ("From", cfg.digest.from_address, True),
        ("To", recipients(profile), False),
        ("Subject", subject_for(cfg, view.week), True),
        ("Date", format_datetime(now), True),
        ("Message-ID", message_id, False),
        ("List-Unsubscribe", f"<{view.unsubscribe_url}>", False),
        ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click", True),
        ("Auto-Submitted", "auto-generated", True),
    ]


def _message(
    env: Environment, cfg: Config, view: DigestView, profile: Profile, message_id: str, now: datetime
) -> tuple[EmailMessage, int]:
    """The message, and an upper bound on its size on the wire."""
    text, html = _render(env, view)
    msg = EmailMessage()
    for name, value, _ in _headers(cfg, view, profile, message_id, now):
        msg[name] = value
    msg.set_content(text, cte="quoted-printable")
    msg.add_alternative(html, subtype="html", cte="quoted-printable")
    return msg, _encoded_bound(text, html)


# RFC 5322 allows header lines up to 998 characters. At the usual 78 the email package would turn the long
# List-Unsubscribe URL into an RFC 2047 encoded-word, which mail clients do not read as a URL.
WIRE_POLICY = policy.SMTP.clone(max_line_length=998)


def to_bytes(message: EmailMessage) -> bytes:
    """The message as sent and as written to the outbox (CRLF line ends, headers unencoded where possible)."""
    return message.as_bytes(policy=WIRE_POLICY)
