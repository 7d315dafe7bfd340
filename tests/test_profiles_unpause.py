"""An SME paused after hard bounces (a real 550 from a real SMTP server on 127.0.0.1) is sent digests again after
`matcher profiles unpause`: the pause and bounce count cleared, an 'unpaused' event recorded, champions see it."""
from __future__ import annotations

from datetime import timedelta

import httpx
from bs4 import BeautifulSoup
from helpers_digest import NOW, add_match, add_notice, add_profile, free_port, make_config, store_for, web_server
from helpers_smtp import FaultyHandler, faulty_smtp
from helpers_web import path
from sqlmodel import select
from typer.testing import CliRunner

from jobs.digest import digest_job
from matcher import clock
from matcher.cli import app, common
from matcher.deliver.send import SmtpTransport
from matcher.deliver.tokens import LinkSigner
from matcher.store import session_scope
from matcher.store.champions import add_champion
from matcher.store.models import Profile, ProfileEvent
from matcher.web.app import create_app

NEXT_WEEK = NOW + timedelta(days=7)


def _cli(config, *args: str):  # noqa: ANN001, ANN202
    return CliRunner().invoke(app, [*args, "--config", str(config)], env={"COLUMNS": "200"})


def _next_item(engine, when) -> None:  # noqa: ANN001
    key = f"n-{clock.week_of(when)}"
    add_notice(engine, key, title=f"Tender for {clock.week_of(when)}", closes_at=when + timedelta(days=30))
    add_match(engine, "sme00", key, 0.9, week=clock.week_of(when))


def test_unpause_after_hard_bounces_sends_again_records_an_event_and_the_desk_shows_it(tmp_path, monkeypatch):
    monkeypatch.setattr(common.console, "_width", 200)
    handler = FaultyHandler()
    handler.rcpt_reply = "550 5.1.1 <sme00@example.org>: no such user"
    port = free_port()
    with faulty_smtp(handler) as (server, smtp_port):
        cfg = make_config(tmp_path, delivery={"mode": "smtp", "smtp_host": "127.0.0.1", "smtp_port": smtp_port,
                                              "timeout_seconds": 2, "max_hard_bounces": 1},
                          digest={"from_address": "Matcher <alerts@matcher.example.org>",
                                  "public_base_url": f"http://127.0.0.1:{port}"})
        engine = store_for(cfg)
        config = tmp_path / "config.toml"
        config.write_text(f'[database]\nurl = "{cfg.database.url}"\n[secrets]\nsecret_env = "MATCHER_TEST_SECRET_NOT_SET"\n'
                          f'secret_file = "{cfg.secrets.secret_file}"\n')
        add_profile(engine, "sme00", name="Bouncy Ltd")
        _next_item(engine, NOW)

        def send(when):  # noqa: ANN001, ANN202
            return digest_job(cfg, engine, when, transport=SmtpTransport(cfg.delivery, tries=1, wait_seconds=0.01))

        assert send(NOW).delivery.outcomes == {"bounced": 1}
        with session_scope(engine) as s:
            assert s.get(Profile, "sme00").paused_at is not None
        assert "paused after bounces" in _cli(config, "profiles", "list").output
        enabled = _cli(config, "profiles", "enable", "sme00")
        assert "still paused after hard bounces" in enabled.output and "profiles unpause sme00" in enabled.output

        fixed = _cli(config, "profiles", "edit", "sme00", "--email", "sme00@example.org")  # the same, re-checked
        assert fixed.exit_code == 0, fixed.output
        handler.rcpt_reply = None  # the mailbox is back
        _next_item(engine, NEXT_WEEK)
        assert send(NEXT_WEEK).delivery.outcomes == {} and not server.messages  # paused: nothing is tried

        done = _cli(config, "profiles", "unpause", "sme00", "--now", (NEXT_WEEK + timedelta(hours=1)).isoformat())
        assert done.exit_code == 0, done.output
        assert "unpaused sme00 (it was paused since" in done.output and "1 hard bounces in a row" in done.output
        with session_scope(engine) as s:
            p = s.get(Profile, "sme00")
            assert (p.paused_at, p.paused_reason, p.bounces, p.bouncing_since) == (None, None, 0, None)
            events = list(s.exec(select(ProfileEvent).where(ProfileEvent.kind == "unpaused")))
        assert len(events) == 1 and events[0].via == "cli" and "no such user" in events[0].detail
        again = _cli(config, "profiles", "unpause", "sme00")
        assert again.exit_code == 0 and "sme00 was not paused" in again.output
        assert _cli(config, "profiles", "unpause", "nobody").exit_code != 0

        later = NEXT_WEEK + timedelta(days=7)
        _next_item(engine, later)
        assert send(later).delivery.outcomes == {"sent": 1}
        assert [m["To"].addresses[0].addr_spec for m in server.messages] == ["sme00@example.org"]

    with session_scope(engine) as s:
        assert len(list(s.exec(select(ProfileEvent).where(ProfileEvent.kind == "unpaused")))) == 1
        person, _ = add_champion(s, "Chris Champion", "chris@council.example")
    home = path(LinkSigner.from_config(cfg).champion_url(person.id, 30, NOW, person.link_version))
    with web_server(create_app(cfg, engine, now=lambda: later), port) as base, httpx.Client(base_url=base) as client:
        page = BeautifulSoup(client.get(f"{home}/sme/sme00").text, "html.parser")
    note = page.select_one("#delivery").get_text(" ", strip=True)
    assert note.startswith("Delivery resumed on") and "(via cli)" in note and "no such user" in note
