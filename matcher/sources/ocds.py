"""An OCDS release to a NoticeRecord: shared by every OCDS portal. Pure; raises MalformedRecord."""
from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from matcher.schema import Lot, NoticeRecord, PortalLink, Supplier
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
UK = ZoneInfo("Europe/London")

# Procurement Act 2023 notice codes, as Find a Tender puts them on documents[].noticeType (sources.md 2.6, 2.7)
UK_NOTICE_TYPES = {
    "UK1": "pipeline", "UK2": "preliminary_market_engagement", "UK3": "planned_procurement", "UK4": "tender",
    "UK5": "transparency", "UK6": "award", "UK7": "contract_details", "UK8": "payments_compliance",
    "UK9": "contract_performance", "UK10": "modification", "UK11": "termination", "UK12": "cancellation",
    "UK13": "dynamic_market", "UK14": "dynamic_market", "UK15": "modification", "UK16": "termination",
}
# Old-regime releases (and the other OCDS portals) by release tag; the first tag known wins (["award", "contract"]
# is an award notice)
TAG_NOTICE_TYPES = {
    "planning": "planned_procurement", "planningUpdate": "planned_procurement",
    "tender": "tender", "tenderUpdate": "tender", "tenderAmendment": "tender", "tenderCancellation": "cancellation",
    "award": "award", "awardUpdate": "award", "awardCancellation": "cancellation",
    "contract": "contract_details", "contractUpdate": "contract_details", "contractAmendment": "modification",
    "contractTermination": "termination", "implementation": "contract_details", "implementationUpdate": "contract_details",
}
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


def parse_deadline(value: Any, where: str) -> datetime | None:
    """A closing date. A date without a time ("2026-06-08", seen on Find a Tender) closes at the end of that
    day in UK time, so it is the same day in UTC and in the UK, and never earlier than the buyer said."""
    if isinstance(value, str) and len(value.strip()) == 10:
        try:
            day = date.fromisoformat(value.strip())
        except ValueError:
            raise MalformedRecord(f"{where}: not an ISO 8601 date: {value!r}") from None
        return datetime.combine(day, time(23, 59, 59), tzinfo=UK).astimezone(UTC)
    return parse_dt(value, where)


def cpv8(code: Any) -> str | None:
    digits = str(code or "").split("-")[0].strip()
    return digits[:8] if digits.isdigit() and len(digits) >= 8 else None


def _dicts(value: Any) -> list[dict]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _entries(value: Any) -> list[dict]:
    """A list of objects as the standard has it, or as Find a Tender sometimes sends it: an object keyed by
    position ({"1": {...}}), or a single object."""
    if isinstance(value, dict):
        members = list(value.values())
        if members and all(isinstance(m, dict) for m in members):
            return members
        return [value] if value else []
    return _dicts(value)


def _classification_cpvs(holders: list[dict]) -> list[str]:
    found: list[Any] = []
    for holder in holders:
        for c in [holder.get("classification"), *_dicts(holder.get("additionalClassifications"))]:
            if isinstance(c, dict) and str(c.get("scheme", "CPV")).upper() in ("CPV", "CPVS", ""):
                found.append(cpv8(c.get("id")))
    return list(dict.fromkeys(c for c in found if c))


def _cpvs(release: dict, tender: dict) -> list[str]:
    """tender.classification and tender.items[] (where Procurement Act releases put them), then the items of
    awards and contracts (an award notice may name its CPV codes only there)."""
    holders = [tender, *_dicts(tender.get("items"))]
    for part in ("awards", "contracts"):
        for entry in _dicts(release.get(part)):
            holders.extend(_dicts(entry.get("items")))
    return _classification_cpvs(holders)


def _amount(value: Any, field: str = "amount") -> tuple[float | None, str | None]:
    """(amount, currency); a missing, unreadable or placeholder amount (0.01, 1, 0) is None."""
    if not isinstance(value, dict):
        return None, None
    amount = value.get(field)
    if isinstance(amount, str):
        try:
            amount = float(amount.replace(",", ""))
        except ValueError:
            amount = None
    if not isinstance(amount, (int, float)) or isinstance(amount, bool) or amount <= PLACEHOLDER_VALUE:
        return None, value.get("currency")
    return float(amount), value.get("currency")


