"""The profile an SME owns, and verdicts both ways, on a real uvicorn server: edit from the signed link, an edit
that empties it refused, unsubscribe and re-subscribe, the link by email, and verdicts with undo and a reason."""
from __future__ import annotations

import httpx
import pytest
from helpers_digest import NOW, add_match, add_notice, add_profile, free_port, make_config, store_for, web_server
from helpers_web import account_mails, links_in, path, post_form, signup_form, soup
from sqlmodel import select

from matcher.deliver.tokens import LinkSigner
from matcher.store import session_scope
from matcher.store.feedback import verdicts_for
from matcher.store.models import Feedback, Profile, ProfileEvent
from matcher.web.app import create_app


@pytest.fixture
def site(tmp_path):
    port = free_port()
    cfg = make_config(tmp_path, digest={"public_base_url": f"http://127.0.0.1:{port}"}, web={"preview_weeks": 0})
    engine = store_for(cfg)
    add_profile(engine, "acme", name="Acme Web", email="owner@acme.example", regions=["London"], keywords=["website"])
    add_notice(engine, "n1", title="Library website rebuild")
    add_match(engine, "acme", "n1", 0.9)
    signer = LinkSigner.from_config(cfg)
    with web_server(create_app(cfg, engine, now=lambda: NOW), port) as base, \
            httpx.Client(base_url=base, timeout=20, follow_redirects=True) as client:
        yield cfg, engine, client, signer, tmp_path / "outbox"


def _acme(engine) -> Profile:
    with session_scope(engine) as s:
        return s.get(Profile, "acme")


def test_the_profile_link_shows_the_profile_and_saves_an_edit(site):
    _, engine, client, signer, _ = site
    page = path(signer.profile_url("acme", NOW))
    shown = soup(client.get(page))
    assert shown.find(id="capabilities").get_text() == "software development"
    assert shown.find("input", attrs={"value": "London"}).has_attr("checked")
    r = post_form(client, page, signup_form(name="Acme Web", emails="owner@acme.example",
                                            capabilities="Accessible websites for libraries", regions="London"))
    assert r.status_code == 200 and "Changes take effect from the next digest" in soup(r).find(id="saved").get_text()
    row = _acme(engine)
    assert row.capabilities == "Accessible websites for libraries" and row.value_max == 200000
    with session_scope(engine) as s:
        [edit] = s.exec(select(ProfileEvent).where(ProfileEvent.kind == "edited")).all()
        assert "capabilities" in edit.detail and edit.via == "web"


def test_an_edit_that_empties_the_profile_is_refused_with_the_reason(site):
    _, engine, client, signer, _ = site
    page = path(signer.profile_url("acme", NOW))
    r = post_form(client, page, signup_form(name="Acme Web", emails="owner@acme.example", capabilities=""))
    assert r.status_code == 400
    assert "capability text is what we match on" in soup(r).find(id="refused").get_text()
    assert _acme(engine).capabilities == "software development"


def test_a_new_recipient_gets_email_only_after_confirming(site):
    _, engine, client, signer, outbox = site
    page = path(signer.profile_url("acme", NOW))
    post_form(client, page, signup_form(name="Acme Web", emails="owner@acme.example\nnew@acme.example",
                                        capabilities="software development", regions="London"))
    assert _acme(engine).extra_emails == []
    [invite] = account_mails(outbox, "recipient")
    post_form(client, path(next(u for u in links_in(invite) if "/recipient/" in u)), {})
    assert _acme(engine).extra_emails == ["new@acme.example"]


def test_unsubscribe_then_resubscribe_from_the_same_pages(site):
    _, engine, client, signer, _ = site
    unsub = path(signer.unsubscribe_url("acme", NOW))
    r = post_form(client, unsub, {})
    assert soup(r).h1.get_text(strip=True) == "You are unsubscribed" and _acme(engine).unsubscribed_at is not None
    back = soup(r).find("form")["action"]
    r = client.post(back, data={"csrftoken": soup(r).find("input", attrs={"name": "csrftoken"})["value"]})
    assert soup(r).h1.get_text(strip=True) == "You are subscribed again" and _acme(engine).unsubscribed_at is None
    with session_scope(engine) as s:
        kinds = [e.kind for e in s.exec(select(ProfileEvent).order_by(ProfileEvent.id))]
    assert kinds == ["unsubscribed", "resubscribed"]


