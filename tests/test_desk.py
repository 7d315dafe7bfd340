"""The champions' desk on a real uvicorn server, and its commands: named sign-in links, marks stored with who
and when, why each SME got nothing, the figures per week and over time, and the export that `matcher eval` reads."""
from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from helpers_champion import add_digest, seed_champion_store
from helpers_digest import NOW, WEEK, add_notice, add_profile, free_port, make_config, store_for, web_server
from helpers_web import account_mails, links_in, path, post_form, soup
from sqlmodel import select
from typer.testing import CliRunner

from matcher.cli import app as cli
from matcher.config import ChampionConfig
from matcher.deliver.tokens import LinkSigner
from matcher.quality.corpus import read_notices, read_qrels
from matcher.store import session_scope
from matcher.store.champions import add_champion, revoke
from matcher.store.models import Champion, ChampionMark, Feedback, ProfileEvent, WeekOutcome
from matcher.store.profiles import read_profiles
from matcher.web.app import create_app

REPLAY = Path(__file__).resolve().parent.parent / "matcher" / "data" / "replay" / "contracts_finder"


@pytest.fixture
def desk(tmp_path):
    port = free_port()
    cfg = make_config(tmp_path, digest={"public_base_url": f"http://127.0.0.1:{port}"}, web={"preview_weeks": 0})
    cfg.champions = [ChampionConfig(name="Chris Champion", email="chris@council.example")]
    engine = store_for(cfg)
    seed_champion_store(engine)
    add_profile(engine, "typo", name="Typo Trades", regions=["Sout West"])  # skipped every week: a profile error
    add_profile(engine, "low", name="Low Scores Ltd")
    with session_scope(engine) as s:
        s.add(WeekOutcome(profile_id="low", week=WEEK, matched=0, best_score=0.41, best_notice_key="n3"))
        s.add(WeekOutcome(profile_id="quiet", week=WEEK, matched=0, best_score=None))
        s.add(ProfileEvent(profile_id="gone", kind="unsubscribed", created_at=NOW + timedelta(hours=1)))
    with web_server(create_app(cfg, engine, now=lambda: NOW + timedelta(hours=5)), port) as base, \
            httpx.Client(base_url=base, timeout=20, follow_redirects=True) as client:
        yield cfg, engine, client, tmp_path


def _sign_in(cfg, engine) -> str:
    with session_scope(engine) as s:
        person, _ = add_champion(s, "Chris Champion", "chris@council.example")
        return path(LinkSigner.from_config(cfg).champion_url(person.id, 30, NOW, person.link_version))


def _rows(page, table_id: str) -> dict[str, list[str]]:
    return {r.th.get_text(" ", strip=True): [td.get_text(" ", strip=True) for td in r.find_all("td")]
            for r in page.select(f"table#{table_id} tbody tr")}


def test_sign_in_by_email_sends_a_named_link_and_answers_the_same_for_anyone(desk):
    cfg, engine, client, tmp = desk
    with session_scope(engine) as s:
        add_champion(s, "Chris Champion", "chris@council.example")
    known = post_form(client, "/champion/sign-in", {"email": "chris@council.example"})
    unknown = post_form(client, "/champion/sign-in", {"email": "mallory@evil.example"})
    assert soup(known).find(id="link-sent").get_text() == soup(unknown).find(id="link-sent").get_text()
    [mail] = account_mails(tmp / "outbox", "champion_link", wait=2)
    assert mail["To"].addresses[0].addr_spec == "chris@council.example"
    url = next(u for u in links_in(mail) if "/champion/" in u)
    page = soup(client.get(path(url), params={"week": WEEK}))
    assert page.find(id="signed-in-as").get_text() == "Chris Champion"


def test_a_revoked_or_foreign_champion_link_is_refused(desk):
    cfg, engine, client, _ = desk
    link = _sign_in(cfg, engine)
    assert client.get(link).status_code == 200
    with session_scope(engine) as s:
        revoke(s, s.exec(select(Champion)).one())
    assert client.get(link).status_code == 403
    profile_token = LinkSigner.from_config(cfg).profile_url("acme", NOW).rsplit("/", 1)[1]
    assert client.get(f"/champion/{profile_token}").status_code == 403


