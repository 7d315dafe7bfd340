"""What the desk and the sign-up page read from matching, with the real model: the match job's record of each
SME's week (best score even below the threshold), and the sign-up preview of the last four weeks."""
from __future__ import annotations

from datetime import timedelta

from sqlmodel import select
from test_match_job import CYBER, GROUNDS, NOTICES, NOW, WEEK, cfg, store  # noqa: F401 - fixtures

from jobs.match import match_job
from matcher.clock import week_of
from matcher.embed import Embedder, cached_embed
from matcher.schema import ProfileSpec
from matcher.store import session_scope
from matcher.store.models import Notice, WeekOutcome
from matcher.store.profiles import save_profile
from matcher.web.preview import past_weeks

BAKER = ProfileSpec(id="baker", name="Crumb Bakery", email="b@example.org", regions=["UK-wide"],
                    capabilities="Artisan sourdough bread and pastries for cafes.", keywords=["sourdough"])


def test_the_match_job_records_each_smes_week_with_its_best_score(store, cfg):  # noqa: F811
    with session_scope(store) as s:
        save_profile(s, BAKER)
    match_job(cfg, store, NOW)
    with session_scope(store) as s:
        got = {o.profile_id: o for o in s.exec(select(WeekOutcome).where(WeekOutcome.week == WEEK))}
    assert set(got) == {"grounds", "cyber", "baker"}
    assert got["grounds"].matched == 2 and got["grounds"].best_notice_key == "parks"
    assert got["grounds"].best_score >= cfg.matching.threshold
    baker = got["baker"]
    assert baker.matched == 0 and baker.best_score is not None and baker.best_score < cfg.matching.threshold
    match_job(cfg, store, NOW + timedelta(hours=1))  # a re-run replaces the week's record
    with session_scope(store) as s:
        assert len(list(s.exec(select(WeekOutcome).where(WeekOutcome.week == WEEK)))) == 3


def test_the_signup_preview_ranks_each_past_week_from_the_stored_notices(store, cfg):  # noqa: F811
    now = NOW + timedelta(days=7)
    with session_scope(store) as s:  # parks and verges arrived two weeks before `now`, the pentest last week
        for key, days in (("parks", 14), ("verges", 14), ("pentest", 8)):
            row = s.exec(select(Notice).where(Notice.key == key)).one()
            row.first_seen = now - timedelta(days=days)
            s.add(row)
        for key in ("soon", "scotland", "awarded", "cancelled"):
            row = s.exec(select(Notice).where(Notice.key == key)).one()
            row.first_seen = now - timedelta(days=60)
            s.add(row)
    embedder = Embedder(cfg.embedding)

    def encode(texts):
        with session_scope(store) as s:
            return cached_embed(s, embedder, texts)[0]

    with session_scope(store) as s:
        grounds = past_weeks(s, cfg, GROUNDS, now, encode)
        cyber = past_weeks(s, cfg, CYBER, now, encode)
    assert [w.week for w in grounds.weeks] == [week_of(now - timedelta(weeks=k)) for k in (4, 3, 2, 1)]
    listed = [(w.week, i.key) for w in grounds.weeks for i in w.items]
    # each fit once, in the first week it was stored and still open then: the pitch (closed by now) was open
    # four weeks ago; Dundee is outside the SME's regions, the award and the cancelled notice never open
    weeks = dict((k, w) for w, k in listed)
    assert sorted(weeks) == ["parks", "soon", "verges"] and len(listed) == 3
    assert weeks["parks"] == weeks["verges"] == week_of(now - timedelta(days=14))
    assert weeks["soon"] == grounds.weeks[0].week
    assert [i.key for w in cyber.weeks for i in w.items] == ["pentest"] and cyber.total == 1
    assert all(i.title for w in grounds.weeks for i in w.items)


def test_the_pending_signup_page_shows_the_preview_before_confirming(engine, tmp_path):
    import httpx
    from helpers_digest import free_port, make_config, web_server
    from helpers_web import post_form, signup_form, soup

    from matcher.ingest.notices import upsert_notice
    from matcher.web.app import create_app

    port = free_port()
    site_cfg = make_config(tmp_path, digest={"public_base_url": f"http://127.0.0.1:{port}"})
    from helpers_digest import store_for

    db = store_for(site_cfg)
    with session_scope(db) as s:
        for n in NOTICES:
            upsert_notice(s, n)
        for row in s.exec(select(Notice)):
            row.first_seen = NOW - timedelta(days=10)
            s.add(row)
    with web_server(create_app(site_cfg, db, now=lambda: NOW), port) as base, \
            httpx.Client(base_url=base, timeout=120, follow_redirects=True) as client:
        r = post_form(client, "/signup", signup_form(
            name="Greenacre Grounds", emails="g@example.org", regions="South West", value_min="", value_max="",
            capabilities=GROUNDS.capabilities, keywords="grounds maintenance, grass cutting"))
    page = soup(r)
    assert page.find(id="preview-heading").get_text(strip=True) == "What you would have received in the last 4 weeks"
    titles = [li.strong.get_text() for li in page.select("li.preview-item")]
    assert titles[0] == "Grounds maintenance of parks and cemeteries"
    assert "IT health check and penetration testing" not in titles


def test_profiles_past_weeks_prints_the_same_preview(store, cfg, tmp_path):  # noqa: F811
    from typer.testing import CliRunner

    from matcher.cli import app

    db = store.url.database
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{db}"\n')
    with session_scope(store) as s:
        for row in s.exec(select(Notice)):
            row.first_seen = NOW - timedelta(days=10)
            s.add(row)
    r = CliRunner().invoke(app, ["profiles", "past-weeks", "grounds", "--json", "--now", NOW.isoformat(),
                                 "--config", str(config)])
    assert r.exit_code == 0, r.output
    import json

    titles = [i["title"] for w in json.loads(r.stdout)["weeks"] for i in w["items"]]
    assert titles[0] == "Grounds maintenance of parks and cemeteries" and "IT health check and penetration testing" not in titles
