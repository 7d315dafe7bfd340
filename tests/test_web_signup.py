"""Sign-up with double opt-in on a real uvicorn server: CSRF, rate limits, nothing revealed, nothing before the
confirmation link, replayed and expired links."""
from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from helpers_digest import NOW, add_profile, free_port, make_config, store_for, web_server
from helpers_web import account_mails, as_form, links_in, path, post_form, signup_form, soup, token_of
from sqlmodel import select

from matcher.deliver.tokens import LinkSigner
from matcher.store import session_scope
from matcher.store.models import Profile, ProfileEvent, Signup
from matcher.web.app import create_app


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self):
        return self.now


@pytest.fixture
def site(tmp_path):
    port = free_port()
    cfg = make_config(tmp_path, digest={"public_base_url": f"http://127.0.0.1:{port}"},
                      web={"rate_per_address": "3/hour", "rate_per_client": "6/hour", "preview_weeks": 0})
    engine = store_for(cfg)
    clock = Clock()
    app = create_app(cfg, engine, now=clock)
    with web_server(app, port) as base, httpx.Client(base_url=base, timeout=20, follow_redirects=True) as client:
        yield cfg, engine, client, clock, tmp_path / "outbox"


def _profiles(engine) -> list[Profile]:
    with session_scope(engine) as s:
        return list(s.exec(select(Profile)))


def test_a_post_without_the_csrf_token_is_refused_cookie_or_not(site):
    _, engine, client, _, _ = site
    refused = client.post("/signup", data=as_form(signup_form()))  # no cookie, no field
    assert refused.status_code == 403 and "This form has expired" in refused.text
    assert "default-src 'none'" in refused.headers["content-security-policy"]
    token_of(client, "/signup")  # now the client holds the cookie
    assert client.post("/signup", data=as_form(signup_form())).status_code == 403
    assert client.post("/signup", data=as_form([("csrftoken", "forged"), *signup_form()])).status_code == 403
    with session_scope(engine) as s:
        assert s.exec(select(Signup)).first() is None


def test_signup_holds_the_profile_until_the_emailed_link_is_followed(site):
    _, engine, client, _, outbox = site
    r = post_form(client, "/signup", signup_form())
    assert r.status_code == 200 and soup(r).h1.get_text(strip=True) == "Check your email"
    assert _profiles(engine) == []  # nothing to match or send yet
    [mail] = account_mails(outbox, "confirm")
    assert mail["To"].addresses[0].addr_spec == "owner@harbour.example"
    confirm = next(u for u in links_in(mail) if "/signup/confirm/" in u)

    page = client.get(path(confirm))
    assert page.status_code == 200 and _profiles(engine) == []  # GET changes nothing (mail scanners)
    done = post_form(client, path(confirm), {})
    assert done.status_code == 200 and soup(done).h1.get_text(strip=True) == "You are signed up"
    [profile] = _profiles(engine)
    assert profile.name == "Harbour Web Studio" and profile.email == "owner@harbour.example"
    assert profile.regions == ["South West"] and profile.value_min == 10000 and profile.keywords == ["website", "accessibility"]
    assert profile.extra_emails == []  # the second address confirms for itself
    [welcome] = account_mails(outbox, "welcome")
    assert any("/profile/" in u for u in links_in(welcome))
    [invite] = account_mails(outbox, "recipient")
    assert invite["To"].addresses[0].addr_spec == "ops@harbour.example"
    agree = next(u for u in links_in(invite) if "/recipient/" in u)
    post_form(client, path(agree), {})
    assert _profiles(engine)[0].extra_emails == ["ops@harbour.example"]


def test_a_replayed_confirmation_link_makes_no_second_profile(site):
    _, engine, client, _, outbox = site
    post_form(client, "/signup", signup_form())
    confirm = next(u for u in links_in(account_mails(outbox, "confirm")[0]) if "/signup/confirm/" in u)
    token = token_of(client, path(confirm))
    first = client.post(path(confirm), data={"csrftoken": token})
    again = client.post(path(confirm), data={"csrftoken": token})  # the same form sent twice
    assert first.status_code == again.status_code == 200 and len(_profiles(engine)) == 1
    assert soup(client.get(path(confirm))).h1.get_text(strip=True) == "You are signed up"
    with session_scope(engine) as s:
        assert len(list(s.exec(select(ProfileEvent).where(ProfileEvent.kind == "confirmed")))) == 1


