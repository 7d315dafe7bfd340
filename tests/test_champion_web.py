"""The SME champions' pages on a real uvicorn server on 127.0.0.1: signed, time-limited, read-only, escaped."""
from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

import httpx
import pytest
from bs4 import BeautifulSoup
from helpers_champion import PREVIOUS, SCRIPT_TITLE, seed_champion_store
from helpers_web import token_of
from helpers_digest import WEEK, free_port, make_config, store_for, web_server

from matcher.clock import utc_now
from matcher.deliver.tokens import LinkSigner
from matcher.store import session_scope
from matcher.store.champions import add_champion
from matcher.web.app import create_app

CHAMPION = 1  # the id of the one champion the fixture adds


@pytest.fixture
def site(tmp_path):
    port = free_port()
    cfg = make_config(tmp_path, digest={"public_base_url": f"http://127.0.0.1:{port}"})
    engine = store_for(cfg)
    seed_champion_store(engine)
    with session_scope(engine) as s:
        assert add_champion(s, "Chris Champion", "chris@council.example")[0].id == CHAMPION
    signer = LinkSigner.from_config(cfg)
    with web_server(create_app(cfg, engine), port) as base, httpx.Client(base_url=base, timeout=10) as client:
        yield signer, client


def _path(url: str) -> str:
    return urlsplit(url).path


def _soup(r: httpx.Response) -> BeautifulSoup:
    return BeautifulSoup(r.text, "html.parser")


def _table(soup: BeautifulSoup, table_id: str) -> dict[str, list[str]]:
    """Rows of a table keyed by their row header's text."""
    rows = soup.select(f"table#{table_id} tbody tr")
    return {r.th.get_text(" ", strip=True): [td.get_text(" ", strip=True) for td in r.find_all("td")] for r in rows}


def test_overview_shows_the_weeks_figures_smes_and_who_got_nothing(site):
    signer, client = site
    r = client.get(_path(signer.champion_url(CHAMPION)), params={"week": WEEK})
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    assert "default-src 'none'" in r.headers["content-security-policy"]
    soup = _soup(r)
    assert soup.h1.get_text(strip=True) == f"Match quality for {WEEK}"
    figures = _table(soup, "figures")
    assert figures["Items sent"] == ["4"] and figures["Marked not relevant"] == ["1"]
    assert figures["Share of sent items marked not relevant"] == ["25%"]
    smes = _table(soup, "smes")
    assert smes["Acme <Web> Ltd"][:4] == ["sent", "2", "1", "1"]  # state, items, relevant, not relevant
    assert smes["Quiet Co"][:2] == ["empty", "0"] and smes["Gone Ltd (inactive)"][0] == "sent"
    assert set(_table(soup, "got-nothing")) == {"Flaky Mail Ltd", "Newbie Ltd", "Quiet Co"}
    assert all(t.caption and t.find("th") for t in soup.find_all("table"))  # captions and header cells


def test_sme_page_shows_each_week_with_items_reasons_and_feedback_marks(site):
    signer, client = site
    overview = _soup(client.get(_path(signer.champion_url(CHAMPION)), params={"week": WEEK}))
    link = next(a for a in overview.select("a.sme-link") if a.get_text() == "Acme <Web> Ltd")
    r = client.get(link["href"])
    assert r.status_code == 200
    soup = _soup(r)
    week = soup.find(id=f"week-{WEEK}")
    assert week is not None and "digest sent" in week.h2.get_text()
    rows = week.select("tr.item")
    assert [row.th.get_text(strip=True) for row in rows] == [SCRIPT_TITLE, "Notice n2 tender"]
    first = rows[0].get_text(" ", strip=True)
    assert "Leeds <City> Council" in first and "0.91" in first and "dense 0.61" in first
    assert "n1: your web development work matches this tender." in first and "Needs <b>accessible</b> pages." in first
    assert [row.select_one(".feedback").get_text(strip=True) for row in rows] == ["Marked not relevant", "Marked relevant"]
    assert rows[0].select_one("a.notice-link")["href"] == "https://www.contractsfinder.service.gov.uk/notice/n1"


def test_notice_text_with_a_script_tag_is_rendered_inert(site):
    signer, client = site
    token_path = _path(signer.champion_url(CHAMPION))
    for path in (token_path, f"{token_path}/sme/acme"):
        r = client.get(path, params={"week": WEEK})
        assert r.status_code == 200
        assert "<script" not in r.text.lower() and "<b>accessible" not in r.text
        assert _soup(r).find("script") is None
    assert "Library &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; website rebuild" in r.text


def test_sme_page_lists_earlier_weeks_too(site):
    signer, client = site
    soup = _soup(client.get(_path(signer.champion_url(CHAMPION)) + "/sme/bolt"))
    assert [s["id"] for s in soup.select("section.week")] == [f"week-{WEEK}", f"week-{PREVIOUS}"]
    assert soup.find(id=f"week-{PREVIOUS}").select_one("tr.item th").get_text(strip=True) == "Notice n4 tender"
    assert "No feedback" in soup.find(id=f"week-{PREVIOUS}").get_text()


def test_forged_damaged_or_wrong_purpose_tokens_are_refused_with_403(site):
    signer, client = site
    good = _path(signer.champion_url(CHAMPION)).rsplit("/", 1)[1]
    forged = LinkSigner("another-key-entirely-123", "http://x").champion_token(CHAMPION)
    for token in (forged, good[:-2] + "xx", signer.unsubscribe_token("acme"), signer.feedback_token("acme", "n1"), "nope"):
        for path in (f"/champion/{token}", f"/champion/{token}/sme/acme"):
            r = client.get(path)
            assert r.status_code == 403, (token, path)
            assert "This link is not valid" in r.text and "Acme" not in r.text


def test_an_expired_token_is_refused_with_403(site):
    signer, client = site
    lapsed = signer.champion_token(CHAMPION, days=30, now=utc_now() - timedelta(days=31))
    ancient = signer.champion_token(CHAMPION, days=30, now=utc_now() - timedelta(days=800))
    for token in (lapsed, ancient):
        r = client.get(f"/champion/{token}/sme/acme")
        assert r.status_code == 403 and "This link has expired" in r.text and "Acme" not in r.text


def test_the_pages_take_no_post_and_a_post_without_the_csrf_token_is_refused(site):
    signer, client = site
    path = _path(signer.champion_url(CHAMPION))
    assert client.post(path).status_code == 403
    token = token_of(client, f"{path}/sme/acme")  # its mark buttons carry one
    assert client.post(path, data={"csrftoken": token}).status_code == 405
    assert client.post(f"{path}/sme/acme", data={"csrftoken": token}).status_code == 405


def test_an_unknown_week_or_sme_gets_a_clear_page(site):
    signer, client = site
    path = _path(signer.champion_url(CHAMPION))
    bad = client.get(path, params={"week": "2025-W99"})
    assert bad.status_code == 400 and "does not exist" in bad.text
    missing = client.get(f"{path}/sme/nobody")
    assert missing.status_code == 404 and "SME not found" in missing.text


def test_overview_links_to_the_neighbouring_weeks(site):
    signer, client = site
    soup = _soup(client.get(_path(signer.champion_url(CHAMPION)), params={"week": WEEK}))
    previous = client.get(soup.select_one("a#previous-week")["href"])
    assert _soup(previous).h1.get_text(strip=True) == f"Match quality for {PREVIOUS}"
    assert "Notice n4 tender" in previous.text
