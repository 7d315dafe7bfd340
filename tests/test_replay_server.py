"""The replay server answers in the portals' real shapes, and injects faults where and when asked."""
from __future__ import annotations

import base64
import json

import httpx
import pytest

from matcher.replay import Fault, recording_dates, recording_now, start_replay

SEARCH = "/Published/Notices/OCDS/Search"
DM = "/digital-outcomes-and-specialists/opportunities"


@pytest.fixture
def http():
    with httpx.Client(timeout=5) as client:
        yield client


def _search(http, replay, **params):
    return http.get(replay.url + SEARCH, params=params)


def test_cf_search_serves_recorded_releases_in_the_recorded_package_envelope(http, replay):
    resp = _search(http, replay, publishedFrom="2025-01-20T23:00:00", publishedTo="2025-01-23T23:00:00", limit=100)
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("application/json")
    package = resp.json()
    recorded = json.loads((replay.recordings.read("contracts_finder/search_2025-01-20_2025-01-23.json")))
    for key in ("version", "extensions", "publisher", "license", "publicationPolicy"):
        assert package[key] == recorded[key]
    assert package["uri"].startswith(replay.url + SEARCH + "?publishedFrom=")
    assert package["releases"] == recorded["releases"]  # verbatim, newest first as the service sorts
    assert "next" not in package["links"]


def test_cf_search_filters_on_dates_and_stages(http, replay):
    day = dict(publishedFrom="2025-03-11T00:00:00", publishedTo="2025-03-11T23:59:59")
    every = _search(http, replay, **day).json()["releases"]
    tenders = _search(http, replay, stages="tender", **day).json()["releases"]
    assert len(every) == 100 and all(r["date"].startswith("2025-03-11") for r in every)
    assert len(tenders) == 8 and all(r["tag"][0] in ("tender", "tenderAmendment") for r in tenders)
    none = _search(http, replay, publishedFrom="2023-06-01T00:00:00", publishedTo="2023-06-15T00:00:00").json()
    assert none["releases"] == [] and none["links"] == {}


def test_cf_search_pages_with_an_opaque_cursor_to_the_last_page(http, replay):
    params = dict(publishedFrom="2022-10-19T00:00:00", publishedTo="2022-10-21T00:00:00", limit=40)
    first = _search(http, replay, **params).json()
    ids, package, pages = [r["id"] for r in first["releases"]], first, 1
    while "next" in package["links"]:
        nxt = package["links"]["next"]
        cursor = httpx.URL(nxt).params["cursor"]
        assert "nextCursor=" in base64.b64decode(cursor).decode()  # the service's own cursor form
        package = http.get(nxt).json()
        ids += [r["id"] for r in package["releases"]]
        pages += 1
    assert pages == 3 and len(ids) == len(set(ids)) == 100
    dates = [r["date"] for r in first["releases"]]
    assert dates == sorted(dates, reverse=True)


@pytest.mark.parametrize("params, message", [
    ({"limit": 0}, "limit: must be 1-100"),
    ({"stages": "tender,bidding"}, "unknown stage 'bidding'"),
    ({"publishedFrom": "yesterday"}, "publishedFrom: not an ISO 8601 date"),
    ({"cursor": "bm90IG91cnM="}, "cursor"),
])
def test_cf_search_refuses_bad_queries_with_400(http, replay, params, message):
    resp = _search(http, replay, **params)
    assert resp.status_code == 400 and message in resp.json()["error"]


def test_windows_overlapping_the_2025_recording_see_its_releases(http, replay):
    # the 2025 package answered publishedFrom=2025-01-20T23:00&publishedTo=2025-01-23T23:00
    resp = _search(http, replay, publishedFrom="2025-01-09T00:00:00", publishedTo="2025-01-23T00:00:00")
    assert len(resp.json()["releases"]) == 100
    assert recording_dates()["contracts_finder"].isoformat() == "2025-01-23"
    assert recording_now().isoformat() == "2025-01-23T22:10:19+00:00"


