"""Deadline reminders: once per listed item, N days before it closes, sent-once, with their own unsubscribe;
and the "add to calendar" .ics link served by `matcher serve`."""
from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from helpers_digest import NOW, WEEK, add_notice, add_profile, make_config, parse_eml, smtp_server, store_for
from sqlmodel import select
from starlette.testclient import TestClient

from matcher.deliver.send import OutboxTransport, SmtpTransport
from matcher.store.models import Digest, Feedback, Match, Profile, Reminder
from matcher.deliver.reminders import deliver_reminders
from matcher.store import session_scope
from matcher.web.app import create_app


@pytest.fixture
def setup(tmp_path):
    cfg = make_config(tmp_path, digest={"reminder_days": 3, "public_base_url": "https://links.example.org"})
    engine = store_for(cfg)
    add_profile(engine, "acme", name="Acme Web Ltd")
    add_notice(engine, "web", title="Website rebuild", closes_at=NOW + timedelta(days=10))
    add_notice(engine, "meh", title="Hosting", closes_at=NOW + timedelta(days=10))
    add_notice(engine, "unsent", title="Unsent item", closes_at=NOW + timedelta(days=10))
    with session_scope(engine) as s:  # the items of a sent digest and of a failed one
        sent = Digest(profile_id="acme", week=WEEK, state="sent")
        failed = Digest(profile_id="acme", week="2025-W04", state="failed")
        s.add(sent), s.add(failed)
        s.flush()
        for key in ("web", "meh", "unsent"):
            s.add(Match(profile_id="acme", notice_key=key, week=WEEK, score=0.8,
                        digest_id=failed.id if key == "unsent" else sent.id))
        s.add(Feedback(profile_id="acme", notice_key="meh", verdict="not-relevant"))
    return cfg, engine


def run(cfg, engine, when, transport=None):
    with session_scope(engine) as s:
        return deliver_reminders(s, cfg, when, transport or OutboxTransport(cfg.path(cfg.delivery.outbox_dir)))


def reminders(engine) -> list[Reminder]:
    with session_scope(engine) as s:
        return list(s.exec(select(Reminder).order_by(Reminder.id)))


def test_one_reminder_n_days_before_close_only_for_listed_items_not_marked_not_relevant(setup, tmp_path):
    cfg, engine = setup
    assert run(cfg, engine, NOW + timedelta(days=6)).created == 0  # 4 days before: not yet
    result = run(cfg, engine, NOW + timedelta(days=7, hours=1))
    assert result.created == 1 and result.outcomes["sent"] == 1
    (r,) = reminders(engine)
    assert (r.profile_id, r.notice_key, r.state) == ("acme", "web", "sent")
    for day in (7.5, 8, 9, 9.9):  # every later run: nothing new, nothing sent twice
        again = run(cfg, engine, NOW + timedelta(days=day))
        assert again.created == 0 and not again.outcomes
    emls = list((tmp_path / "outbox" / "reminders").glob("*.eml"))
    assert len(emls) == 1
    msg = parse_eml(emls[0].read_bytes())
    assert msg["Subject"] == "Closes in 3 days: Website rebuild"
    text = msg.get_body(("plain",)).get_content()
    assert "Closes in 3 days: Thu 6 Feb 2025, 08:00" in text and "Buyer: Leeds City Council" in text
    assert "Add to calendar: https://links.example.org/calendar/" in text


def test_reminders_have_their_own_one_click_unsubscribe_that_keeps_the_digest(setup):
    cfg, engine = setup
    run(cfg, engine, NOW + timedelta(days=8))
    out = next((cfg.path(cfg.delivery.outbox_dir) / "reminders").glob("*.eml"))
    msg = parse_eml(out.read_bytes())
    url = msg["List-Unsubscribe"].strip("<>")
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert urlsplit(url).path.startswith("/reminders/unsubscribe/")
    client = TestClient(create_app(cfg, engine))
    assert client.get(urlsplit(url).path).status_code == 200  # GET only asks
    with session_scope(engine) as s:
        assert s.get(Profile, "acme").reminders_unsubscribed_at is None
    for _ in range(2):  # idempotent
        assert client.post(urlsplit(url).path, data={"List-Unsubscribe": "One-Click"}).status_code == 200
    with session_scope(engine) as s:
        p = s.get(Profile, "acme")
        assert p.reminders_unsubscribed_at is not None and p.unsubscribed_at is None  # the digest carries on
    add_notice(engine, "later", title="Another", closes_at=NOW + timedelta(days=12))
    with session_scope(engine) as s:
        d = s.exec(select(Digest).where(Digest.state == "sent")).one()
        s.add(Match(profile_id="acme", notice_key="later", week="2025-W06", score=0.8, digest_id=d.id))
    assert run(cfg, engine, NOW + timedelta(days=10)).created == 0
    digest_unsub = client.get("/unsubscribe/x")  # a digest token is not a reminders token and vice versa
    assert digest_unsub.status_code == 400
    assert client.post(f"/unsubscribe/{urlsplit(url).path.rsplit('/', 1)[1]}").status_code == 400


def test_a_failed_send_is_retried_and_still_sent_only_once(setup):
    cfg, engine = setup
    with smtp_server() as (handler, port):
        smtp_cfg = cfg.delivery.model_copy(update={"mode": "smtp", "smtp_port": port})
        handler.fail_with = "451 4.3.0 try later"
        first = run(cfg, engine, NOW + timedelta(days=8), SmtpTransport(smtp_cfg, tries=1, wait_seconds=0))
        assert first.outcomes["failed"] == 1 and reminders(engine)[0].state == "failed"
        handler.fail_with = None
        second = run(cfg, engine, NOW + timedelta(days=8, hours=1), SmtpTransport(smtp_cfg, tries=1, wait_seconds=0))
        assert second.outcomes["sent"] == 1
        third = run(cfg, engine, NOW + timedelta(days=8, hours=2), SmtpTransport(smtp_cfg, tries=1, wait_seconds=0))
        assert not third.outcomes
    assert len(handler.messages) == 1 and handler.recipients == [["acme@example.org"]]
    assert reminders(engine)[0].attempts == 2


def test_calendar_link_serves_the_deadline_as_an_ics_event(setup):
    from icalendar import Calendar

    cfg, engine = setup
    client = TestClient(create_app(cfg, engine))
    from matcher.deliver.tokens import LinkSigner

    url = LinkSigner.from_config(cfg).calendar_url("web")
    got = client.get(urlsplit(url).path)
    assert got.status_code == 200 and got.headers["content-type"].startswith("text/calendar")
    event = Calendar.from_ical(got.content).walk("VEVENT")[0]
    assert event.decoded("dtend") == NOW + timedelta(days=10)
    assert str(event["summary"]) == "Bid deadline: Website rebuild"
    assert client.get("/calendar/forged.ics").status_code == 400
