"""The SME's and the champion's desk in a real headless Chromium (Playwright, Debian's chromium), with email
through a real SMTP server (aiosmtpd) on loopback:
  sign up -> confirmation email -> confirm -> digest -> edit the profile -> verdicts with undo -> unsubscribe
  -> re-subscribe; a champion marking items and reading why an SME got nothing; every page at 375 px wide.

Needs: pip install playwright; apt-get install chromium (never `playwright install`).
"""
from __future__ import annotations

import re
import threading
import time
from datetime import timedelta

from bs4 import BeautifulSoup
from helpers_browser import chromium, require_chromium
from helpers_champion import seed_champion_store
from helpers_digest import NOW, WEEK, add_match, add_notice, free_port, make_config, smtp_server, store_for, web_server
from sqlmodel import select

from jobs.digest import digest_job
from matcher.deliver.tokens import LinkSigner
from matcher.period import period_of
from matcher.store import session_scope
from matcher.store.champions import add_champion
from matcher.store.feedback import verdicts_for
from matcher.store.models import ChampionMark, Profile
from matcher.web.app import create_app

sync_api = require_chromium()
expect = sync_api.expect
URL = re.compile(r"https?://\S+")
PHONE = {"width": 375, "height": 740}


def _wait_for(handler, count: int, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while len(handler.messages) < count:
        assert time.monotonic() < deadline, f"{len(handler.messages)} of {count} emails arrived"
        time.sleep(0.05)
    return handler.messages[count - 1]


def _off_the_browser_loop(fn, *args):  # noqa: ANN001, ANN002
    """Run fn in a thread: Playwright's sync API keeps an event loop running in this one."""
    out: list = []
    worker = threading.Thread(target=lambda: out.append(fn(*args)))
    worker.start()
    worker.join(timeout=60)
    assert out, f"{fn.__name__} did not finish"
    return out[0]


def _links(message) -> list[str]:
    return URL.findall(message.get_body(("plain",)).get_content())


def _fits_the_phone(page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{page.url} is {width} px wide at {PHONE['width']} px"


def test_an_sme_signs_up_confirms_gets_a_digest_edits_gives_verdicts_and_comes_back(tmp_path):
    port = free_port()
    with smtp_server() as (handler, smtp_port):
        cfg = make_config(tmp_path, digest={"public_base_url": f"http://127.0.0.1:{port}",
                                            "from_address": "Matcher <alerts@matcher.example.org>"},
                          delivery={"mode": "smtp", "smtp_port": smtp_port}, web={"preview_weeks": 0})
        engine = store_for(cfg)
        with web_server(create_app(cfg, engine, now=lambda: NOW), port) as base, chromium(sync_api) as browser:
            page = browser.new_page(viewport=PHONE)
            page.goto(f"{base}/signup")
            _fits_the_phone(page)
            page.fill("#name", "Harbour <Web> Studio")
            page.fill("#emails", "owner@harbour.example")
            page.fill("#capabilities", "We build accessible websites for councils and libraries.")
            page.fill("#keywords", "website, accessibility")
            page.check("input[value='South West']")
            page.check("#cadence-daily")  # daily, new notices only
            page.click("#signup-submit")
            expect(page.locator("h1")).to_have_text("Check your email")
            _fits_the_phone(page)
            with session_scope(engine) as s:
                assert s.exec(select(Profile)).first() is None

            confirm = next(u for u in _links(_wait_for(handler, 1)) if "/signup/confirm/" in u)
            page.goto(confirm)
            page.click("#confirm-signup")
            expect(page.locator("h1")).to_have_text("You are signed up")
            expect(page.locator("main")).to_contain_text("gets a digest on each day there is something new")
            with session_scope(engine) as s:
                profile = s.exec(select(Profile)).one()
            assert profile.cadence == "daily"
            welcome = _wait_for(handler, 2)
            assert "A digest comes on each day there is something new" in welcome.get_body(("plain",)).get_content()

            add_notice(engine, "n1", title="Library website rebuild")
            add_match(engine, profile.id, "n1", 0.9, week=period_of(NOW, "daily").label)
            _off_the_browser_loop(digest_job, cfg, engine, NOW, None, None, "daily")  # SMTP runs its own asyncio loop
            digest = _wait_for(handler, 3)
            assert digest["Subject"] == "Your new public-sector opportunities for Monday 27 January 2025"
            html = BeautifulSoup(digest.get_body(("html",)).get_content(), "html.parser")
            relevant = html.select_one("a.relevant-link")["href"]
            not_relevant = html.select_one("a.feedback-link")["href"]
            page.goto(html.select_one("a.profile-link")["href"])
            expect(page.locator("#name")).to_have_value("Harbour <Web> Studio")
            _fits_the_phone(page)
            page.fill("#capabilities", "We build accessible library websites.")
            page.click("#profile-save")
            expect(page.locator("#saved")).to_contain_text("Changes take effect from the next digest")
            page.fill("#capabilities", "")
            page.click("#profile-save")
            expect(page.locator("#refused")).to_contain_text("capability text is what we match on")

            page.goto(relevant)
            _fits_the_phone(page)
            page.click("#confirm-feedback")
            expect(page.locator("h1")).to_have_text("Thank you")
            _fits_the_phone(page)
            page.click("#undo-feedback")
            expect(page.locator("h1")).to_have_text("Undone")
            page.goto(not_relevant)
            page.select_option("#reason", "wrong-place")
            page.click("#confirm-feedback")
            expect(page.locator("#reason-saved")).to_be_visible()
            with session_scope(engine) as s:
                assert verdicts_for(s, [profile.id]) == {profile.id: [("n1", "not-relevant")]}

            page.goto(digest["List-Unsubscribe"].strip("<>"))
            page.click("#confirm-unsubscribe")
            expect(page.locator("h1")).to_have_text("You are unsubscribed")
            page.click("#resubscribe")
            expect(page.locator("h1")).to_have_text("You are subscribed again")
            _fits_the_phone(page)
        with session_scope(engine) as s:
            row = s.get(Profile, profile.id)
            assert row.unsubscribed_at is None and row.capabilities == "We build accessible library websites."


def test_a_champion_marks_items_and_reads_why_an_sme_got_nothing_at_phone_width(tmp_path):
    port = free_port()
    cfg = make_config(tmp_path, digest={"public_base_url": f"http://127.0.0.1:{port}"}, web={"preview_weeks": 0})
    engine = store_for(cfg)
    seed_champion_store(engine)
    with session_scope(engine) as s:
        person, _ = add_champion(s, "Chris Champion", "chris@council.example")
    url = LinkSigner.from_config(cfg).champion_url(person.id, 30, NOW, person.link_version)
    with web_server(create_app(cfg, engine, now=lambda: NOW + timedelta(hours=5)), port), chromium(sync_api) as browser:
        page = browser.new_page(viewport=PHONE, java_script_enabled=False)  # the pages need none
        page.goto(f"{url}?week={WEEK}")
        expect(page.locator("h1")).to_have_text(f"Match quality for {WEEK}")
        _fits_the_phone(page)
        quiet = page.get_by_role("table", name="Active SMEs sent no items").locator("tr", has_text="Flaky Mail Ltd")
        expect(quiet.locator(".reason")).to_have_text("send failed (failed): 550 mailbox unavailable")
        page.get_by_role("link", name="Bolt Digital").click()
        _fits_the_phone(page)
        item = page.locator("tr#item-n3")
        item.locator("button.mark-not-relevant").click()
        expect(page.locator("#mark-saved")).to_be_visible()
        expect(page.locator("tr#item-n3 .marks")).to_contain_text("Not relevant: Chris Champion")
        _fits_the_phone(page)
    with session_scope(engine) as s:
        m = s.exec(select(ChampionMark)).one()
        assert (m.profile_id, m.notice_key, m.verdict, m.champion_id) == ("bolt", "n3", "not-relevant", person.id)
