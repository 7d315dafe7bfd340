"""Typed records that cross module boundaries: a normalised notice and an SME profile.

Sources produce NoticeRecord; the store persists it; matching reads it. Nothing here does I/O.
"""
from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


CPV_CODE = re.compile(r"^\d{2,8}(-\d)?$")


def _email(v: str) -> str:
    from email_validator import EmailNotValidError, validate_email

    try:
        return validate_email(v, check_deliverability=False).normalized
    except EmailNotValidError as e:
        raise ValueError(str(e)) from None


class PortalLink(BaseModel):
    source: str
    url: str | None = None
    key: str | None = None


class Supplier(BaseModel):
    name: str
    sme: bool | None = None
    vcse: bool | None = None


# What kind of notice a release is (NoticeRecord.notice_type). Find a Tender names it on documents[].noticeType
# (Procurement Act 2023 codes UK1-UK17, mapped in matcher.sources.ocds); old-regime and other portals' releases are
# classified by their release tag. A code we do not know is stored as "unknown", never dropped.
NOTICE_TYPES = (
    "pipeline", "preliminary_market_engagement", "planned_procurement", "tender", "transparency", "award",
    "contract_details", "termination", "modification", "cancellation",
    "dynamic_market", "contract_performance", "payments_compliance", "unknown",
)
# notices an SME can still act on: "open for bids" (tender) and "coming up" (the other three)
MATCHABLE_NOTICE_TYPES = frozenset({"tender", "preliminary_market_engagement", "planned_procurement", "pipeline"})


class Lot(BaseModel):
    """One lot of a notice (tender.lots[]), as far as an SME deciding whether to bid needs it."""

    id: str
    title: str | None = None
    description: str = ""
    value: float | None = Field(None, description="in `currency`; placeholder values like 0.01 -> None")
    currency: str | None = None
    sme_suitable: bool | None = Field(None, description="tender.lots[].suitability.sme")
    vcse_suitable: bool | None = Field(None, description="tender.lots[].suitability.vcse")
    cpv: list[str] = Field(default_factory=list)


class NoticeRecord(BaseModel):
    """One opportunity, normalised from any portal."""

    model_config = ConfigDict(extra="forbid")

    source: str
    key: str = Field(description="the OCDS ocid, or dm-<id> for a Digital Marketplace opportunity")
    release_id: str | None = None
    title: str
    description: str = ""
    buyer: str | None = None
    cpv: list[str] = Field(default_factory=list)
    regions: list[str] = Field(default_factory=list)
    postcode: str | None = None
    value_min: float | None = None
    value_max: float | None = None
    currency: str | None = None
    published_at: datetime | None = None
    closes_at: datetime | None = None
    updated_at: datetime | None = Field(None, description="the release date: when the portal last changed it")
    url: str | None = None
    sme_suitable: bool | None = None
    vcse_suitable: bool | None = None
    stage: str | None = Field(None, description="planning, tender, award, ... (from the release tag)")
    status: str | None = Field(None, description="active, complete, cancelled, withdrawn, closed, ...")
    procurement_method: str | None = None
    notice_type: str | None = Field(None, description="a slug of NOTICE_TYPES")
    notice_type_raw: str | None = Field(None, description="the portal's own code or label, e.g. 'UK4', 'tender'")
    lots: list[Lot] = Field(default_factory=list)
    engagement_deadline: datetime | None = Field(None, description="market engagement deadline where given")
    reserved: str | None = Field(None, description="'sme', 'vcse', 'sme_vcse', ... where the notice reserves it")
    is_framework: bool | None = Field(None, description="tender.techniques.hasFrameworkAgreement or equivalent")
    value_gross: float | None = Field(None, description="amountGross where given (value_min/value_max are net)")
    sections: dict[str, str] = Field(default_factory=dict, description="further text by field, e.g. a brief's requirements")
    suppliers: list[Supplier] = Field(default_factory=list)
    links: list[PortalLink] = Field(default_factory=list)
    raw: dict[str, Any] = Field(default_factory=dict)

    @field_validator("notice_type")
    @classmethod
    def _known_type(cls, v: str | None) -> str | None:
        if v is not None and v not in NOTICE_TYPES:
            raise ValueError(f"notice_type {v!r} is not one of {', '.join(NOTICE_TYPES)}")
        return v

    @field_validator("title")
    @classmethod
    def _title_present(cls, v: str) -> str:
        if not v or not v.strip():
            raise ValueError("notice has no title")
        return v.strip()

    def content_hash(self) -> str:
        """Hash of everything but bookkeeping: equal hashes mean nothing a user sees has changed."""
        body = self.model_dump(mode="json", exclude={"raw", "links"})
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


