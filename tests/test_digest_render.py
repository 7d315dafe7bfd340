"""The digest email: MIME structure, RFC 8058 headers, item details, 'why it matched', and hostile notice text."""
from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from bs4 import BeautifulSoup
from helpers_digest import NOW, add_match, add_notice, add_profile, make_config, store_for

from matcher.digest.build import preview
from matcher.digest.render import TemplatesMissing, format_value, safe_url, template_env
from matcher.store import session_scope
from matcher.deliver.tokens import LinkSigner


def _preview(cfg, engine, pid="acme"):
    with session_scope(engine) as s:
        return preview(s, cfg, pid, NOW, template_env(), LinkSigner.from_config(cfg))


@pytest.fixture
def setup(tmp_path):
    cfg = make_config(tmp_path, digest={"public_base_url": "https://links.example.org"})
    engine = store_for(cfg)
    add_profile(engine, "acme", name="Acme Web Ltd")
    return cfg, engine


def test_email_is_multipart_alternative_with_one_click_unsubscribe_headers(setup):
    cfg, engine = setup
    add_notice(engine, "n1")
    add_match(engine, "acme", "n1", 0.8)
    msg, view = _preview(cfg, engine)

    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    assert msg["List-Unsubscribe"] == f"<{view.unsubscribe_url}>"
    assert view.unsubscribe_url.startswith("https://links.example.org/unsubscribe/")
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert msg["Subject"] == "Your public-sector opportunities for the week of 27 January 2025"
    assert msg["To"].addresses[0].addr_spec == "acme@example.org"
    for header in ("From", "Date", "Message-ID"):
        assert msg[header]
    html = msg.get_body(("html",)).get_content()
    text = msg.get_body(("plain",)).get_content()
    for part in (html, text):
        assert "Contains public sector information licensed under the Open Government Licence v3.0." in part
        assert "You get this email because Acme Web Ltd registered" in part


def test_each_item_shows_link_buyer_value_range_closing_soon_sme_flag_and_why(setup):
    cfg, engine = setup
    add_notice(engine, "soon", title="Website rebuild", closes_at=NOW + timedelta(days=3, hours=2))
    add_notice(engine, "later", title="Cloud hosting", closes_at=NOW + timedelta(days=30), value_min=80000.0,
               value_max=80000.0, sme_suitable=False)
    add_match(engine, "acme", "soon", 0.9)
    add_match(engine, "acme", "later", 0.6, explanation={"summary": "Hosting is in your profile."})
    msg, _ = _preview(cfg, engine)
    soup = BeautifulSoup(msg.get_body(("html",)).get_content(), "html.parser")

    first, second = soup.select("div.item")
    link = first.select_one("a.notice-link")
    assert link.get_text() == "Website rebuild"
    assert link["href"] == "https://www.contractsfinder.service.gov.uk/notice/soon"
    assert "Leeds City Council" in first.get_text()
    assert "£10,000 – £50,000" in first.get_text()
    assert first.select_one(".closing-soon") is not None and second.select_one(".closing-soon") is None
    assert first.select_one(".sme-suitable") is not None and second.select_one(".sme-suitable") is None
    assert "£80,000" in second.get_text() and "–" not in second.get_text().split("Value:")[1].split("\n")[0]
    why = " ".join(first.select_one("div.why").get_text().split())
    assert why.startswith("Why it matched: Likely fit: your “web development”; it mentions website, accessibility; "
                          "CPV 72000000 IT services.")
    assert "%" not in why
    assert first.select_one("div.why q").get_text() == "The council needs a new accessible website."
    assert "Possible fit: Hosting is in your profile." in " ".join(second.get_text().split())
    text = msg.get_body(("plain",)).get_content()
    assert "CLOSING SOON" in text and '"The council needs a new accessible website."' in text
    assert "Closes in 3 days: Thu 30 Jan 2025, 10:00" in text


