"""Contracts Finder adapter on real recorded releases, and the window policies of the shared bases."""
from __future__ import annotations

import copy
import json
import re
from datetime import UTC, datetime, timedelta

import pytest

from matcher.config import SourceConfig
from matcher.replay.recordings import data_dir
from matcher.sources.base import HourlyWindows, MonthlyWindows, SnapshotWindow
from matcher.sources.contracts_finder import ContractsFinder, notice_page_url
from matcher.sources.http import BadBody, parse_json
from matcher.sources.ocds import MalformedRecord

CF = data_dir().joinpath("contracts_finder")
# "rn" where "\r\n" lost its backslashes, as the single-release recordings have it
# (after a vowel "rn" ends real words: modern, Northern; after a consonant or an all-caps word it does not)
LOST_BREAK = re.compile(r"(?:[b-df-hj-np-tv-z.:;)]|[A-Z]{2})rn(?:[A-Z0-9]|rn|\s)")


def _release_files() -> list[dict]:
    return [json.loads(f.read_text(encoding="utf-8")) for f in CF.iterdir() if f.name.startswith("release_")]


def _package_2025() -> dict:
    return json.loads(CF.joinpath("search_2025-01-20_2025-01-23.json").read_text(encoding="utf-8"))


@pytest.fixture
def cf():
    src = ContractsFinder(SourceConfig(base_url="https://www.contractsfinder.service.gov.uk", stages=["tender", "award"]))
    yield src
    src.close()


def test_lost_line_breaks_in_real_records_are_restored(cf):
    releases = [r for r in _release_files() if LOST_BREAK.search(r.get("tender", {}).get("description", ""))]
    assert len(releases) >= 20
    for release in releases:
        description = cf.parse(release).description
        assert not LOST_BREAK.search(description), description[:200]
    by_id = {r["id"]: cf.parse(r) for r in releases}
    assert by_id["02a1502e-7f22-46e1-92b3-60999d4ed4e5-832929"].description.startswith(
        "NOTIFICATION OF SUBCONTRACT PACKAGE\nA47 North Tuddenham to Easton Scheme:\nGalliford Try")


def test_mojibake_in_the_2025_recording_is_repaired(cf):
    releases = _package_2025()["releases"]
    raw_bad = [r for r in releases if "Â£" in json.dumps(r, ensure_ascii=False)]
    assert raw_bad  # the service's own mojibake is in the recording
    for release in raw_bad:
        notice = cf.parse(release)
        text = " ".join([notice.title, notice.description, *notice.sections.values()])
        assert "Â" not in text and "â€" not in text
    assert any("£" in cf.parse(r).description for r in raw_bad)


def test_every_recorded_release_parses(cf):
    releases = _release_files() + _package_2025()["releases"]
    notices = [cf.parse(r) for r in releases]
    assert all(n.key.startswith("ocds-b5fd17-") and n.title and n.updated_at for n in notices)
    assert all(n.url and n.url.startswith("http") for n in notices)


def test_notice_url_falls_back_to_the_notice_page_from_the_release_id(cf):
    release = copy.deepcopy(_package_2025()["releases"][0])
    release["tender"].pop("documents", None)
    for award in release.get("awards", []):
        award.pop("documents", None)
    guid = release["id"].rsplit("-", 1)[0]
    assert cf.parse(release).url == f"https://www.contractsfinder.service.gov.uk/Notice/{guid}"
    assert notice_page_url({"id": "no-sequence-number-here"}) is None


def test_release_without_a_title_is_malformed(cf):
    release = copy.deepcopy(_package_2025()["releases"][0])
    del release["tender"]["title"]
    with pytest.raises(MalformedRecord, match=r"tender\.title: missing"):
        cf.parse(release)


def test_search_request_asks_in_the_services_own_terms(cf):
    window = cf.windows(datetime(2025, 1, 20, 23, tzinfo=UTC), datetime(2025, 1, 23, 23, tzinfo=UTC))[0]
    url, params = cf.first_request(window)
    assert url == "https://www.contractsfinder.service.gov.uk/Published/Notices/OCDS/Search"
    assert params == {"publishedFrom": "2025-01-20T23:00:00", "publishedTo": "2025-01-23T23:00:00",
                      "stages": "tender,award", "limit": 100}
    assert cf.client.throttle_statuses >= {403, 429}  # 403 is how CF says "slow down"


def test_hourly_windows_tile_the_span_in_configured_lengths():
    class Six(HourlyWindows):
        cfg = SourceConfig(base_url="http://x", window_hours=6)  # Find a Tender's size

    since = datetime(2025, 1, 1, 1, tzinfo=UTC)
    windows = Six().windows(since, since + timedelta(hours=15))
    assert [(w.end - w.start) for w in windows] == [timedelta(hours=6)] * 2 + [timedelta(hours=3)]
    assert all(a.end == b.start for a, b in zip(windows, windows[1:]))
    assert Six().windows(since, since) == []


def test_monthly_windows_are_calendar_months_labelled_for_proactis_apis():
    windows = MonthlyWindows().windows(datetime(2024, 12, 20, tzinfo=UTC), datetime(2025, 2, 3, tzinfo=UTC))
    assert [w.label for w in windows] == ["12-2024", "01-2025", "02-2025"]
    assert windows[0].start == datetime(2024, 12, 20, tzinfo=UTC)
    assert windows[1].start == datetime(2025, 1, 1, tzinfo=UTC) and windows[1].end == datetime(2025, 2, 1, tzinfo=UTC)
    assert windows[-1].end == datetime(2025, 2, 3, tzinfo=UTC)


def test_snapshot_window_is_the_whole_span():
    since, until = datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 1, 23, tzinfo=UTC)
    (window,) = SnapshotWindow().windows(since, until)
    assert (window.start, window.end) == (since, until)


@pytest.mark.parametrize("body, reason", [
    ('{"releases": [{"value": {"amount": 1e9999}}]}', "number 1e9999 is out of range"),
    ('{"releases": [{"value": {"amount": 000,}}]}', "invalid JSON at line 1"),
    ('{"releases": [{"value": {"amount": NaN}}]}', "number NaN is out of range or not a JSON number"),
    ('{"releases": [', "invalid JSON"),
    ("<html><title>Forbidden</title></html>", "HTML body"),
])
def test_bodies_that_are_not_faithful_json_are_bad(body, reason):
    with pytest.raises(BadBody, match=re.escape(reason)):
        parse_json(body, "http://x/search")
