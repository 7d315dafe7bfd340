"""A Digital Marketplace brief (API field names, display-form dates) to a NoticeRecord. Pure."""
from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from dateutil import parser as dateparser

from matcher.schema import NoticeRecord
from matcher.sources.ocds import MalformedRecord
from matcher.text import clean_text, one_line

BASE_URL = "https://www.digitalmarketplace.service.gov.uk"
LONDON = ZoneInfo("Europe/London")

# The brief fields that describe the work, with the labels buyers saw (DOS question files).
WORK_SECTIONS = {
    "outcome": "Problem to be solved",
    "backgroundInformation": "Why the work is being done",
    "endUsers": "Who the users are and what they need to do",
    "workAlreadyDone": "Work already done",
    "existingTeam": "Existing team",
    "specialistRole": "Specialist role",
    "specialistWork": "What the specialist will work on",
    "essentialRequirements": "Essential skills and experience",
    "niceToHaveRequirements": "Nice-to-have skills and experience",
    "successCriteria": "Success criteria",
    "phase": "Current phase",
    "researchPlan": "Research plan",
    "participantSpecification": "Participant specification",
    "budgetRange": "Budget range",
}
LOT_NAMES = {
    "digital-outcomes": "Digital outcomes",
    "digital-specialists": "Digital specialists",
    "user-research-participants": "User research participants",
    "user-research-studios": "User research studios",
}
_STATUS_WORDS = ("awarded", "cancelled", "withdrawn", "unsuccessful", "closed")
_MONEY = re.compile(r"£\s?(\d[\d,]*(?:\.\d+)?)\s*(m|million|k|bn)?\b", re.IGNORECASE)


def parse_display_date(value: Any, where: str, end_of_day: bool = False) -> datetime | None:
    """'Monday 12 October 2020 at 11:59pm GMT' or an ISO date, to an aware UTC datetime."""
    if value in (None, ""):
        return None
    text = str(value).replace(" at ", " ").strip()
    try:
        dt = dateparser.parse(text, tzinfos={"GMT": 0, "BST": 3600, "UTC": 0})
    except (ValueError, OverflowError):
        raise MalformedRecord(f"{where}: not a date: {value!r}") from None
    if dt.tzinfo is None:
        if end_of_day and dt.hour == 0 and dt.minute == 0:
            dt = dt.replace(hour=23, minute=59)
        dt = dt.replace(tzinfo=LONDON)
    return dt.astimezone(UTC)


def _text(value: Any) -> str:
    if isinstance(value, list):
        return "\n".join(clean_text(str(v)) for v in value if v)
    return clean_text(str(value)) if value not in (None, "") else ""


def budget_max(budget: str, lot: str | None) -> float | None:
    """The largest £ figure in a free-text budget, for outcome briefs (specialist budgets are day rates)."""
    if lot == "digital-specialists" or not budget:
        return None
    amounts = []
    for num, unit in _MONEY.findall(budget):
        amount = float(num.replace(",", ""))
        scale = {"m": 1e6, "million": 1e6, "k": 1e3, "bn": 1e9}.get(unit.lower(), 1)
        amounts.append(amount * scale)
    amounts = [a for a in amounts if a >= 1000]  # below that it is a day rate
    return max(amounts) if amounts else None


def _status(brief: dict) -> str:
    if brief.get("status"):
        return str(brief["status"])
    banner = str(brief.get("statusBanner") or "").lower()
    for word in _STATUS_WORDS:
        if word in banner:
            return word
    return "live"


def brief_to_notice(brief: Any, source: str = "digital_marketplace") -> NoticeRecord:
    if not isinstance(brief, dict):
        raise MalformedRecord(f"brief: expected an object, got {type(brief).__name__}")
    brief_id = brief.get("id")
    if brief_id in (None, "") or not str(brief_id).strip().isdigit():
        raise MalformedRecord(f"id: missing or not a number: {brief_id!r}")
    title = one_line(brief.get("title"))
    if not title:
        raise MalformedRecord("title: missing")
    lot = brief.get("lotSlug") or brief.get("lot")
    sections = {}
    for field in WORK_SECTIONS:
        text = _text(brief.get(field))
        if text:
            sections[field] = text
    location = one_line(brief.get("location"))
    url = brief.get("url") or f"{BASE_URL}/digital-outcomes-and-specialists/opportunities/{brief_id}"
    return NoticeRecord(
        source=source,
        key=f"dm-{int(str(brief_id).strip())}",
        release_id=str(brief_id),
        title=title,
        description=_text(brief.get("summary")),
        buyer=one_line(brief.get("organisation")) or None,
        cpv=[],
        regions=[location] if location else [],
        value_max=budget_max(str(brief.get("budgetRange") or ""), lot),
        currency="GBP" if budget_max(str(brief.get("budgetRange") or ""), lot) else None,
        published_at=parse_display_date(brief.get("publishedAt"), "publishedAt"),
        closes_at=parse_display_date(brief.get("applicationsClosedAt"), "applicationsClosedAt", end_of_day=True),
        updated_at=parse_display_date(brief.get("updatedAt") or brief.get("publishedAt"), "updatedAt"),
        url=url,
        stage="tender",
        status=_status(brief),
        procurement_method=f"Digital Outcomes and Specialists: {LOT_NAMES.get(lot, lot or 'unknown lot')}",
        sections=sections,
        raw=brief,
    )
