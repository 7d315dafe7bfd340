"""An OCDS release to a NoticeRecord: shared by every OCDS portal. Pure; raises MalformedRecord."""
from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from matcher.schema import NoticeRecord, PortalLink, Supplier
from matcher.text import clean_text, one_line

OCID_PREFIXES = {
    "ocds-b5fd17": "contracts_finder",
    "ocds-h6vhtk": "find_a_tender",
    "ocds-r6ebe6": "public_contracts_scotland",
    "ocds-kuma6s": "sell2wales",
}
NOTICE_DOC_TYPES = ("tenderNotice", "contractNotice", "awardNotice", "Link")
PLACEHOLDER_VALUE = 1.0  # portals carry 0.01 / 1 GBP where no value was given
_OCID_IN_TEXT = re.compile(r"ocds-[a-z0-9]{6}-[A-Za-z0-9][A-Za-z0-9-]*")

# How far along its life a process is, by release tag (OCDS codelist releaseTag) and by tender status.
# A release only replaces a stored one of a later stage when it is itself newer *and* still closed: an
# award is never undone by a tender release served late (see store.supersedes).
STAGE_RANK = {
    "planning": 0, "planningUpdate": 0,
    "tender": 1, "tenderAmendment": 1, "tenderUpdate": 1,
    "award": 2, "awardUpdate": 2, "awardCancellation": 2,
    "contract": 3, "contractUpdate": 3, "contractAmendment": 3, "contractTermination": 4,
    "implementation": 4, "implementationUpdate": 4,
    "tenderCancellation": 5, "compiled": 1,
}
AWARDED_RANK = 2
ENDED_STATUSES = frozenset({"cancelled", "withdrawn", "unsuccessful"})


def lifecycle_rank(stage: str | None, status: str | None) -> int:
    """0 planning, 1 tender, 2 award, 3 contract, 4 implementation, 5 cancelled/withdrawn/unsuccessful."""
    if status and status.strip().lower() in ENDED_STATUSES:
        return 5
    return STAGE_RANK.get(stage or "", 1)


def latest_stage(tags: list[Any]) -> str | None:
    """The release's stage: the tag furthest along (["award", "contract"] is a contract), first on ties."""
    names = [str(t) for t in tags if t not in (None, "")]
    return max(names, key=lambda t: STAGE_RANK.get(t, 1), default=None)


def linked_ocid(href: Any) -> str | None:
    """The ocid a link points at (PCS/S2W/FTS hrefs carry it as ?id=… or in the path)."""
    found = _OCID_IN_TEXT.search(str(href or ""))
    return found.group(0) if found else None


class MalformedRecord(ValueError):
    """A record that cannot become a notice. The message says what is wrong and where."""


def parse_dt(value: Any, where: str) -> datetime | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise MalformedRecord(f"{where}: expected a date string, got {type(value).__name__}")
    try:
        dt = datetime.fromisoformat(value.strip())
    except ValueError:
        raise MalformedRecord(f"{where}: not an ISO 8601 date: {value!r}") from None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def cpv8(code: Any) -> str | None:
    digits = str(code or "").split("-")[0].strip()
    return digits[:8] if digits.isdigit() and len(digits) >= 8 else None


def _dicts(value: Any) -> list[dict]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _cpvs(tender: dict) -> list[str]:
    found: list[Any] = []
    cls = [tender.get("classification")] + _dicts(tender.get("additionalClassifications"))
    for item in _dicts(tender.get("items")):
        cls.append(item.get("classification"))
        cls.extend(_dicts(item.get("additionalClassifications")))
    for c in cls:
        if isinstance(c, dict) and str(c.get("scheme", "CPV")).upper() in ("CPV", "CPVS", ""):
            found.append(cpv8(c.get("id")))
    return list(dict.fromkeys(c for c in found if c))


def _amount(value: Any) -> tuple[float | None, str | None]:
    if not isinstance(value, dict):
        return None, None
    amount = value.get("amount")
    if isinstance(amount, str):
        try:
            amount = float(amount.replace(",", ""))
        except ValueError:
            amount = None
    if not isinstance(amount, (int, float)) or isinstance(amount, bool) or amount <= PLACEHOLDER_VALUE:
        return None, value.get("currency")
    return float(amount), value.get("currency")


def _values(release: dict, tender: dict) -> tuple[float | None, float | None, str | None]:
    vmax, cur = _amount(tender.get("value"))
    vmin, cur_min = _amount(tender.get("minValue"))
    if vmax is None:
        lot_values = [_amount(lot.get("value")) for lot in _dicts(tender.get("lots"))]
        amounts = [a for a, _ in lot_values if a is not None]
        if amounts:
            vmax, cur = sum(amounts), next(c for a, c in lot_values if a is not None)
    if vmax is None:
        award_values = [_amount(a.get("value")) for a in _dicts(release.get("awards"))]
        amounts = [a for a, _ in award_values if a is not None]
        if amounts:
            vmax, cur = max(amounts), next(c for a, c in award_values if a is not None)
    if vmin is not None and vmax is not None and vmin > vmax:
        vmin, vmax = vmax, vmin
    return vmin, vmax, cur or cur_min


def _regions(tender: dict) -> tuple[list[str], str | None]:
    regions: list[str] = []
    postcode = None
    for item in _dicts(tender.get("items")):
        for addr in _dicts(item.get("deliveryAddresses")):
            if addr.get("region"):
                regions.append(one_line(addr["region"]))
            if addr.get("postalCode") and not postcode:
                postcode = one_line(addr["postalCode"]).upper()
    return list(dict.fromkeys(r for r in regions if r)), postcode


