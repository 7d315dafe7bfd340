"""Digital Marketplace HTML (listing and opportunity pages) to brief dicts in API field names. Pure.

Both page layouts are read: the GOV.UK Elements one (to 2019-12: `table.summary-item-body` rows) and the
GOV.UK Frontend one (2020-06 on: `dl.govuk-summary-list` rows). Fields are found by the label buyers saw;
LABEL_FIELDS maps each label to the DM API brief field (the DOS 2-5 question files in
Crown-Commercial-Service/digitalmarketplace-frameworks). The brief then goes through dm_brief.brief_to_notice
like one from the API.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from urllib.parse import urljoin

from bs4 import BeautifulSoup, Tag

from matcher.sources.http import BadBody
from matcher.sources.ocds import MalformedRecord
from matcher.text import html_to_text

OPPORTUNITY_PATH = re.compile(r"^/digital-outcomes-and-specialists/opportunities/(\d+)/?$")

LABEL_FIELDS = {
    "Published": "publishedAt",
    "Deadline for asking questions": "clarificationQuestionsClosedAt",
    "Closing date for applications": "applicationsClosedAt",
    "Summary of the work": "summary",
    "Latest start date": "startDate",
    "Expected contract length": "contractLength",
    "Location": "location",
    "Organisation the work is for": "organisation",
    "Budget range": "budgetRange",
    "Maximum day rate": "budgetRange",
    "Why the work is being done": "backgroundInformation",
    "Problem to be solved": "outcome",
    "Who the users are and what they need to do": "endUsers",
    "Early market engagement": "earlyMarketEngagement",
    "Any work that’s already been done": "workAlreadyDone",
    "Any work that's already been done": "workAlreadyDone",
    "Existing team": "existingTeam",
    "Current phase": "phase",
    "Specialist role": "specialistRole",
    "What the specialist will work on": "specialistWork",
    "Who the specialist will work with": "existingTeam",
    "Address where the work will take place": "workplaceAddress",
    "Working arrangements": "workingArrangements",
    "Security clearance": "securityClearance",
    "Additional terms and conditions": "additionalTerms",
    "Essential skills and experience": "essentialRequirements",
    "Nice-to-have skills and experience": "niceToHaveRequirements",
    "How many suppliers to evaluate": "numberOfSuppliers",
    "How many specialists to evaluate": "numberOfSuppliers",
    "Proposal criteria": "successCriteria",
    "Cultural fit criteria": "culturalFitCriteria",
    "Payment approach": "priceCriteria",
    "Assessment methods": "evaluationType",
    "Additional assessment methods": "evaluationType",
    "Evaluation weighting": "weightingOutcomes",
    "Research dates": "researchDates",
    "Research location": "researchAddress",
    "Research plan": "researchPlan",
    "Description of your participants": "participantSpecification",
    "Assisted digital and accessibility requirements": "participantAccessibilityNeeds",
    "Access restrictions at location": "accessRestrictions",
    "Number of research rounds": "researchRounds",
    "Number of participants per round": "participantsPerRound",
    "Number of participants a round": "participantsPerRound",
    "How often research will happen": "researchFrequency",
    "Evening or weekend research": "researchOutOfHours",
}


@dataclass
class ListingPage:
    ids: list[int] = field(default_factory=list)
    next_url: str | None = None
    total: int | None = None
    # {id: sha256 of its entry's text}: title, buyer, location, lot, published / questions / closing dates, summary
    entries: dict[int, str] = field(default_factory=dict)


RESULT_ENTRY = "li.app-search-result, div.search-result"


def _soup(html: str) -> BeautifulSoup:
    return BeautifulSoup(html, "lxml")


def _squash(text: str) -> str:
    return " ".join(text.split())


def _block_text(el: Tag) -> str:
    """An element's text with its line structure (<br>, paragraphs) kept, each line trimmed."""
    lines = [" ".join(line.split()) for line in html_to_text(el.decode_contents()).split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _value(el: Tag) -> str | list[str]:
    """A bulleted answer becomes a list of strings (as the API holds requirement lists), anything else text."""
    items = [li for li in el.find_all("li") if li.find_parent("li") is None]
    if items:
        outside = [s for s in el.find_all(string=True) if s.find_parent("li") is None and s.strip()]
        if not outside:
            return [_block_text(li) for li in items if _squash(li.get_text())]
    return _block_text(el)


def parse_listing(html: str, page_url: str) -> ListingPage:
    """Opportunity ids on one listing page, in order, and the next page's absolute URL."""
    soup = _soup(html)
    count = soup.select_one("span.search-summary-count")
    results = soup.select_one("#js-dm-live-search-results, .search-results, div.search-result, li.app-search-result")
    if count is None and results is None:
        title = _squash(soup.title.get_text()) if soup.title else "no title"
        raise BadBody(page_url, f"not a Digital Marketplace opportunities listing (page title: {title!r})")
    ids: list[int] = []
    for a in soup.find_all("a", href=True):
        m = OPPORTUNITY_PATH.match(a["href"].split("?")[0].replace("https://www.digitalmarketplace.service.gov.uk", ""))
        if m and int(m.group(1)) not in ids:
            ids.append(int(m.group(1)))
    entries: dict[int, str] = {}
    for entry in soup.select(RESULT_ENTRY):
        link = entry.find("a", href=True)
        m = OPPORTUNITY_PATH.match(link["href"].split("?")[0].replace("https://www.digitalmarketplace.service.gov.uk", "")) if link else None
        if m:
            entries[int(m.group(1))] = hashlib.sha256(_squash(entry.get_text(" ")).encode()).hexdigest()
    nxt = soup.select_one("ul.previous-next-navigation li.next a[href]")
    total = None
    if count is not None:
        digits = re.sub(r"[^\d]", "", count.get_text())
        total = int(digits) if digits else None
    return ListingPage(ids=ids, next_url=urljoin(page_url, nxt["href"]) if nxt else None, total=total, entries=entries)


def check_opportunity_page(html: str, url: str) -> None:
    """Raise BadBody for a body that is not an opportunity page at all (an error page served with 200).
    A cheap look for the markers both layouts have; parse_opportunity does the real reading."""
    if not any(marker in html for marker in ("data-lot=", "govuk-summary-list", "summary-item-body")):
        title = re.search(r"<title[^>]*>(.*?)</title>", html, re.S | re.I)
        shown = _squash(title.group(1)) if title else "no title"
        raise BadBody(url, f"not a Digital Marketplace opportunity page (page title: {shown!r})")


def _rows(soup: BeautifulSoup) -> list[tuple[Tag, Tag, bool]]:
    """(label, value, is_question) for every summary row, in page order; rows after the
    'Questions asked by suppliers' heading are clarification questions."""
    out = []
    in_questions = False
    for el in soup.find_all(["h2", "h3", "div", "tr"]):  # document order
        classes = el.get("class") or []
        if el.name in ("h2", "h3"):
            if el.get("id") == "clarification-questions" or "Questions asked by suppliers" in el.get_text():
                in_questions = True
            continue
        if "govuk-summary-list__row" not in classes and "summary-item-row" not in classes:
            continue
        label = el.select_one("dt, td.summary-item-field-first")
        value = el.select_one("dd, td.summary-item-field")
        if label is not None and value is not None:
            out.append((label, value, in_questions))
    return out


def parse_opportunity(html: str, url: str) -> dict:
    """An opportunity page to a brief dict in DM API field names (dates stay display strings)."""
    soup = _soup(html)
    m = re.search(r"/opportunities/(\d+)", url)
    if not m:
        raise MalformedRecord(f"{url}: no opportunity id in the URL")
    heading = soup.select_one("h1.govuk-heading-l, header.page-heading-smaller h1, main h1")
    if heading is None or not _squash(heading.get_text()):
        raise MalformedRecord(f"opportunity {m.group(1)}: the page has no title heading")
    brief: dict = {
        "id": int(m.group(1)),
        "url": f"https://www.digitalmarketplace.service.gov.uk/digital-outcomes-and-specialists/opportunities/{m.group(1)}",
        "title": _squash(heading.get_text()),
    }
    lot = soup.select_one("[data-lot]")
    if lot is not None and lot.get("data-lot"):
        brief["lotSlug"] = lot["data-lot"]
    caption = soup.select_one("span.govuk-caption-l, header.page-heading-smaller p.context")
    if caption is not None:
        brief["organisationCaption"] = _squash(caption.get_text())
    questions: list[dict] = []
    unknown: dict[str, str | list[str]] = {}
    for label_el, value_el, is_question in _rows(soup):
        label = _squash(label_el.get_text())
        if is_question:
            questions.append({"question": label, "answer": _block_text(value_el)})
            continue
        key = LABEL_FIELDS.get(label)
        value = _value(value_el)
        if key is None:
            unknown[label] = value
        elif brief.get(key) in (None, "", []):
            brief[key] = value
    if unknown:
        brief["otherFields"] = unknown
    if questions:
        brief["clarificationQuestions"] = questions
    banner = soup.select_one("section.dm-banner h2, div.banner-temporary-message-without-action h2, "
                             "div.banner-information-without-action h2")
    if banner is not None and _squash(banner.get_text()):
        brief["statusBanner"] = _squash(banner.get_text())
    return brief
