"""What one digest item says, from its notice and its match: plain facts a bidder can act on.

Each item says what the SME can do (open for bids, with days left; coming up, with "engage now" and the
engagement deadline), where the work is (region names from ITL/NUTS codes or the postcode's area, never a
guess), its value (a framework's total apart from a lot's, with the range of lot values), the lots that fit,
the notice type in plain words, the SME/VCSE/reserved marks, the portals it is on, the buyer's award record,
and one short line of why it matched. Everything is plain text or a checked URL; the templates only lay it out.
"""
from __future__ import annotations


import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from matcher.match.challenge import challenge_reason_of
from matcher.match.regions import place_names

PORTAL_NAMES = {
    "contracts_finder": "Contracts Finder",
    "find_a_tender": "Find a Tender",
    "public_contracts_scotland": "Public Contracts Scotland",
    "sell2wales": "Sell2Wales",
    "digital_marketplace": "Digital Marketplace",
}
OPEN, COMING_UP = "open", "coming_up"
GROUP_TITLES = {OPEN: "Open for bids", COMING_UP: "Coming up: engage now"}
COMING_UP_TYPES = {"pipeline": "Pipeline notice", "preliminary_market_engagement": "Market engagement",
                   "planned_procurement": "Planned procurement"}
RESERVED = {"sme": "Reserved for SMEs", "vcse": "Reserved for VCSEs", "sme_vcse": "Reserved for SMEs and VCSEs",
            "local": "Reserved for local suppliers"}
PLANNING_STAGES = ("planning", "planningUpdate")


@dataclass
class Portal:
    name: str
    url: str | None


@dataclass
class Why:
    """The one-line "why": the strength in words, then the facts behind it (all quoted or listed)."""

    strength: str  # "Likely fit" / "Possible fit"
    capability: str | None  # None when the digest states it once at the top
    terms: list[str] = field(default_factory=list)
    cpv: list[str] = field(default_factory=list)
    evidence: str | None = None
    challenge: str | None = None  # why the notice counts as a challenge
    summary: str | None = None  # an older explanation's own summary, shown when it has no parts

    def parts(self) -> list[str]:
        out = []
        if self.capability:
            out.append(f"your \u201c{self.capability}\u201d")
        if self.terms:
            out.append("it mentions " + ", ".join(self.terms))
        if self.cpv:
            out.append("CPV " + "; ".join(self.cpv))
        return out


def group_of(notice: Any) -> str:
    if notice.notice_type in COMING_UP_TYPES:
        return COMING_UP
    if notice.notice_type in (None, "unknown") and (notice.stage or "") in PLANNING_STAGES:
        return COMING_UP
    return OPEN


def kind_of(notice: Any, challenge: str | None) -> str:
    """The notice type in plain words."""
    if challenge:
        return "Challenge"
    if notice.notice_type in COMING_UP_TYPES:
        return COMING_UP_TYPES[notice.notice_type]
    if group_of(notice) == COMING_UP:
        return "Early notice (planning)"
    return "Tender"


def days_left(when: datetime, now: datetime, tz: str) -> int:
    """Whole calendar days from today to that day, in the digest's time zone."""
    zone = ZoneInfo(tz)
    return (when.astimezone(zone).date() - now.astimezone(zone).date()).days


def in_days(days: int) -> str:
    return "today" if days == 0 else "tomorrow" if days == 1 else f"in {days} days"


def portals_of(notice: Any, safe_url: Any) -> list[Portal]:
    """The portals the notice appears on: its own first, then every portal a stored copy or link names."""
    seen: dict[str, Portal] = {}
    own = PORTAL_NAMES.get(notice.source, notice.source)
    seen[own] = Portal(own, safe_url(notice.url))
    for link in notice.links or []:
        if not isinstance(link, dict) or not link.get("source"):
            continue
        name = PORTAL_NAMES.get(link["source"], link["source"])
        url = safe_url(link.get("url"))
        if url and "/api" in url:  # an API address is not a page a person can read
            url = None
        if name not in seen:
            seen[name] = Portal(name, url)
        elif not seen[name].url and url:
            seen[name].url = url
    return list(seen.values())


def lots_of(notice: Any) -> list[dict]:
    return [lot for lot in (notice.lots or []) if isinstance(lot, dict)]


_FRAMEWORK = re.compile(r"\bframework\b|\bdynamic purchasing system\b|\bDPS\b", re.I)


def is_framework(notice: Any) -> bool:
    """The notice says it is a framework (or DPS): its own flag, else its title or procurement method names one."""
    if notice.is_framework is not None:
        return bool(notice.is_framework)
    return bool(_FRAMEWORK.search(f"{notice.title}\n{notice.procurement_method or ''}"))


def value_text(notice: Any, format_money: Any) -> str | None:
    """'£50,000'; 'Framework total £300m (all lots and call-offs); lots £1.5m – £298.5m'; None when no value."""
    currency = notice.currency
    lot_values = sorted(v for lot in lots_of(notice) if isinstance(v := lot.get("value"), (int, float)))
    total = notice.value_max if notice.value_max is not None else notice.value_min
    parts = []
    if total is not None:
        money = format_money(total, currency)
        if notice.value_min is not None and notice.value_max is not None and notice.value_min != notice.value_max:
            money = f"{format_money(min(notice.value_min, notice.value_max), currency)} – {format_money(max(notice.value_min, notice.value_max), currency)}"
        if is_framework(notice):
            parts.append(f"Framework total {money} (shared by every supplier and call-off, not one contract)")
        elif len(lot_values) > 1:
            parts.append(f"Total {money} for all lots")
        else:
            parts.append(money)
        if notice.value_gross and notice.value_max and notice.value_gross > notice.value_max:
            parts[-1] += f", {format_money(notice.value_gross, currency)} with VAT"
    if len(lot_values) > 1:
        low, high = lot_values[0], lot_values[-1]
        parts.append(f"{len(lot_values)} lots valued {format_money(low, currency)}"
                     + (f" – {format_money(high, currency)}" if high != low else " each"))
    elif len(lot_values) == 1 and len(lots_of(notice)) > 1:
        parts.append(f"one lot valued {format_money(lot_values[0], currency)}")
    return "; ".join(parts) or None


def marks_of(notice: Any) -> list[str]:
    out = []
    if notice.reserved:
        out.append(RESERVED.get(notice.reserved, f"Reserved ({notice.reserved})"))
    lots = lots_of(notice)
    sme = notice.sme_suitable or any(lot.get("sme_suitable") for lot in lots)
    vcse = notice.vcse_suitable or any(lot.get("vcse_suitable") for lot in lots)
    some = len(lots) > 1 and not all(lot.get("sme_suitable") for lot in lots)
    if sme and "SMEs" not in " ".join(out):
        out.append("Suitable for SMEs" + (" (some lots)" if some and not notice.sme_suitable else ""))
    if vcse and "VCSEs" not in " ".join(out):
        out.append("Suitable for VCSEs")
    return out


def challenge_of(notice: Any) -> str | None:
    return challenge_reason_of(notice.title, notice.description, notice.sections, notice.procurement_method)


def place_of(notice: Any) -> list[str]:
    return place_names(notice.regions or [], notice.postcode)