# the longest text accepted per profile field (capabilities: a few pages; one capability text is then quoted in
# an email at most once, in a bounded excerpt: see matcher.digest.render)
PROFILE_LIMITS = {"id": 100, "name": 200, "email": 254, "capabilities": 5000, "keywords": 100, "regions": 100,
                  "exclude": 100}
MAX_LIST_ITEMS = 50
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_CONTROL_MULTILINE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")  # tabs and line breaks allowed


class ProfileSpec(BaseModel):
    """An SME's capability profile as registered (and as imported from JSON/CSV)."""

    model_config = ConfigDict(extra="ignore")

    id: str
    name: str
    email: str
    capabilities: str
    keywords: list[str] = Field(default_factory=list)
    cpv: list[str] = Field(default_factory=list)
    regions: list[str] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list, description="words that rule a notice out")
    value_min: float | None = None
    value_max: float | None = None
    enabled: bool = True
    extra_emails: list[str] = Field(default_factory=list, description="further recipients (each confirmed its address)")
    cadence: Literal["weekly", "daily"] = Field("weekly", description="weekly, or daily for new notices only (matcher.period)")
    challenges: bool = Field(False, description="also send challenge notices in any sector")

    @field_validator("cadence", mode="before")
    @classmethod
    def _cadence(cls, v: Any) -> Any:
        return v.strip().lower() if isinstance(v, str) else v

    @field_validator("id", "name", "capabilities")
    @classmethod
    def _non_empty(cls, v: str) -> str:
        if not v or not str(v).strip():
            raise ValueError("must not be empty")
        return str(v).strip()

    @field_validator("id", "name", "email", "capabilities", "keywords", "regions", "exclude", mode="after")
    @classmethod
    def _sane_text(cls, v: Any, info: Any) -> Any:
        """Sizes the store, the matcher and an email can carry; no NUL or control characters anywhere, and none
        that would break an email header (CR, LF, ...) in the name, the id or the address."""
        limit, multiline = PROFILE_LIMITS[info.field_name], info.field_name == "capabilities"
        for text in v if isinstance(v, list) else [v]:
            if len(text) > limit:
                raise ValueError(f"is {len(text):,} characters long; at most {limit:,}")
            bad = _CONTROL_MULTILINE.search(text) if multiline else _CONTROL.search(text)
            if bad:
                raise ValueError(f"contains the control character U+{ord(bad.group()):04X} at position {bad.start() + 1}"
                                 + ("" if multiline else " (line breaks and control characters are not allowed here)"))
        if isinstance(v, list) and len(v) > MAX_LIST_ITEMS:
            raise ValueError(f"has {len(v)} entries; at most {MAX_LIST_ITEMS}")
        return v

    @field_validator("email")
    @classmethod
    def _valid_email(cls, v: str) -> str:
        return _email(v)

    @field_validator("extra_emails")
    @classmethod
    def _valid_emails(cls, v: list[str]) -> list[str]:
        return [_email(a) for a in v]

    @field_validator("regions")
    @classmethod
    def _known_regions(cls, v: list[str]) -> list[str]:
        from matcher.match.regions import regions_of

        for name in v:
            if regions_of(name) is None:
                raise ValueError(f"unknown region {name!r}: use an English region name, Wales, Scotland, "
                                 "Northern Ireland or UK-wide")
        return v

    @field_validator("keywords", "cpv", "regions", "exclude", "extra_emails", mode="before")
    @classmethod
    def _split_lists(cls, v: Any) -> Any:
        if v is None:
            return []
        if isinstance(v, str):
            return [p.strip() for p in v.replace(";", "|").split("|") if p.strip()]
        return v

    @field_validator("cpv")
    @classmethod
    def _cpv_digits(cls, v: list[str]) -> list[str]:
        out = []
        for code in v:
            text = str(code).strip()
            if not CPV_CODE.match(text):
                raise ValueError(f"CPV code {code!r} is malformed: expected 2 to 8 digits, such as 72000000, "
                                 "optionally with its check digit (72000000-8)")
            digits = text.split("-")[0]
            out.append(digits.ljust(8, "0"))
        return out
