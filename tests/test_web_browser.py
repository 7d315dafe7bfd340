"""A person's path through the unsubscribe link, in a real headless Chromium (Playwright, Debian's chromium).

Needs: pip install playwright; apt-get install chromium (never `playwright install`).
"""
from __future__ import annotations

from bs4 import BeautifulSoup
from helpers_browser import chromium, require_chromium
from helpers_digest import NOW, WEEK, add_match, add_notice, add_profile, free_port, make_config, parse_eml, store_for, web_server

from jobs.digest import digest_job
from matcher.store.models import Profile
from matcher.store import session_scope
from matcher.web.app import create_app

sync_api = require_chromium()


def test_unsubscribe_link_from_a_digest_opens_a_page_whose_button_unsubscribes(tmp_path):
    port = free_port()
    cfg = make_config(tmp_path, digest={"public_base_url": f"http://127.0.0.1:{port}"})
    engine = store_for(cfg)
    add_profile(engine, "acme", name="Acme Web Ltd")
    add_notice(engine, "n1", title="Library website rebuild")
    add_match(engine, "acme", "n1", 0.9)
    digest_job(cfg, engine, NOW)
    message = parse_eml((tmp_path / "outbox" / WEEK / "acme.eml").read_bytes())
    link = BeautifulSoup(message.get_body(("html",)).get_content(), "html.parser").select_one("a.unsubscribe-link")

    with web_server(create_app(cfg, engine), port), chromium(sync_api) as browser:
        page = browser.new_page()
        page.goto(link["href"])
        sync_api.expect(page.locator("h1")).to_have_text("Unsubscribe from the weekly digest?")
        with session_scope(engine) as s:  # opening the page alone changes nothing
            assert s.get(Profile, "acme").unsubscribed_at is None
        page.get_by_role("button", name="Unsubscribe").click()
        sync_api.expect(page.locator("h1")).to_have_text("You are unsubscribed")

    with session_scope(engine) as s:
        assert s.get(Profile, "acme").unsubscribed_at is not None