def test_the_link_request_answers_the_same_for_known_and_unknown_addresses(site):
    _, _, client, _, outbox = site
    known = post_form(client, "/profile/link", {"email": "owner@acme.example"})
    unknown = post_form(client, "/profile/link", {"email": "nobody@acme.example"})
    assert known.status_code == unknown.status_code == 200
    assert soup(known).find(id="link-sent").get_text() == soup(unknown).find(id="link-sent").get_text()
    mails = account_mails(outbox, "profile_link", wait=2)
    assert [m["To"].addresses[0].addr_spec for m in mails] == ["owner@acme.example"]
    assert any("/profile/" in u for u in links_in(mails[0]))


def test_a_profile_token_opens_no_other_page_and_a_damaged_one_is_refused(site):
    _, _, client, signer, _ = site
    token = signer.profile_url("acme", NOW).rsplit("/", 1)[1]
    assert client.get(f"/unsubscribe/{token}").status_code == 400
    assert client.get(f"/champion/{token}").status_code == 403
    assert client.get(f"/profile/{token[:-3]}abc").status_code == 400


def test_relevant_then_undo_puts_back_no_verdict(site):
    _, engine, client, signer, _ = site
    page = path(signer.feedback_url("acme", "n1", "relevant", NOW))
    assert "Mark this notice as relevant?" in client.get(page).text
    with session_scope(engine) as s:
        assert s.exec(select(Feedback)).first() is None  # GET stores nothing
    r = post_form(client, page, {})
    assert soup(r).h1.get_text(strip=True) == "Thank you"
    with session_scope(engine) as s:
        assert verdicts_for(s, ["acme"]) == {"acme": [("n1", "relevant")]}  # what the ranking reads
    undo = soup(r).find("button", id="undo-feedback").find_parent("form")
    r = client.post(undo["action"], data={i["name"]: i.get("value", "") for i in undo.find_all("input")})
    assert soup(r).h1.get_text(strip=True) == "Undone"
    with session_scope(engine) as s:
        assert verdicts_for(s, ["acme"]) == {}


def test_not_relevant_with_a_reason_and_undo_back_to_the_earlier_verdict(site):
    _, engine, client, signer, _ = site
    post_form(client, path(signer.feedback_url("acme", "n1", "relevant", NOW)), {})
    page = path(signer.feedback_url("acme", "n1", "not-relevant", NOW))
    r = post_form(client, page, {"reason": "wrong-place", "reason_text": "We only work <north>"})
    assert soup(r).find(id="reason-saved") is not None
    with session_scope(engine) as s:
        row = s.exec(select(Feedback)).one()
        assert (row.verdict, row.reason) == ("not-relevant", "wrong-place: We only work <north>")
    undo = soup(r).find("button", id="undo-feedback").find_parent("form")
    client.post(undo["action"], data={i["name"]: i.get("value", "") for i in undo.find_all("input")})
    with session_scope(engine) as s:
        assert s.exec(select(Feedback.verdict)).one() == "relevant"


def test_link_requests_are_rate_limited_per_address_known_or_not(site):
    _, _, client, _, _ = site
    for address in ("owner@acme.example", "nobody@acme.example"):
        statuses = [post_form(client, "/profile/link", {"email": address}).status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429], address  # web.rate_per_address: 3 an hour, whoever it is


def test_deadline_reminders_go_off_and_come_back_from_the_profile_page(site):
    _, engine, client, signer, _ = site
    page = path(signer.profile_url("acme", NOW))
    r = post_form(client, page, {"reminders": "off"}, action=f"{page}/reminders")
    assert r.status_code == 200 and soup(r).find(id="reminders-are-off") is not None
    assert _acme(engine).reminders_unsubscribed_at is not None and _acme(engine).unsubscribed_at is None
    r = post_form(client, page, {"reminders": "on"}, action=f"{page}/reminders")
    assert soup(r).find(id="reminders-off") is not None and _acme(engine).reminders_unsubscribed_at is None
    stopped = post_form(client, path(signer.reminders_unsubscribe_url("acme", NOW)), {})
    assert soup(stopped).find(id="profile-link")["href"].startswith("http://127.0.0.1:")  # the way back
    with session_scope(engine) as s:
        kinds = [e.kind for e in s.exec(select(ProfileEvent).order_by(ProfileEvent.id))]
    assert kinds == ["reminders-off", "reminders-on"]
