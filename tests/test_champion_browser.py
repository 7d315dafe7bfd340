"""A champion's path through the pages in a real headless Chromium (Playwright, Debian's chromium):
the week's overview, then one SME's items and the feedback mark.

Needs: pip install playwright; apt-get install chromium (never `playwright install`).
"""
from __future__ import annotations

from helpers_champion import SCRIPT_TITLE, seed_champion_store
from helpers_browser import chromium, require_chromium
from helpers_digest import WEEK, free_port, make_config, store_for, web_server

from matcher.deliver.tokens import LinkSigner
from matcher.store import session_scope
from matcher.store.champions import add_champion
from matcher.web.app import create_app

sync_api = require_chromium()


def test_champion_opens_the_overview_follows_an_sme_link_and_sees_its_items_and_feedback(tmp_path):
    port = free_port()
    cfg = make_config(tmp_path, digest={"public_base_url": f"http://127.0.0.1:{port}"})
    engine = store_for(cfg)
    seed_champion_store(engine)
    with session_scope(engine) as s:
        person, _ = add_champion(s, "Chris Champion", "chris@council.example")
    url = LinkSigner.from_config(cfg).champion_url(person.id, days=30)

    with web_server(create_app(cfg, engine), port), chromium(sync_api) as browser:
        page = browser.new_page(java_script_enabled=False)  # the pages need none
        page.goto(f"{url}?week={WEEK}")
        sync_api.expect(page.locator("h1")).to_have_text(f"Match quality for {WEEK}")
        sync_api.expect(page.get_by_role("table", name="Active SMEs sent no items")).to_contain_text("Quiet Co")

        page.get_by_role("link", name="Acme <Web> Ltd").click()

        sync_api.expect(page.locator("h1")).to_have_text("What Acme <Web> Ltd was sent")
        week = page.locator(f"section#week-{WEEK}")
        items = week.get_by_role("table", name=f"Items in the {WEEK} digest, best match first")
        sync_api.expect(items.locator("tbody tr")).to_have_count(2)
        first = items.locator("tbody tr").first
        sync_api.expect(first.get_by_role("rowheader")).to_have_text(SCRIPT_TITLE)  # shown as text, not run
        sync_api.expect(first.locator(".feedback")).to_have_text("Marked not relevant")
        sync_api.expect(items.locator("tbody tr").nth(1).locator(".feedback")).to_have_text("Marked relevant")