def test_the_page_is_the_same_for_an_address_already_registered(site):
    _, engine, client, _, outbox = site
    add_profile(engine, "known", email="owner@harbour.example")
    known = post_form(client, "/signup", signup_form())
    new = post_form(client, "/signup", signup_form(emails="someone.else@harbour.example\nops@harbour.example"))
    assert known.status_code == new.status_code == 200
    text = lambda r: soup(r).find("main").get_text(" ", strip=True)  # noqa: E731
    assert text(known).replace("owner@harbour.example", "X") == text(new).replace("someone.else@harbour.example", "X")
    mails = account_mails(outbox, "confirm", count=2)
    to_known = next(m for m in mails if m["To"].addresses[0].addr_spec == "owner@harbour.example")
    assert "already gets the digest for known Ltd" in to_known.get_body(("plain",)).get_content()  # told only by email


def test_unknown_regions_and_bad_cpv_codes_are_refused_field_by_field(site):
    _, _, client, _, _ = site
    r = post_form(client, "/signup", [*signup_form(), ("regions", "Atlantis"), ("cpv", "72OOOOOO")])
    assert r.status_code == 400
    page = soup(r)
    assert "Choose regions from the list" in page.find(id="regions-error").get_text()
    assert "is not a CPV code" in page.find(id="cpv-error").get_text()
    assert page.find(id="name")["value"] == "Harbour Web Studio"  # what was typed is kept


def test_hostile_text_is_shown_as_text(site):
    _, _, client, _, _ = site
    r = post_form(client, "/signup", signup_form(name="<script>alert(1)</script>", capabilities=""))
    assert r.status_code == 400 and "<script>alert(1)</script>" not in r.text
    assert "&lt;script&gt;" in r.text


def test_signups_are_rate_limited_per_address_and_per_client(site):
    _, _, client, _, _ = site
    statuses = [post_form(client, "/signup", signup_form()).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]  # 3 an hour for one address
    others = [post_form(client, "/signup", signup_form(emails=f"x{i}@harbour.example")).status_code for i in range(3)]
    assert others[-1] == 429  # 6 an hour from one client, whatever the address


def test_an_unconfirmed_signup_expires_and_its_link_stops_working(site):
    cfg, engine, client, clock, outbox = site
    post_form(client, "/signup", signup_form())
    confirm = next(u for u in links_in(account_mails(outbox, "confirm")[0]) if "/signup/confirm/" in u)
    clock.now = NOW + timedelta(hours=cfg.web.signup_expiry_hours + 1)
    r = client.get(path(confirm))
    assert r.status_code == 400 and "expired" in r.text
    post_form(client, "/signup", signup_form(emails="later@harbour.example"))  # a new sign-up purges old ones
    with session_scope(engine) as s:
        assert [x.email for x in s.exec(select(Signup))] == ["later@harbour.example"]
    assert _profiles(engine) == []


def test_the_pending_page_keeps_sharpened_text_for_the_confirmation(site):
    cfg, engine, client, _, outbox = site
    r = post_form(client, "/signup", signup_form())
    pending = path(str(r.url))
    post_form(client, pending, signup_form(capabilities="We build accessible library websites."))
    confirm = next(u for u in links_in(account_mails(outbox, "confirm")[0]) if "/signup/confirm/" in u)
    post_form(client, path(confirm), {})
    assert _profiles(engine)[0].capabilities == "We build accessible library websites."


def test_a_confirm_token_is_no_pending_token(site):
    cfg, _, client, _, _ = site
    signer = LinkSigner.from_config(cfg)
    token = signer.signup_url("confirm", 1).rsplit("/", 1)[1]
    assert client.get(f"/signup/pending/{token}").status_code == 400