def test_each_sme_that_got_nothing_says_why(desk):
    cfg, engine, client, _ = desk
    page = soup(client.get(_sign_in(cfg, engine), params={"week": WEEK}))
    why = {name: cells[1] for name, cells in _rows(page, "got-nothing").items()}
    assert why["Typo Trades"].startswith("profile error: regions: unknown region 'Sout West'")
    assert why["Flaky Mail Ltd"] == "send failed (failed): 550 mailbox unavailable"
    assert why["Low Scores Ltd"] == "nothing above the threshold 0.50: best score 0.41 (\u201cNotice n3 tender\u201d)"
    assert why["Quiet Co"].startswith("nothing passed its filters this week")
    assert why["Newbie Ltd"] == "no match run recorded for this week"


def test_a_champion_marks_a_sent_item_and_the_mark_keeps_who_and_when(desk):
    cfg, engine, client, _ = desk
    home = _sign_in(cfg, engine)
    sme = f"{home}/sme/bolt"
    r = post_form(client, sme, {"profile": "bolt", "notice": "n3", "verdict": "relevant", "week": WEEK},
                  action=f"{home}/mark")
    assert r.status_code == 200 and soup(r).find(id="mark-saved")
    assert "Relevant: Chris Champion" in soup(r).select_one("tr#item-n3 .marks").get_text()
    with session_scope(engine) as s:
        m = s.exec(select(ChampionMark)).one()
        assert (m.profile_id, m.notice_key, m.verdict) == ("bolt", "n3", "relevant")
        assert m.created_at is not None
    refused = post_form(client, sme, {"profile": "bolt", "notice": "n1", "verdict": "relevant"}, action=f"{home}/mark")
    assert refused.status_code == 400  # never sent to bolt
    no_token = client.post(f"{home}/mark", data={"profile": "bolt", "notice": "n3", "verdict": "not-relevant"})
    assert no_token.status_code == 403


def test_the_sme_page_shows_what_the_sme_said_was_wrong(desk):
    cfg, engine, client, _ = desk
    from matcher.store.feedback import set_reason

    with session_scope(engine) as s:
        set_reason(s, "acme", "n1", "wrong-place: we only work <north>")
    page = soup(client.get(f"{_sign_in(cfg, engine)}/sme/acme"))
    assert page.select_one("tr#item-n1 .feedback-reason").get_text() == "What was wrong: wrong-place: we only work <north>"


def test_figures_per_week_and_over_time(desk):
    cfg, engine, client, _ = desk
    home = _sign_in(cfg, engine)
    post_form(client, f"{home}/sme/acme", {"profile": "acme", "notice": "n2", "verdict": "relevant"}, action=f"{home}/mark")
    page = soup(client.get(home, params={"week": WEEK}))
    figures = {k: v[0] for k, v in _rows(page, "figures").items()}
    # sent this week: acme n1 n2, bolt n3, gone n6; SMEs said n1 not relevant, n2 relevant
    assert figures["Items sent"] == "4"
    assert figures["Share of sent items marked relevant by SMEs"] == "25%"
    assert figures["Share of sent items marked relevant by champions"] == "25%"
    assert figures["Feedback rate (sent items with an SME verdict)"] == "50%"
    assert figures["Unsubscribes"] == "1"
    trend = _rows(page, "trend")
    assert trend[WEEK][0] == "4" and trend["2025-W04"][0] == "1"  # bolt's n4 the week before
    assert trend["All 12 weeks"][0] == "6"  # + flaky's n7 in 2025-W03


