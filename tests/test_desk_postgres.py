"""The desk on a real PostgreSQL server: sign-up to confirmed profile through the pages, address look-ups over
further recipients, champions' marks, the figures and reasons, and the export."""
from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from helpers_champion import seed_champion_store
from helpers_digest import NOW, WEEK, free_port, make_config, web_server
from helpers_web import account_mails, links_in, path, post_form, signup_form
from sqlmodel import select

from matcher.quality.judgments import collect
from matcher.store import accounts, init_db, make_engine, session_scope
from matcher.store.champions import add_champion, find_by_email, mark
from matcher.store.models import Profile, ProfileEvent
from matcher.web import champion
from matcher.web.app import create_app
from matcher.web.desk_report import explain_quiet, trend

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg(pg_url, tmp_path):
    """A config and store on a fresh schema of the session's PostgreSQL server (conftest's pg_url)."""
    port = free_port()
    cfg = make_config(tmp_path, database={"url": pg_url}, digest={"public_base_url": f"http://127.0.0.1:{port}"},
                      web={"preview_weeks": 0})
    engine = make_engine(cfg.database_url())
    init_db(engine)
    yield cfg, engine, port, tmp_path / "outbox"
    engine.dispose()


def test_signup_confirm_and_edit_through_the_pages(pg):
    cfg, engine, port, outbox = pg
    with web_server(create_app(cfg, engine, now=lambda: NOW), port) as base, \
            httpx.Client(base_url=base, timeout=20, follow_redirects=True) as client:
        post_form(client, "/signup", signup_form())
        confirm = next(u for u in links_in(account_mails(outbox, "confirm")[0]) if "/signup/confirm/" in u)
        post_form(client, path(confirm), {})
        invite = account_mails(outbox, "recipient")[0]
        post_form(client, path(next(u for u in links_in(invite) if "/recipient/" in u)), {})
        with session_scope(engine) as s:
            profile = s.exec(select(Profile)).one()
            assert profile.extra_emails == ["ops@harbour.example"]
            assert [p.id for p in accounts.profiles_for_address(s, "OPS@harbour.example")] == [profile.id]
            assert accounts.profiles_for_address(s, "ops@harbour") == []
        welcome = account_mails(outbox, "welcome")[0]
        link = path(next(u for u in links_in(welcome) if "/profile/" in u))
        r = post_form(client, link, signup_form(capabilities=""))
        assert r.status_code == 400
    with session_scope(engine) as s:
        assert [e.kind for e in s.exec(select(ProfileEvent))] == ["confirmed", "recipient-added"]


def test_marks_figures_reasons_and_export_read_the_same_on_postgresql(pg):
    cfg, engine, _, _ = pg
    seed_champion_store(engine)
    with session_scope(engine) as s:
        person, _ = add_champion(s, "Chris Champion", "Chris@Council.example")
        assert find_by_email(s, "chris@council.example").id == person.id
        mark(s, person, "bolt", "n3", "relevant", now=NOW + timedelta(hours=2))
        accounts.unsubscribe(s, "acme", now=NOW + timedelta(hours=3))
    with session_scope(engine) as s:
        report = champion.week_report(s, WEEK)
        explain_quiet(s, report, cfg.matching.threshold)
        why = {q.profile_id: q.reason for q in report.got_nothing}
        assert why["flaky"].startswith("send failed") and why["newbie"] == "no match run recorded for this week"
        [week] = trend(s, WEEK, cfg.digest.timezone, 1)
        assert (week.items_sent, week.champion_relevant, week.unsubscribes) == (4, 1, 1)
        judged, smes, champions = collect(s)
        assert judged[("bolt", "n3")] == ["relevant"] and (smes, champions) == (2, 1)


def test_nul_bytes_and_control_characters_never_reach_postgresql(pg):
    cfg, engine, port, _ = pg
    seed_champion_store(engine)
    with session_scope(engine) as s:
        person, _ = add_champion(s, "Chris Champion", "chris@council.example")
    from matcher.deliver.tokens import LinkSigner

    home = path(LinkSigner.from_config(cfg).champion_url(person.id, 30, NOW))
    with web_server(create_app(cfg, engine, now=lambda: NOW), port) as base, \
            httpx.Client(base_url=base, timeout=20, follow_redirects=True) as client:
        r = post_form(client, "/signup", signup_form(capabilities="Web\x00sites\x07 for councils", keywords="web\x00site"))
        assert r.status_code == 200
        assert client.get(f"{home}/sme/%00").status_code == 404
        bad = post_form(client, f"{home}/sme/bolt", {"profile": "bo\x00lt", "notice": "n3", "verdict": "relevant"},
                        action=f"{home}/mark")
        assert bad.status_code == 400
    from matcher.store.models import Signup

    with session_scope(engine) as s:
        data = s.exec(select(Signup)).one().data
    assert data["capabilities"] == "Websites for councils" and data["keywords"] == ["website"]
