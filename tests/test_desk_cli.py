"""Everything the pages do is also a command: profiles enable/unsubscribe/resubscribe/edit/link, signups
list/confirm/purge, champion add/list/link/mark/revoke, feedback clear; and profile import names the row of an
unknown region or a malformed CPV code. Tokens are scoped to one purpose and expire."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest
from helpers_champion import seed_champion_store
from helpers_digest import NOW, make_config, store_for
from sqlmodel import select
from typer.testing import CliRunner

from matcher.cli import app, common
from matcher.deliver.tokens import BadToken, ExpiredToken, LinkSigner
from matcher.store import accounts, session_scope
from matcher.store.models import ChampionMark, Feedback, Profile, Signup

SIGNUP = {"name": "Harbour Web", "email": "owner@harbour.example", "extra_emails": [], "capabilities": "Websites",
          "keywords": [], "cpv": [], "regions": ["UK-wide"], "value_min": None, "value_max": None, "cadence": "weekly",
          "challenges": True}


@pytest.fixture
def store(tmp_path, monkeypatch):
    # the console is made at import, so COLUMNS in the runner's env comes too late: widen it here. Patch the
    # stored width, not the `width` property: undoing the property would pin the width it read (80) for every later
    # test, where None lets the console read COLUMNS again
    monkeypatch.setattr(common.console, "_width", 200)
    monkeypatch.setattr(common.err_console, "_width", 200)
    cfg = make_config(tmp_path)
    engine = store_for(cfg)
    seed_champion_store(engine)
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\nurl = "{cfg.database.url}"\n[secrets]\nsecret_env = "MATCHER_TEST_SECRET_NOT_SET"\n'
                      f'secret_file = "{cfg.secrets.secret_file}"\n')
    return cfg, engine, str(config)


def run(config: str, *args: str):
    result = CliRunner().invoke(app, [*args, "--config", config], env={"COLUMNS": "200"})
    return result


def _profile(engine, pid: str) -> Profile:
    with session_scope(engine) as s:
        return s.get(Profile, pid)


def test_profiles_enable_unsubscribe_resubscribe_and_edit(store):
    _, engine, config = store
    assert run(config, "profiles", "disable", "acme").exit_code == 0
    r = run(config, "profiles", "enable", "acme")
    assert r.exit_code == 0 and "enabled acme" in r.output and _profile(engine, "acme").enabled
    assert "was already enabled" in run(config, "profiles", "enable", "acme").output
    run(config, "profiles", "unsubscribe", "acme")
    assert _profile(engine, "acme").unsubscribed_at is not None
    run(config, "profiles", "resubscribe", "acme")
    assert _profile(engine, "acme").unsubscribed_at is None
    r = run(config, "profiles", "edit", "acme", "--capabilities", "Accessible library websites", "--region", "London")
    assert r.exit_code == 0 and "capabilities, regions changed" in r.output
    daily = run(config, "profiles", "edit", "acme", "--cadence", "daily")
    assert daily.exit_code == 0 and "cadence changed" in daily.output and _profile(engine, "acme").cadence == "daily"
    hourly = run(config, "profiles", "edit", "acme", "--cadence", "hourly")
    assert hourly.exit_code == 1 and "cadence: Input should be 'weekly' or 'daily'" in hourly.output
    refused = run(config, "profiles", "edit", "acme", "--capabilities", " ")
    assert refused.exit_code == 1 and "capability text is what we match on" in refused.output
    assert _profile(engine, "acme").capabilities == "Accessible library websites"
    assert run(config, "profiles", "enable", "nobody").exit_code == 1
    assert run(config, "profiles", "reminders", "acme", "off").exit_code == 0
    assert _profile(engine, "acme").reminders_unsubscribed_at is not None
    run(config, "profiles", "reminders", "acme", "on")
    assert _profile(engine, "acme").reminders_unsubscribed_at is None


def test_profiles_link_prints_a_link_the_profile_page_reads(store):
    cfg, _, config = store
    r = run(config, "profiles", "link", "acme")
    assert r.exit_code == 0
    assert LinkSigner.from_config(cfg).read_profile(r.stdout.strip().rsplit("/", 1)[1]) == "acme"


def test_signups_list_confirm_and_purge(store):
    _, engine, config = store
    with session_scope(engine) as s:
        kept = accounts.create_signup(s, SIGNUP, NOW, 48).id
        accounts.create_signup(s, {**SIGNUP, "email": "late@harbour.example"}, NOW - timedelta(days=3), 48)
    listed = [json.loads(line) for line in run(config, "signups", "list", "--json").stdout.splitlines()]
    assert [(x["email"], x["confirmed_at"]) for x in listed] == [("owner@harbour.example", None), ("late@harbour.example", None)]
    r = run(config, "signups", "confirm", str(kept), "--now", NOW.isoformat())
    assert r.exit_code == 0 and "confirmed: profile harbour-web-" in r.output
    assert "already confirmed" in run(config, "signups", "confirm", str(kept), "--now", NOW.isoformat()).output
    assert "1 expired sign-up(s) deleted" in run(config, "signups", "purge", "--now", NOW.isoformat()).output
    with session_scope(engine) as s:
        assert [x.email for x in s.exec(select(Signup))] == ["owner@harbour.example"]
        made = s.exec(select(Profile).where(Profile.name == "Harbour Web")).one()
        assert made.challenges is True and made.email == "owner@harbour.example"


def test_champion_add_list_link_mark_and_revoke(store):
    cfg, engine, config = store
    r = run(config, "champion", "add", "--name", "Chris Champion", "--email", "chris@council.example")
    assert r.exit_code == 0 and "added champion 1" in r.output
    assert "Chris Champion" in run(config, "champion", "list").output
    link = run(config, "champion", "link", "chris@council.example", "--days", "7").stdout.strip()
    claim = LinkSigner.from_config(cfg).read_champion(link.rsplit("/", 1)[1])
    assert claim.champion_id == 1 and (claim.expires_at - claim.issued_at).days == 7
    r = run(config, "champion", "mark", "1", "bolt", "n3", "relevant")
    assert r.exit_code == 0 and "marked relevant" in r.output
    assert run(config, "champion", "mark", "1", "bolt", "n1", "relevant").exit_code == 2  # never sent to bolt
    with session_scope(engine) as s:
        assert [(m.profile_id, m.notice_key, m.verdict) for m in s.exec(select(ChampionMark))] == [("bolt", "n3", "relevant")]
    assert "revoked" in run(config, "champion", "revoke", "chris@council.example").output
    with session_scope(engine) as s:
        from matcher.store.champions import signed_in

        assert signed_in(s, claim.champion_id, claim.version) is None  # the old link no longer signs in
    data = json.loads(run(config, "champion", "report", "--week", "2025-W05", "--json").stdout)
    assert data["trend"][0]["champion_relevant"] == 1
    marks = {i["notice_key"]: i["marks"] for s in data["smes"] for i in s["items"]}
    assert marks["n3"][0][:2] == ["Chris Champion", "relevant"]


def test_feedback_clear_takes_a_verdict_back(store):
    _, engine, config = store
    r = run(config, "feedback", "acme", "n1", "clear")
    assert r.exit_code == 0 and "was not-relevant" in r.output
    with session_scope(engine) as s:
        assert [f.notice_key for f in s.exec(select(Feedback).where(Feedback.profile_id == "acme"))] == ["n2"]


def test_profile_import_names_the_row_with_an_unknown_region_or_a_malformed_cpv_code(store, tmp_path):
    _, engine, config = store
    rows = [
        {"id": "ok", "name": "Fine Ltd", "email": "ok@example.org", "capabilities": "Cleaning", "regions": ["London"]},
        {"id": "typo", "name": "Typo Ltd", "email": "t@example.org", "capabilities": "Cleaning", "regions": ["Sout West"]},
        {"id": "cpv", "name": "Codes Ltd", "email": "c@example.org", "capabilities": "Cleaning", "cpv": ["9091OOOO"]},
    ]
    path = tmp_path / "profiles.json"
    path.write_text(json.dumps(rows, indent=1))
    r = run(config, "profiles", "import", str(path))
    assert "1 added" in r.output and "2 rejected" in r.output
    assert "(profile typo): regions" in r.output and "unknown region 'Sout West'" in r.output
    assert "(profile cpv): cpv" in r.output and "'9091OOOO' is malformed" in r.output
    assert _profile(engine, "ok") is not None and _profile(engine, "typo") is None


def test_each_token_opens_only_its_own_purpose_and_expires():
    signer = LinkSigner("a-long-enough-test-key-0123456789", "http://x")
    token = signer.profile_url("acme", NOW).rsplit("/", 1)[1]
    assert signer.read_profile(token, NOW + timedelta(days=119)) == "acme"
    with pytest.raises(ExpiredToken):
        signer.read_profile(token, NOW + timedelta(days=121))
    for read in (signer.read_unsubscribe, signer.read_resubscribe, signer.read_champion, signer.read_feedback):
        with pytest.raises(BadToken):
            read(token, NOW)
    confirm = signer.signup_url("confirm", 7, NOW).rsplit("/", 1)[1]
    assert signer.read_signup("confirm", confirm, NOW) == 7
    with pytest.raises(BadToken):
        signer.read_signup("pending", confirm, NOW)
    with pytest.raises(ExpiredToken):
        signer.read_signup("confirm", confirm, NOW + timedelta(hours=49))
    champion = signer.champion_token(3, days=7, now=NOW, version=2)
    claim = signer.read_champion(champion, NOW + timedelta(days=6))
    assert (claim.champion_id, claim.version) == (3, 2)
    with pytest.raises(ExpiredToken):
        signer.read_champion(champion, NOW + timedelta(days=7))