def test_export_writes_verdicts_and_marks_as_judgments_matcher_eval_reads(desk, tmp_path):
    cfg, engine, _, _ = desk
    release = json.loads(sorted(REPLAY.glob("release_*.json"))[0].read_text())
    from matcher.ingest.notices import upsert_notice
    from matcher.sources.ocds import release_to_notice

    record = release_to_notice(release, "contracts_finder")
    other = release_to_notice(json.loads(sorted(REPLAY.glob("release_*.json"))[-1].read_text()), "contracts_finder")
    assert other.key != record.key
    with session_scope(engine) as s:
        upsert_notice(s, record)
        upsert_notice(s, other)  # stored, never judged
    add_digest(engine, "bolt", "2025-W02", "sent", [(record.key, 0.8)])
    with session_scope(engine) as s:
        person, _ = add_champion(s, "Chris Champion", "chris@council.example")
        s.add(Feedback(profile_id="bolt", notice_key=record.key, verdict="relevant", via="email"))
        s.add(ChampionMark(champion_id=person.id, profile_id="bolt", notice_key=record.key, verdict="not-relevant"))
    out = tmp_path / "bench"
    r = CliRunner().invoke(cli, ["champion", "export", "--out", str(out), "--config", str(_config_file(cfg, tmp_path))])
    assert r.exit_code == 0, r.output
    qrels = read_qrels(out / "qrels.jsonl")
    assert qrels == {"bolt": {record.key: 1}}  # the SME said relevant, a champion not: a partial fit
    # the judged notice first, then every other stored notice whose record reads again (n1..n7 have none)
    assert [n.key for n in read_notices([out / "notices" / "store.jsonl"])] == [record.key, other.key]
    assert [p.id for p in read_profiles(out / "profiles.json").profiles] == ["bolt"]
    assert "the notice is no longer stored" in r.output  # acme's verdicts are on notices without a record
    measured = CliRunner().invoke(cli, ["eval", "--profiles", str(out / "profiles.json"), "--qrels", str(out / "qrels.jsonl"),
                                        "--notices", str(out / "notices"), "--system", "tfidf", "--json",
                                        "--config", str(_config_file(cfg, tmp_path))])
    assert measured.exit_code == 0, measured.output
    figures = json.loads(measured.stdout)
    assert figures["profiles"] == 1 and 0 < figures["systems"]["tfidf"]["mrr"] <= 1.0
    small = CliRunner().invoke(cli, ["champion", "export", "--out", str(tmp_path / "small"), "--judged-only",
                                     "--config", str(_config_file(cfg, tmp_path))])
    assert small.exit_code == 0, small.output
    assert [n.key for n in read_notices([tmp_path / "small" / "notices" / "store.jsonl"])] == [record.key]


def _config_file(cfg, tmp_path: Path) -> Path:
    """The test config as a TOML file, for the CLI."""
    p = tmp_path / "config.toml"
    p.write_text(f'[database]\nurl = "{cfg.database.url}"\n[secrets]\nsecret_env = "MATCHER_TEST_SECRET_NOT_SET"\n'
                 f'secret_file = "{cfg.secrets.secret_file}"\n')
    return p


def test_each_digest_item_has_both_verdict_links_and_the_email_links_the_profile(tmp_path):
    from jobs.digest import digest_job
    from helpers_digest import add_match, parse_eml
    from bs4 import BeautifulSoup

    cfg = make_config(tmp_path)
    engine = store_for(cfg)
    add_profile(engine, "acme", name="Acme Web", extra_emails=["ops@acme.example"])
    add_notice(engine, "n1", title="Library website rebuild")
    add_match(engine, "acme", "n1", 0.9)
    digest_job(cfg, engine, NOW)
    message = parse_eml((tmp_path / "outbox" / WEEK / "acme.eml").read_bytes())
    assert [a.addr_spec for a in message["To"].addresses] == ["acme@example.org", "ops@acme.example"]
    html = BeautifulSoup(message.get_body(("html",)).get_content(), "html.parser")
    signer = LinkSigner.from_config(cfg)
    relevant = signer.read_feedback(html.select_one("a.relevant-link")["href"].rsplit("/", 1)[1])
    not_relevant = signer.read_feedback(html.select_one("a.feedback-link")["href"].rsplit("/", 1)[1])
    assert (relevant.notice_key, relevant.verdict, not_relevant.verdict) == ("n1", "relevant", "not-relevant")
    assert signer.read_profile(html.select_one("a.profile-link")["href"].rsplit("/", 1)[1]) == "acme"
    text = message.get_body(("plain",)).get_content()
    assert "Relevant: http" in text and "Not relevant: http" in text and "View or change your profile: http" in text