def test_each_item_has_a_signed_not_relevant_link_for_that_notice(setup):
    cfg, engine = setup
    for key in ("n1", "n2"):
        add_notice(engine, key)
        add_match(engine, "acme", key, 0.8)
    msg, _ = _preview(cfg, engine)
    soup = BeautifulSoup(msg.get_body(("html",)).get_content(), "html.parser")
    signer = LinkSigner.from_config(cfg)
    claims = []
    for a in soup.select("a.feedback-link"):
        assert a.get_text() == "Not relevant"
        parts = urlsplit(a["href"])
        assert f"{parts.scheme}://{parts.netloc}" == "https://links.example.org"
        claims.append(signer.read_feedback(parts.path.rsplit("/", 1)[1]))
    assert sorted((c.profile_id, c.notice_key, c.verdict) for c in claims) == [
        ("acme", "n1", "not-relevant"), ("acme", "n2", "not-relevant")]


def test_script_tags_and_javascript_links_in_notice_text_render_inert(setup):
    cfg, engine = setup
    hostile = '<script>alert("t")</script>Cleaning <a href=javascript:alert(2)>click</a>'
    add_notice(engine, "evil", title=hostile, buyer='<img src=x onerror="alert(3)">Council',
               url="javascript:alert(4)")
    add_notice(engine, "evil2", title="Fine title", url='https://ok.example/"><script>alert(5)</script>')
    add_notice(engine, "evil3", title="Has a host", url="javascript://ok.example/%0Aalert(9)")
    add_match(engine, "acme", "evil", 0.9, explanation={
        "summary": "<b onmouseover=alert(6)>bold</b>", "terms": ["<script>x</script>"],
        "evidence": '"><script>alert(7)</script><a href="javascript:alert(8)">x</a>'})
    add_match(engine, "acme", "evil2", 0.8)
    add_match(engine, "acme", "evil3", 0.7)
    msg, _ = _preview(cfg, engine)
    html = msg.get_body(("html",)).get_content()

    for parser in ("html.parser", "lxml"):
        soup = BeautifulSoup(html, parser)
        assert soup.find_all("script") == []
        assert soup.find_all("img") == [] and soup.find_all("b") == []
        for tag in soup.find_all(True):
            assert not any(attr.lower().startswith("on") for attr in tag.attrs), tag
        for a in soup.find_all("a"):
            assert urlsplit(a["href"]).scheme in ("http", "https"), a
    soup = BeautifulSoup(html, "lxml")
    assert hostile in soup.get_text()  # shown to the reader as text, not markup
    assert "&lt;script&gt;" in html
    assert safe_url("javascript:alert(1)") is None and safe_url(" JavaScript:alert(1)") is None


def test_explanation_with_missing_or_odd_keys_still_renders(setup):
    cfg, engine = setup
    add_notice(engine, "n1", buyer=None, value_min=None, value_max=None, closes_at=None, sme_suitable=None)
    add_match(engine, "acme", "n1", 0.8, explanation={"capabilities": "just one string", "terms": [1, None, {}],
                                                      "cpv": [{"code": "72000000", "description": "IT services"}]})
    msg, view = _preview(cfg, engine)
    item = view.items[0]
    assert item.capabilities == ["just one string"] and item.terms == ["1"] and item.cpv == ["72000000 IT services"]
    assert item.value is None and item.closes is None and item.summary is None
    assert "Why it matched" in msg.get_body(("html",)).get_content()


def test_value_is_formatted_in_pounds_with_a_range_when_min_and_max_differ():
    assert format_value(10000, 50000, "GBP") == "£10,000 – £50,000"
    assert format_value(50000, 10000, None) == "£10,000 – £50,000"
    assert format_value(25000, 25000, "GBP") == "£25,000"
    assert format_value(None, 1250000.0, "GBP") == "£1,250,000"
    assert format_value(999.5, None, "GBP") == "£999.50"
    assert format_value(5000, None, "CHF") == "CHF 5,000"
    assert format_value(None, None, "GBP") is None