def _lots_total(lots: list[dict], field: str, currency: str | None) -> tuple[float | None, str | None]:
    """The sum of the lots' values in one currency (the tender's, else the first lot's): a lot valued in
    another currency is not added to the others."""
    values = [_amount(lot.get("value"), field) for lot in lots]
    values = [(a, c) for a, c in values if a is not None]
    if not values:
        return None, None
    cur = currency or values[0][1]
    same = [a for a, c in values if c == cur or c is None]
    return (sum(same), cur) if same else (None, None)


def _values(release: dict, tender: dict) -> tuple[float | None, float | None, str | None, float | None]:
    """(min, max, currency, gross max): the tender's value, else its lots' in one currency, else the largest
    award or contract value. Net `amount` for min/max; `amountGross` (VAT included) beside it."""
    vmax, cur = _amount(tender.get("value"))
    gross, _ = _amount(tender.get("value"), "amountGross")
    vmin, cur_min = _amount(tender.get("minValue"))
    lots = _dicts(tender.get("lots"))
    declared = tender.get("value", {}).get("currency") if isinstance(tender.get("value"), dict) else None
    if vmax is None:
        vmax, cur = _lots_total(lots, "amount", declared)
    if gross is None:
        gross, _ = _lots_total(lots, "amountGross", cur or declared)
    for part in ("awards", "contracts"):
        if vmax is None:
            values = [_amount(a.get("value")) for a in _dicts(release.get(part))]
            values = [(a, c) for a, c in values if a is not None]
            if values:
                vmax, cur = max(values, key=lambda v: v[0])
    if vmin is not None and vmax is not None and vmin > vmax:
        vmin, vmax = vmax, vmin
    return vmin, vmax, cur or cur_min or declared, gross


def _regions(tender: dict) -> tuple[list[str], str | None]:
    regions: list[str] = []
    postcode = None
    for item in _dicts(tender.get("items")):
        for addr in _entries(item.get("deliveryAddresses")):
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


def _flag(block: Any, name: str) -> bool | None:
    value = block.get(name) if isinstance(block, dict) else None
    return value if isinstance(value, bool) else None


def _lots(tender: dict) -> list[Lot]:
    """tender.lots[] with their own value (in their own currency), suitability and CPV codes (from the items
    whose relatedLot names them)."""
    items = _dicts(tender.get("items"))
    out = []
    for lot in _dicts(tender.get("lots")):
        if lot.get("id") in (None, ""):
            continue
        lot_id = str(lot["id"])
        value, currency = _amount(lot.get("value"))
        if currency is None and isinstance(lot.get("value"), dict):
            currency = lot["value"].get("currency")
        suitability = lot.get("suitability")
        out.append(Lot(
            id=lot_id,
            title=one_line(lot.get("title")) or None,
            description=clean_text(lot.get("description")),
            value=value,
            currency=currency if isinstance(currency, str) else None,
            sme_suitable=_flag(suitability, "sme"),
            vcse_suitable=_flag(suitability, "vcse"),
            cpv=_classification_cpvs([i for i in items if str(i.get("relatedLot", "")) == lot_id]),
        ))
    return out


def _notice_documents(release: dict, tender: dict) -> list[dict]:
    docs = [*_dicts(tender.get("documents"))]
    planning = release.get("planning")
    if isinstance(planning, dict):
        docs.extend(_dicts(planning.get("documents")))
    for part in ("awards", "contracts"):
        for entry in _dicts(release.get(part)):
            docs.extend(_dicts(entry.get("documents")))
    return docs


def notice_type(release: dict, tender: dict, tags: list[str]) -> tuple[str | None, str | None]:
    """(slug of schema.NOTICE_TYPES, the portal's own code). Find a Tender's documents[].noticeType (the
    document that is this release's own notice first, i.e. whose id is the release id); failing that the
    release tag; a code or tag nobody knows is "unknown", with the code kept."""
    docs = [d for d in _notice_documents(release, tender) if isinstance(d.get("noticeType"), str) and d["noticeType"].strip()]
    own = [d for d in docs if str(d.get("id", "")) == str(release.get("id", ""))]
    for doc in own or docs:
        code = doc["noticeType"].strip()
        return UK_NOTICE_TYPES.get(code.upper(), "unknown"), code
    names = [str(t) for t in tags if t not in (None, "")]
    for tag in names:
        if tag in TAG_NOTICE_TYPES:
            return TAG_NOTICE_TYPES[tag], ",".join(names)
    return ("unknown", ",".join(names)) if names else (None, None)


