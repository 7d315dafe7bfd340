"""The link endpoint on a real uvicorn server on 127.0.0.1: one-click unsubscribe and 'Not relevant' feedback."""
from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

import httpx
import pytest
from bs4 import BeautifulSoup
from helpers_digest import NOW, WEEK, add_match, add_notice, add_profile, free_port, make_config, parse_eml, store_for, web_server
from helpers_web import post_form, token_of
from sqlmodel import select

from jobs.digest import digest_job
from matcher.store.models import Digest, Feedback, Profile
from matcher.store import session_scope
from matcher.deliver.tokens import LinkSigner
from matcher.web.app import create_app


@pytest.fixture
def site(tmp_path):
    """A store with one SME and one sent digest, and the web app serving its links."""
    port = free_port()
    cfg = make_config(tmp_path, digest={"public_base_url": f"http://127.0.0.1:{port}"})
    engine = store_for(cfg)
    add_profile(engine, "acme", name="Acme <Web> Ltd")
    add_notice(engine, "n1", title="Library website rebuild")
    add_match(engine, "acme", "n1", 0.9)
    digest_job(cfg, engine, NOW)
    message = parse_eml((tmp_path / "outbox" / WEEK / "acme.eml").read_bytes())
    with web_server(create_app(cfg, engine), port) as base, httpx.Client(base_url=base, timeout=10) as client:
        yield cfg, engine, message, client


def _profile(engine) -> Profile:
    with session_scope(engine) as s:
        return s.get(Profile, "acme")


def _path(url: str) -> str:
    return urlsplit(url).path


def test_get_on_the_unsubscribe_link_shows_a_button_and_changes_nothing(site):
    _, engine, message, client = site
    url = message["List-Unsubscribe"].strip("<>")
    r = client.get(_path(url))
    assert r.status_code == 200
    form = BeautifulSoup(r.text, "html.parser").find("form")
    assert form["method"] == "post" and form["action"] == _path(url) and form.find("button")
    assert "Acme &lt;Web&gt; Ltd" in r.text  # page text is autoescaped
    assert r.headers["referrer-policy"] == "no-referrer"
    assert _profile(engine).unsubscribed_at is None


def test_one_click_post_unsubscribes_and_a_second_post_changes_nothing(site):
    _, engine, message, client = site
    path = _path(message["List-Unsubscribe"].strip("<>"))
    body = {"content": b"List-Unsubscribe=One-Click",
            "headers": {"content-type": "application/x-www-form-urlencoded"}}

    first = client.post(path, **body)
    when = _profile(engine).unsubscribed_at
    second = client.post(path, **body)

    assert first.status_code == 200 and second.status_code == 200
    assert when is not None and _profile(engine).unsubscribed_at == when
    assert "You are unsubscribed" in second.text


def test_a_forged_or_wrong_purpose_token_is_rejected_with_400(site):
    cfg, engine, message, client = site
    good = _path(message["List-Unsubscribe"].strip("<>")).rsplit("/", 1)[1]
    forged = LinkSigner("another-key-entirely-123", cfg.digest.public_base_url).unsubscribe_token("acme")
    feedback_token = LinkSigner.from_config(cfg).feedback_token("acme", "n1")
    for token in (forged, good[:-2] + "xx", feedback_token, "not-a-token"):
        r = client.post(f"/unsubscribe/{token}")
        assert r.status_code == 400, token
        assert "This link is not valid" in r.text
    assert client.get(f"/feedback/{good}").status_code == 400
    assert _profile(engine).unsubscribed_at is None


def test_an_unsubscribed_sme_gets_no_next_digest(site):
    cfg, engine, message, client = site
    assert client.post(_path(message["List-Unsubscribe"].strip("<>"))).status_code == 200
    next_week = NOW + timedelta(days=7)
    report = digest_job(cfg, engine, next_week)
    assert report.build.created == [] and report.states == {}
    with session_scope(engine) as s:
        assert [d.week for d in s.exec(select(Digest))] == [WEEK]


def test_not_relevant_link_confirms_on_get_and_stores_feedback_on_post(site):
    _, engine, message, client = site
    soup = BeautifulSoup(message.get_body(("html",)).get_content(), "html.parser")
    path = _path(soup.select_one("a.feedback-link")["href"])

    page = client.get(path)
    with session_scope(engine) as s:
        assert s.exec(select(Feedback)).all() == []
    assert page.status_code == 200 and "Library website rebuild" in page.text
    token = token_of(client, path)
    first = client.post(path, data={"csrftoken": token})
    second = client.post(path, data={"csrftoken": token})

    assert first.status_code == 200 and second.status_code == 200 and "Thank you" in first.text
    with session_scope(engine) as s:
        rows = s.exec(select(Feedback)).all()
    assert [(f.profile_id, f.notice_key, f.verdict, f.via) for f in rows] == [("acme", "n1", "not-relevant", "email")]


def test_a_later_verdict_replaces_the_earlier_one(site):
    cfg, engine, _, client = site
    signer = LinkSigner.from_config(cfg)
    assert post_form(client, _path(signer.feedback_url("acme", "n1", "not-relevant")), {}).status_code == 200
    assert post_form(client, _path(signer.feedback_url("acme", "n1", "relevant")), {}).status_code == 200
    with session_scope(engine) as s:
        assert [f.verdict for f in s.exec(select(Feedback))] == ["relevant"]


def test_a_valid_link_for_a_removed_profile_is_404(site):
    cfg, _, _, client = site
    r = client.post(_path(LinkSigner.from_config(cfg).unsubscribe_url("nobody")))
    assert r.status_code == 404 and "no longer exists" in r.text