def test_missing_templates_folder_is_a_clear_error(tmp_path):
    with pytest.raises(TemplatesMissing, match="templates folder not found"):
        template_env(tmp_path / "nowhere")
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "digest.html").write_text("x")
    with pytest.raises(TemplatesMissing, match="digest.txt is missing"):
        template_env(tmp_path / "t")


def test_items_are_grouped_open_then_coming_up_with_stage_place_value_lots_marks_and_portals(setup):
    cfg, engine = setup
    add_notice(engine, "fw", title="Minor works framework", notice_type="tender", is_framework=True, value_min=None,
               value_max=300_000_000.0, regions=["UKK13", "TLK3"], reserved=None, lots=[
                   {"id": "1", "title": "Lot 1 Minor works up to £2m", "value": 1_500_000.0, "sme_suitable": True},
                   {"id": "2", "title": "Lot 2 Major works", "value": 298_500_000.0}],
               links=[{"source": "contracts_finder", "url": "https://www.contractsfinder.service.gov.uk/notice/fw"},
                      {"source": "find_a_tender", "url": "https://www.find-tender.service.gov.uk/Notice/000123-2025"}])
    add_notice(engine, "pme", title="Market engagement: school transport", notice_type="preliminary_market_engagement",
               closes_at=None, engagement_deadline=NOW + timedelta(days=5), regions=[], postcode="EX1 1AA",
               value_min=None, value_max=None, sme_suitable=None, reserved="sme")
    add_match(engine, "acme", "pme", 0.95, explanation={"capabilities": ["minor works"], "terms": ["transport"],
                                                        "evidence": "The council will hold a supplier day."})
    add_match(engine, "acme", "fw", 0.8, explanation={"capabilities": ["minor works"], "lots": ["Lot 1 Minor works up to £2m"],
                                                      "evidence": "Works across Devon."})
    msg, view = _preview(cfg, engine)
    assert [i.notice_key for i in view.open_items] == ["fw"] and [i.notice_key for i in view.coming_items] == ["pme"]
    fw, pme = view.items
    assert fw.kind == "Tender" and pme.kind == "Market engagement"
    assert fw.places == ["South West"] and pme.places == ["South West"]
    assert fw.value == ("Framework total £300,000,000 (shared by every supplier and call-off, not one contract); "
                        "2 lots valued £1,500,000 – £298,500,000")
    assert fw.lots == ["Lot 1 Minor works up to £2m"] and fw.lot_count == 2
    assert [p.name for p in fw.portals] == ["Contracts Finder", "Find a Tender"]
    assert pme.when == "Engage now: market engagement ends in 5 days, Sat 1 Feb 2025, 08:00" and pme.closing_soon
    assert pme.marks == ["Reserved for SMEs"] and fw.marks == ["Suitable for SMEs"]
    assert view.common_capability == "minor works" and fw.why.capability is None
    html = msg.get_body(("html",)).get_content()
    text = msg.get_body(("plain",)).get_content()
    soup = BeautifulSoup(html, "html.parser")
    assert [h.get_text() for h in soup.select("h2.group")] == ["Open for bids", "Coming up: engage now"]
    assert html.count("minor works") == 1 and text.count('"minor works"') == 1  # stated once, not per item
    for fact in (fw.value, pme.when, "Reserved for SMEs", "Lot 1 Minor works up to £2m", "South West",
                 "Find a Tender (https://www.find-tender.service.gov.uk/Notice/000123-2025)", "Market engagement",
                 "Buyer's record: no award history here"):
        assert fact in text, fact