def _engagement_deadline(release: dict) -> datetime | None:
    """planning.milestones[type=engagement].dueDate (a preliminary market engagement notice's deadline)."""
    planning = release.get("planning") if isinstance(release.get("planning"), dict) else {}
    dates = [parse_deadline(m.get("dueDate"), "planning.milestones[].dueDate")
             for m in _dicts(planning.get("milestones")) if m.get("type") == "engagement" and m.get("dueDate")]
    return min((d for d in dates if d), default=None)


_RESERVED = {"sme": "sme", "smes": "sme", "vcse": "vcse", "vcses": "vcse"}


def _reserved(tender: dict) -> str | None:
    """otherRequirements.reservedParticipation (tender or lots): "sme", "vcse", "sme_vcse", or the codes given."""
    codes: list[str] = []
    for holder in [tender, *_dicts(tender.get("lots"))]:
        other = holder.get("otherRequirements")
        given = other.get("reservedParticipation") if isinstance(other, dict) else None
        for code in ([given] if isinstance(given, str) else given if isinstance(given, list) else []):
            if isinstance(code, str) and code.strip():
                codes.append(_RESERVED.get(code.strip().lower(), re.sub(r"(?<!^)(?=[A-Z])", "_", code.strip()).lower()))
    codes = sorted(set(codes), key=lambda c: (c not in ("sme", "vcse"), c))
    return "_".join(codes) if codes else None


def _is_framework(tender: dict) -> bool | None:
    techniques = tender.get("techniques")
    flag = _flag(techniques, "hasFrameworkAgreement")
    if flag is None and isinstance(techniques, dict) and isinstance(techniques.get("frameworkAgreement"), dict):
        return True
    return flag


def _lot_text(tender: dict, description: str) -> str:
    parts = []
    for lot in _dicts(tender.get("lots")):
        text = clean_text(" ".join(str(lot.get(k) or "") for k in ("title", "description")))
        if text and text not in description and text not in parts:
            parts.append(text)
    return "\n\n".join(parts)


_WORD = re.compile(r"[^\W\d_]{3,}")


def _named_title(title: str, tender: dict) -> str:
    """The title an SME can read. Some buyers put their reference number in tender.title and the name of the work
    in tender.id (Contracts Finder "20535" / "Contract for Program technical support services"; Public Contracts
    Scotland "11330" / "Provision of a leisure booking system"): then the name, with the reference after it."""
    if _WORD.search(title):
        return title
    name = one_line(tender.get("id") if isinstance(tender.get("id"), str) else None)
    if sum(1 for w in name.split() if _WORD.fullmatch(w.strip(",.;:()"))) < 2:  # an identifier names nothing
        return title
    return f"{name[:1].upper()}{name[1:]} (ref. {title})"


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
    title = _named_title(title, tender)
    description = clean_text(tender.get("description"))
    lots = _lot_text(tender, description)
    tags = release.get("tag") or []
    if isinstance(tags, str):
        tags = [tags]
    vmin, vmax, currency, gross = _values(release, tender)
    kind, kind_raw = notice_type(release, tender, tags if isinstance(tags, list) else [])
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
            cpv=_cpvs(release, tender),
            regions=regions,
            postcode=postcode,
            value_min=vmin,
            value_max=vmax,
            currency=currency,
            published_at=published or updated,
            closes_at=parse_deadline(period.get("endDate"), "tender.tenderPeriod.endDate"),
            updated_at=updated,
            url=_notice_url(release, tender) or (url_for(release) if url_for else None),
            sme_suitable=sme,
            vcse_suitable=vcse,
            stage=latest_stage(tags if isinstance(tags, list) else []),
            status=str(tender.get("status")) if tender.get("status") else None,
            procurement_method=one_line(tender.get("procurementMethodDetails") or tender.get("procurementMethod")) or None,
            notice_type=kind,
            notice_type_raw=kind_raw,
            lots=_lots(tender),
            engagement_deadline=_engagement_deadline(release),
            reserved=_reserved(tender),
            is_framework=_is_framework(tender),
            value_gross=gross,
            sections={"lots": lots} if lots else {},
            suppliers=_suppliers(release),
            links=links,
            raw=release,
        )
    except ValidationError as e:
        first = e.errors()[0]
        raise MalformedRecord(f"{'.'.join(map(str, first['loc']))}: {first['msg']}") from None