def _buyer(release: dict) -> str | None:
    buyer = release.get("buyer")
    if isinstance(buyer, dict) and buyer.get("name"):
        return one_line(buyer["name"])
    for party in _dicts(release.get("parties")):
        if "buyer" in (party.get("roles") or []) and party.get("name"):
            return one_line(party["name"])
    return None


def _notice_url(release: dict, tender: dict) -> str | None:
    docs = _dicts(tender.get("documents"))
    for award in _dicts(release.get("awards")):
        docs.extend(_dicts(award.get("documents")))
    for doc_type in NOTICE_DOC_TYPES:
        for doc in docs:
            if doc.get("documentType") == doc_type and str(doc.get("url", "")).startswith("http"):
                return doc["url"]
    return None


def _suppliers(release: dict) -> list[Supplier]:
    parties = {p.get("id"): p for p in _dicts(release.get("parties"))}
    out: dict[str, Supplier] = {}
    for award in _dicts(release.get("awards")):
        for s in _dicts(award.get("suppliers")):
            party = parties.get(s.get("id"), {})
            details = party.get("details") if isinstance(party.get("details"), dict) else {}
            scale = details.get("scale")
            sme = scale in ("sme", "micro", "small", "medium") if scale else party.get("sme")
            name = one_line(s.get("name") or party.get("name"))
            if name:
                out[name] = Supplier(name=name, sme=sme if isinstance(sme, bool) else None,
                                     vcse=details.get("vcse") if isinstance(details.get("vcse"), bool) else None)
    return list(out.values())


def _suitability(tender: dict) -> tuple[bool | None, bool | None]:
    blocks = [tender.get("suitability")] + [lot.get("suitability") for lot in _dicts(tender.get("lots"))]
    blocks = [b for b in blocks if isinstance(b, dict)]
    if not blocks:
        return None, None

    def any_flag(name: str) -> bool | None:
        flags = [b.get(name) for b in blocks if isinstance(b.get(name), bool)]
        return any(flags) if flags else None

    return any_flag("sme"), any_flag("vcse")


def _lot_text(tender: dict, description: str) -> str:
    parts = []
    for lot in _dicts(tender.get("lots")):
        text = clean_text(" ".join(str(lot.get(k) or "") for k in ("title", "description")))
        if text and text not in description and text not in parts:
            parts.append(text)
    return "\n\n".join(parts)


def release_to_notice(release: Any, source: str, url_for: Callable[[dict], str | None] | None = None) -> NoticeRecord:
    """Normalise one OCDS release. `url_for` builds the notice page URL when the release carries none."""
    if not isinstance(release, dict):
        raise MalformedRecord(f"release: expected an object, got {type(release).__name__}")
    ocid = release.get("ocid")
    if not isinstance(ocid, str) or not ocid.strip():
        raise MalformedRecord("ocid: missing")
    tender = release.get("tender")
    if tender is None:
        tender = {}
    if not isinstance(tender, dict):
        raise MalformedRecord("tender: expected an object")
    title = one_line(tender.get("title") or (release.get("planning") or {}).get("title") if isinstance(release.get("planning"), dict) else tender.get("title"))
    if not title:
        raise MalformedRecord("tender.title: missing")
    description = clean_text(tender.get("description"))
    lots = _lot_text(tender, description)
    tags = release.get("tag") or []
    if isinstance(tags, str):
        tags = [tags]
    vmin, vmax, currency = _values(release, tender)
    regions, postcode = _regions(tender)
    sme, vcse = _suitability(tender)
    period = tender.get("tenderPeriod") if isinstance(tender.get("tenderPeriod"), dict) else {}
    docs = _dicts(tender.get("documents"))
    published = parse_dt(tender.get("datePublished"), "tender.datePublished") or parse_dt(
        docs[0].get("datePublished") if docs else None, "tender.documents[0].datePublished"
    )
    updated = parse_dt(release.get("date"), "date")
    links = []
    for link in _dicts(release.get("links")):
        if link.get("rel") == "canonical" and link.get("href"):
            key = linked_ocid(link["href"])
            links.append(PortalLink(source=OCID_PREFIXES.get((key or "")[:11], source), url=str(link["href"]), key=key))
    try:
        return NoticeRecord(
            source=source,
            key=ocid.strip(),
            release_id=str(release["id"]) if release.get("id") not in (None, "") else None,
            title=title,
            description=description,
            buyer=_buyer(release),
            cpv=_cpvs(tender),
            regions=regions,
            postcode=postcode,
            value_min=vmin,
            value_max=vmax,
            currency=currency,
            published_at=published or updated,
            closes_at=parse_dt(period.get("endDate"), "tender.tenderPeriod.endDate"),
            updated_at=updated,
            url=_notice_url(release, tender) or (url_for(release) if url_for else None),
            sme_suitable=sme,
            vcse_suitable=vcse,
            stage=latest_stage(tags if isinstance(tags, list) else []),
            status=str(tender.get("status")) if tender.get("status") else None,
            procurement_method=one_line(tender.get("procurementMethodDetails") or tender.get("procurementMethod")) or None,
            sections={"lots": lots} if lots else {},
            suppliers=_suppliers(release),
            links=links,
            raw=release,
        )
    except ValidationError as e:
        first = e.errors()[0]
        raise MalformedRecord(f"{'.'.join(map(str, first['loc']))}: {first['msg']}") from None