def test_email_stays_under_100_kb_whatever_the_profile_text(tmp_path):
    from matcher.digest.render import MAX_EMAIL_BYTES, to_bytes

    cfg = make_config(tmp_path, digest={"max_items": 100})
    engine = store_for(cfg)
    huge = "we do " + "everything anyone could want " * 3000  # one 87,000-character "phrase"
    add_profile(engine, "big", name="Enormous Name " * 800, capabilities=huge)
    for n in range(100):
        add_notice(engine, f"n{n}", title=f"Notice {n} " + "long title " * 30, buyer="Buyer " * 50)
        add_match(engine, "big", f"n{n}", 0.9 - n / 1000, explanation={
            "capabilities": [huge], "terms": ["x" * 500] * 3, "cpv": ["72000000 " + "label " * 100],
            "evidence": "A sentence. " * 30, "lots": ["Lot title " * 100] * 5})
    with session_scope(engine) as s:
        msg, view = preview(s, cfg, "big", NOW, template_env(), LinkSigner.from_config(cfg))
    size = len(to_bytes(msg))
    assert size < MAX_EMAIL_BYTES
    assert view.omitted > 0 and len(view.items) + view.omitted == 100
    html, text = msg.get_body(("html",)).get_content(), msg.get_body(("plain",)).get_content()
    assert huge[:200] not in html and huge[:200] not in text
    for part in (html, text):
        assert f"{view.omitted} more matches left out to keep this email short." in " ".join(part.split())
        assert all(i.title in part for i in view.items)


def test_every_fact_in_the_html_part_is_in_the_plain_text_part_too(setup):
    cfg, engine = setup
    add_notice(engine, "fw", title="Roofing framework", is_framework=True, value_max=3_000_000.0, regions=["UKD"],
               reserved="vcse", vcse_suitable=True, lots=[{"id": "1", "title": "Lot 1 Roofing", "value": 1_000_000.0},
                                                          {"id": "2", "title": "Lot 2 Gutters", "value": 2_000_000.0}])
    add_notice(engine, "pin", title="Future cleaning contract", stage="planning", closes_at=None, postcode="LS1 4AP")
    add_match(engine, "acme", "fw", 0.8, explanation={"capabilities": ["roofing"], "terms": ["roof"], "lots": ["Lot 1 Roofing"],
                                                      "cpv": ["45261000 Roofing works"], "evidence": "Roofs leak."})
    add_match(engine, "acme", "pin", 0.6)
    msg, _ = _preview(cfg, engine)
    soup = BeautifulSoup(msg.get_body(("html",)).get_content(), "html.parser")
    def plain(t: str) -> str:
        return " ".join(t.replace("’", "'").replace("“", '"').replace("”", '"').split()).lower()

    text = plain(msg.get_body(("plain",)).get_content())
    facts = 0
    for item in soup.select("div.item"):
        for br in item.find_all("br"):
            br.replace_with("\n")
        for mark in item.select("span.mark"):  # each mark a fact of its own
            mark.insert_after("\n")
        for q in item.find_all("q"):  # a browser shows <q> with its quotation marks
            q.replace_with(f'"{q.get_text()}"')
        for block in item.select("p.kind, h3, p.when, p.facts, div.why"):
            for line in block.get_text().split("\n"):
                line = " ".join(line.replace("·", " ").split())
                for piece in filter(None, (p.strip() for p in line.split(" Closing soon"))):
                    assert plain(piece) in text, piece
                    facts += 1
    assert facts >= 20


def test_a_bare_cpv_code_gets_the_label_another_stored_notice_gives_it(setup):
    cfg, engine = setup
    add_notice(engine, "bare", title="Solar panels")
    add_notice(engine, "other", title="Solar farm", raw={"tender": {"classification": {"id": "09331000", "description": "Solar panels"}}})
    add_match(engine, "acme", "bare", 0.8, explanation={"cpv": ["09331000", "72000000 IT services"], "evidence": "Panels."})
    _, view = _preview(cfg, engine)
    assert view.items[0].cpv == ["09331000 Solar panels", "72000000 IT services"]
    assert view.items[0].why.cpv == ["09331000 Solar panels", "72000000 IT services"]