def test_dm_listing_and_opportunity_pages_are_served_as_recorded(http, replay):
    listing = http.get(replay.url + DM, params={"statusOpenClosed": "open"})
    assert listing.status_code == 200 and listing.headers["content-type"] == "text/html; charset=utf-8"
    assert listing.content == replay.recordings.read(
        "digital_marketplace/marketplace_opportunity_scraper_listing_statusOpenClosed-open_2020-09-30.html")
    page = http.get(f"{replay.url}{DM}/13198")
    assert page.status_code == 200 and "CCT934-MOD FHRS Delivery Partner" in page.text
    assert http.get(replay.url + DM, params={"statusOpenClosed": "open", "page": 2}).status_code == 404
    assert http.get(f"{replay.url}{DM}/1").status_code == 404
    replay.dm_day = "2019-12-10"
    older = http.get(replay.url + DM, params={"statusOpenClosed": "open"}).text
    assert "search-result-title" in older  # the older page layout


def test_faults_hit_only_their_path_in_order_and_requests_are_counted(http, replay):
    replay.add_faults(Fault("status", path=SEARCH, status=503, retry_after=7),
                      Fault("rate_limit_403", path=SEARCH, skip=1),
                      Fault("html_200", path=DM))
    first = _search(http, replay)
    assert first.status_code == 503 and first.headers["retry-after"] == "7"
    assert _search(http, replay).status_code == 200  # skipped once
    limited = _search(http, replay)
    assert limited.status_code == 403 and "rate limit may have been exceeded" in limited.text
    assert _search(http, replay).status_code == 200  # all used up
    assert "Sorry, there is a problem" in http.get(replay.url + DM).text
    assert replay.hits(SEARCH) == 4 and replay.hits(DM) == 1 and replay.hits() == 5
    assert [h.fault for h in replay.log] == ["status", None, "rate_limit_403", None, "html_200"]


def test_body_faults_alter_the_real_answer(http, replay):
    replay.add_faults(Fault("truncated", path=SEARCH), Fault("bad_number", path=SEARCH, literal="1e9999"),
                      Fault("mojibake", path=SEARCH, encoding="cp1252"), Fault("self_next", path=SEARCH))
    params = dict(publishedFrom="2022-10-19T00:00:00", publishedTo="2022-10-23T00:00:00")
    whole = _search(http, replay, **params).content
    with pytest.raises(json.JSONDecodeError):
        json.loads(whole)
    assert b'"amount":1e9999' in _search(http, replay, **params).content
    mojibake = _search(http, replay, **params).content
    with pytest.raises(UnicodeDecodeError):
        mojibake.decode("utf-8")  # "£" went out as the single byte 0xA3
    assert json.loads(mojibake.decode("cp1252"))["releases"]
    looped = _search(http, replay, **params)
    assert looped.json()["links"]["next"] == str(looped.url)


def test_reset_and_stall_fail_at_the_transport(replay):
    replay.add_faults(Fault("reset", path=SEARCH), Fault("stall", path=SEARCH, seconds=1.0))
    with httpx.Client(timeout=0.2) as client:
        with pytest.raises(httpx.TransportError):
            client.get(replay.url + SEARCH)
        with pytest.raises(httpx.ReadTimeout):
            client.get(replay.url + SEARCH)
    assert replay.hits(SEARCH) == 2


def test_fault_specs_parse_for_the_command_line():
    fault = Fault.parse("status:status=429,retry_after=5,times=2@/Published")
    assert (fault.kind, fault.status, fault.retry_after, fault.times, fault.path) == ("status", 429, "5", 2, "/Published")
    with pytest.raises(ValueError, match="unknown kind"):
        Fault.parse("gremlins")
    with pytest.raises(ValueError, match="unknown option"):
        Fault.parse("stall:forever=1")


def test_server_starts_on_a_free_port_and_stops(http, replay):
    with start_replay() as a, start_replay() as b:
        assert a.port != b.port and a.url.startswith("http://127.0.0.1:")
        assert http.get(a.url + "/").status_code == 200
    with pytest.raises(httpx.ConnectError):
        http.get(a.url + "/")
    with pytest.raises(ValueError, match="no recordings for 'ted'"):
        replay.base_url("ted")


def test_replay_serve_command_serves_until_interrupted(tmp_path):
    import re
    import signal
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "matcher", "replay", "serve", "--port", "0",
                             "--fault", "rate_limit_403@/Published"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+", first).group(0)
        assert "base_url" in proc.stdout.readline()
        with httpx.Client(timeout=5) as client:
            assert client.get(url + SEARCH).status_code == 403  # the fault from the command line
            assert client.get(url + SEARCH, params={"limit": 1}).json()["releases"]
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
