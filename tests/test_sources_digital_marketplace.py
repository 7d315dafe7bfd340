"""Digital Marketplace: recorded listing and opportunity pages (both layouts), and brief JSON in the API shape."""
from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from matcher.config import SourceConfig
from matcher.replay.faults import ERROR_PAGE_200
from matcher.replay.recordings import data_dir, load
from matcher.sources.digital_marketplace import DigitalMarketplace
from matcher.sources.dm_html import check_opportunity_page, parse_listing, parse_opportunity
from matcher.sources.http import BadBody
from matcher.sources.ocds import MalformedRecord

SITE = "https://www.digitalmarketplace.service.gov.uk"
LISTING = f"{SITE}/digital-outcomes-and-specialists/opportunities"
BRIEFS = {b["id"]: b for b in map(json.loads, (Path(__file__).parent / "data/sources/dm_briefs.jsonl").open())}


def _recorded(name_part: str) -> str:
    folder = data_dir().joinpath("digital_marketplace")
    (match,) = [f for f in folder.iterdir() if name_part in f.name]
    return match.read_text(encoding="utf-8")


def _page(brief_id: int) -> str:
    days = load().dm_pages[brief_id]
    return load().read(days[max(days)]).decode("utf-8")


def _squash(value):
    return [_squash(v) for v in value] if isinstance(value, list) else " ".join(str(value).split())


@pytest.fixture
def source():
    src = DigitalMarketplace(SourceConfig(base_url=SITE))
    yield src
    src.close()


@pytest.mark.parametrize("name_part, ids, total, next_page", [
    ("listing_statusOpenClosed-open_2020-09-30", 27, 27, None),  # GOV.UK Frontend layout
    ("listing_statusOpenClosed-closed_2020-09-30", 30, 3785, "page=2&statusOpenClosed=closed"),
    ("listing_statusOpenClosed-open_2019-12-10", 26, 26, None),  # older layout
])
def test_listing_pages_of_both_layouts_give_their_opportunity_ids_and_next_page(name_part, ids, total, next_page):
    listing = parse_listing(_recorded(name_part), f"{LISTING}?statusOpenClosed=open")
    assert len(listing.ids) == len(set(listing.ids)) == ids and listing.total == total
    assert all(isinstance(i, int) and i > 1000 for i in listing.ids)
    if next_page:
        assert listing.next_url == f"{LISTING}?{next_page}"
    else:
        assert listing.next_url is None


@pytest.mark.parametrize("brief_id", sorted(BRIEFS))
def test_opportunity_page_becomes_the_brief_in_api_field_names(brief_id):
    brief = parse_opportunity(_page(brief_id), f"{LISTING}/{brief_id}")
    reference = BRIEFS[brief_id]
    for key, value in reference.items():
        assert _squash(brief.get(key, "")) == _squash(value), key
    assert isinstance(brief["essentialRequirements"], list)


def test_older_layout_page_keeps_status_banner_and_supplier_questions():
    brief = parse_opportunity(_page(9142), f"{LISTING}/9142")
    assert brief["statusBanner"] == "Awarded to Just After Midnight"
    assert brief["lotSlug"] == "digital-outcomes" and brief["organisation"].startswith("Clinical Practice Research")
    assert brief.get("clarificationQuestions") and all(q["question"] and q["answer"] for q in brief["clarificationQuestions"])
    assert "otherFields" not in brief  # every label on the page is known


def test_page_and_json_forms_of_a_brief_give_the_same_notice(source):
    from_page = source.parse(parse_opportunity(_page(13198), f"{LISTING}/13198"))
    from_json = source.parse(BRIEFS[13198])
    assert from_page.content_hash() == from_json.content_hash()
    assert from_page.key == "dm-13198" and from_page.url == f"{LISTING}/13198"
    assert from_page.closes_at == datetime(2020, 10, 14, 23, 59, tzinfo=UTC)
    assert from_page.value_max == 5280319 and from_page.currency == "GBP"
    assert "Problem to be solved" not in from_page.sections and "outcome" in from_page.sections


def test_brief_json_in_api_shape_parses_including_the_briefs_wrapper(source):
    api = dict(BRIEFS[11282], status="live", publishedAt="2019-12-09T15:05:11.000000Z",
               applicationsClosedAt="2019-12-23T23:59:59.000000Z")
    notice = source.parse({"briefs": api})
    assert notice.key == "dm-11282" and notice.status == "live"
    assert notice.published_at == datetime(2019, 12, 9, 15, 5, 11, tzinfo=UTC)
    assert notice.procurement_method == "Digital Outcomes and Specialists: Digital specialists"
    assert notice.value_max is None  # a specialist's budget is a day rate, not a contract value


@pytest.mark.parametrize("brief, reason", [
    ({"title": "No id"}, "id: missing"),
    ({"id": "13198", "title": "  "}, "title: missing"),
    ({"id": 5, "title": "Bad date", "publishedAt": "the 32nd of Never"}, "publishedAt: not a date"),
    ("not an object", "brief: expected an object"),
])
def test_unusable_brief_is_malformed_with_a_reason(source, brief, reason):
    with pytest.raises(MalformedRecord, match=re.escape(reason)):
        source.parse(brief)


def test_error_page_served_with_200_is_not_taken_for_a_listing_or_an_opportunity():
    with pytest.raises(BadBody, match="not a Digital Marketplace opportunities listing"):
        parse_listing(ERROR_PAGE_200, LISTING)
    with pytest.raises(BadBody, match="not a Digital Marketplace opportunity page"):
        check_opportunity_page(ERROR_PAGE_200, f"{LISTING}/1")
    check_opportunity_page(_page(13198), f"{LISTING}/13198")  # a real page passes
