"""Find a Tender: the release packages API in 6-hour windows, its number quirks, and its notices."""
from __future__ import annotations

import copy
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from matcher.config import ConfigError, SourceConfig, config_from_dict, load_config
from matcher.ingest.poll import poll_source
from matcher.replay.recordings import load
from matcher.sources.find_a_tender import FindATender, WindowTooLong, repair_numbers
from matcher.sources.http import BadBody, parse_json
from matcher.sources.registry import make_source

PATH = "/api/1.0/ocdsReleasePackages"
NOW = datetime(2025, 2, 23, tzinfo=UTC)  # the last three days hold 30 constructed releases
REPO = Path(__file__).resolve().parent.parent


def _fts_release(ocid: str, tag: str = "tender") -> dict:
    return copy.deepcopy(next(r.release for r in load().ocds["find_a_tender"]
                              if r.release["ocid"] == ocid and r.release["tag"] == [tag]))


@pytest.fixture
def fts():
    src = FindATender(SourceConfig(base_url="https://www.find-tender.service.gov.uk", window_hours=6))
    yield src
    src.close()


@pytest.mark.parametrize("hours", [6.5, 12, 360])
def test_windows_longer_than_six_hours_are_refused_naming_the_key(hours):
    with pytest.raises(ConfigError, match=r"sources\.find_a_tender\.window_hours: at most 6"):
        config_from_dict({"sources": {"find_a_tender": {"base_url": "https://x.invalid", "window_hours": hours}}})
    with pytest.raises(WindowTooLong, match=r"sources\.find_a_tender\.window_hours"):
        FindATender(SourceConfig(base_url="https://x.invalid", window_hours=hours))
    # other portals keep their longer windows
    config_from_dict({"sources": {"contracts_finder": {"base_url": "https://x.invalid", "window_hours": hours}}})


def test_a_poll_asks_for_first_pages_of_six_hour_windows_in_the_documented_form_never_stages(
        engine, replay, source_config, recorded, stored):
    cfg = source_config("find_a_tender", lookback_days=3, page_size=4, stages=["tender", "award"])
    with make_source("find_a_tender", cfg) as src:
        report = poll_source(engine, src, NOW)
    assert report.complete and report.windows == report.windows_done == 12
    assert stored(engine)[0] == recorded("find_a_tender", NOW - timedelta(days=3), NOW)
    assert report.inserted == 30 and report.quarantined == 0
    assert report.requests == report.pages == replay.hits(PATH) > 12  # full first pages were split in halves
    queries = [parse_qs(h.query) for h in replay.log]
    assert [q["updatedFrom"][0] for q in queries][:2] == ["2025-02-20T00:00:00", "2025-02-20T06:00:00"]
    assert all(len(q["updatedTo"][0]) == 19 and q["limit"] == ["4"] for q in queries)
    assert not any("stages" in q or "cursor" in q for q in queries)  # stages hides Procurement Act notices
    assert report.ids_held == 30 and report.gaps_open == 0 and report.by_id_requests == 0


def test_second_poll_inserts_nothing(engine, replay, source_config):
    cfg = source_config("find_a_tender", lookback_days=3, overlap_minutes=3 * 24 * 60)
    with make_source("find_a_tender", cfg) as src:
        first = poll_source(engine, src, NOW)
        second = poll_source(engine, src, NOW)
    assert first.complete and second.complete and first.inserted == 30
    assert second.inserted == second.updated == second.merged == 0 and second.unchanged >= 30


@pytest.mark.parametrize("body, fixed", [
    ('{"maximumLotsBidPerSupplier": 1e9999, "amount": 5}', {"maximumLotsBidPerSupplier": 9999999, "amount": 5}),
    ('{"a": [000, -1e9999, 007, 00.5], "b": 0}', {"a": [0, -9999999, 7, 0.5], "b": 0}),
    ('{"title": "Lots: 000, 1e9999 and £1,000,000", "n": 000}', {"title": "Lots: 000, 1e9999 and £1,000,000", "n": 0}),
])
def test_invalid_numbers_are_repaired_outside_strings_only(body, fixed):
    with pytest.raises(BadBody):
        parse_json(body, "https://x.invalid")  # what strict parsing makes of the portal's body
    assert parse_json(repair_numbers(body), "https://x.invalid") == fixed


def test_numbers_inside_strings_survive_escaped_quotes():
    body = '{"t": "say \\"x: 000, 1e9999\\"", "n": 1}'
    assert json.loads(repair_numbers(body)) == {"t": 'say "x: 000, 1e9999"', "n": 1}


def test_a_body_without_quirks_is_left_byte_for_byte():
    text = json.dumps({"releases": [r.release for r in load().ocds["find_a_tender"]]}, ensure_ascii=False)
    assert "Tel: 0" in text or ": 0" in text  # strings that look like the quirk, which the scan must step over
    assert repair_numbers(text) == text


def test_republished_scottish_notice_links_back_to_pcs_and_has_its_own_page(fts):
    release = _fts_release("ocds-h6vhtk-04a000")
    notice = fts.parse(release)
    assert notice.source == "find_a_tender" and notice.key == "ocds-h6vhtk-04a000"
    assert notice.release_id == "009101-2019" and notice.url == "https://www.find-tender.service.gov.uk/Notice/009101-2019"
    (link,) = notice.links
    assert link.source == "public_contracts_scotland" and link.key == "ocds-r6ebe6-0000578640"
    assert link.url == "https://api.publiccontractsscotland.gov.uk/v1/Notice?id=ocds-r6ebe6-0000578640"
    assert notice.regions and all(re.fullmatch(r"UK[A-Z0-9]{1,3}", r) for r in notice.regions)  # NUTS/ITL codes


def test_stage_is_the_tag_furthest_along_and_lot_suitability_is_read(fts):
    release = _fts_release("ocds-h6vhtk-04a000")
    release["tag"] = ["award", "contract"]
    for i, lot in enumerate(release["tender"].get("lots") or [{"id": "1"}]):
        lot["suitability"] = {"sme": i == 0, "vcse": False}
    release["tender"]["lots"] = release["tender"].get("lots") or [{"id": "1", "suitability": {"sme": True, "vcse": False}}]
    notice = fts.parse(release)
    assert notice.stage == "contract"
    assert notice.sme_suitable is True and notice.vcse_suitable is False


def test_shipped_config_polls_every_portal_politely():
    cfg = load_config(REPO / "config.toml")
    assert set(cfg.sources) == {"contracts_finder", "digital_marketplace", "find_a_tender",
                                "public_contracts_scotland", "sell2wales"}
    fts, pcs, s2w = (cfg.sources[n] for n in ("find_a_tender", "public_contracts_scotland", "sell2wales"))
    assert all(s.enabled for s in (fts, pcs, s2w))
    assert fts.base_url == "https://www.find-tender.service.gov.uk"
    assert pcs.base_url == "https://api.publiccontractsscotland.gov.uk"
    assert s2w.base_url == "https://api.sell2wales.gov.wales"
    assert fts.window_hours <= 6 and fts.delay_seconds >= 10 and fts.rate_limit_wait_seconds == 30
    assert pcs.delay_seconds >= 1 and s2w.delay_seconds >= 1
    assert 2 in pcs.notice_types and {51, 52} <= set(s2w.notice_types)
