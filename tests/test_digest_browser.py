"""The digest's HTML in a real headless Chromium (Playwright, Debian's chromium) at phone and desktop widths:
nothing runs off a 375 px screen, text stays readable, and a screenshot is taken of each.

Needs: pip install playwright; apt-get install chromium (never `playwright install`).
"""
from __future__ import annotations

from datetime import timedelta

from helpers_browser import chromium, require_chromium
from helpers_digest import NOW, add_match, add_notice, add_profile, make_config, store_for

from matcher.deliver.tokens import LinkSigner
from matcher.digest.build import preview
from matcher.digest.render import template_env
from matcher.store import session_scope

sync_api = require_chromium()

PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1280, "height": 900}


def digest_html(tmp_path) -> str:
    cfg = make_config(tmp_path)
    engine = store_for(cfg)
    add_profile(engine, "acme", name="Castlegate Building Services and Facilities Management (North) Limited")
    add_notice(engine, "fw", title="Building Retrofit & Refurbishment/Improvement Works Framework Agreement 2025-2029 "
               "(Lots 1-8) for the Welsh Procurement Alliance", is_framework=True, value_max=300_000_000.0,
               buyer="LHC Procurement Group for the Welsh Procurement Alliance (WPA)", regions=["UKL", "UKL22"],
               url="https://www.sell2wales.gov.wales/search/show/search_view.aspx?ID=FEB497780&averyveryveryverylongquerystring=1",
               lots=[{"id": str(i), "title": f"Lot {i} Pitched, flat and profiled metal roofing (region {i})",
                      "value": 1_000_000.0 * i, "sme_suitable": True} for i in range(1, 9)])
    add_notice(engine, "pme", title="Preliminary market engagement: school transport routes", closes_at=None,
               notice_type="preliminary_market_engagement", engagement_deadline=NOW + timedelta(days=4),
               postcode="EX1 1AA", reserved="sme")
    add_match(engine, "acme", "fw", 0.91, explanation={
        "capabilities": ["Regional building contractor delivering minor works and refurbishment up to £2m"],
        "terms": ["refurbishment", "roofing", "windows"], "cpv": ["45453100 Refurbishment work"],
        "lots": ["Lot 1 Pitched, flat and profiled metal roofing (region 1)"],
        "evidence": "Through this framework, public sector bodies will have access to qualified suppliers who can "
                    "deliver high-quality, energy-efficient refurbishment of occupied buildings."})
    add_match(engine, "acme", "pme", 0.55, explanation={"capabilities": ["minor works"], "terms": [],
                                                        "evidence": "Suppliers are invited to a market day."})
    with session_scope(engine) as s:
        msg, _ = preview(s, cfg, "acme", NOW, template_env(), LinkSigner.from_config(cfg))
    return msg.get_body(("html",)).get_content()


def layout(page) -> dict:  # noqa: ANN001
    return page.evaluate("""() => {
        const doc = document.documentElement;
        const texts = [...document.querySelectorAll('p, li, h1, h2, h3, span, a, q, strong')];
        const sizes = texts.map(e => parseFloat(getComputedStyle(e).fontSize));
        const widest = Math.max(...[...document.querySelectorAll('body *')].map(e => e.getBoundingClientRect().right));
        return {scrollWidth: doc.scrollWidth, clientWidth: doc.clientWidth, widest: widest,
                smallest: Math.min(...sizes), items: document.querySelectorAll('div.item').length};
    }""")


def test_digest_fits_a_375px_phone_screen_and_a_desktop_one(tmp_path):
    html = digest_html(tmp_path)
    with chromium(sync_api) as browser:
        for name, size in (("phone", PHONE), ("desktop", DESKTOP)):
            page = browser.new_page(viewport=size)
            page.set_content(html, wait_until="load")
            got = layout(page)
            assert got["items"] == 2
            assert got["scrollWidth"] <= size["width"], (name, got)  # no sideways scrolling
            assert got["widest"] <= size["width"] + 0.5, (name, got)
            assert got["smallest"] >= 13, (name, got)  # readable without zooming
            shot = tmp_path / f"digest-{name}.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
            if name == "desktop":  # the column stays readable on a wide screen
                column = page.evaluate("() => document.querySelector('body > div').getBoundingClientRect().width")
                assert column <= 640 + 2 * 12  # max-width plus its padding
            page.close()
