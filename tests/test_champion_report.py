"""The SME champions' report: the week's figures, what each SME was sent and why, feedback, and who got nothing;
through matcher.web.champion and through `matcher champion report` / `matcher champion link`."""
from __future__ import annotations

import json

import pytest
from helpers_champion import PREVIOUS, SCRIPT_TITLE, TWO_BACK, seed_champion_store
from helpers_digest import NOW, WEEK, add_profile, make_config, store_for
from typer.testing import CliRunner

from matcher.web.champion import WeekError, parse_week, sme_history, week_report
from matcher.cli import app
from matcher.store import session_scope
from matcher.deliver.tokens import LinkSigner


@pytest.fixture
def store(tmp_path):
    cfg = make_config(tmp_path, digest={"public_base_url": "https://links.example.org"})
    engine = store_for(cfg)
    seed_champion_store(engine)
    return cfg, engine


def _report(engine, week=WEEK, quiet_weeks=1):
    with session_scope(engine) as s:
        return week_report(s, week, quiet_weeks=quiet_weeks)


def _config_file(tmp_path) -> str:
    path = tmp_path / "config.toml"
    path.write_text(f"""
[database]
url = "sqlite:///store.db"
[digest]
public_base_url = "https://links.example.org"
[secrets]
secret_env = "MATCHER_TEST_SECRET_NOT_SET"
secret_file = "secret-key"
""")
    return str(path)


def test_figures_count_sent_items_feedback_and_smes_served(store):
    f = _report(store[1]).figures
    assert (f.active_smes, f.digests, f.smes_served) == (5, 5, 3)
    assert (f.items_sent, f.relevant, f.not_relevant, f.no_feedback) == (4, 1, 1, 2)
    assert f.not_relevant_share == 0.25
    assert f.smes_got_nothing == 3


def test_each_sme_shows_its_digest_state_and_items_best_first_with_reasons_and_verdicts(store):
    smes = {s.profile_id: s for s in _report(store[1]).smes}
    assert {pid: s.state for pid, s in smes.items()} == {
        "acme": "sent", "bolt": "sent", "flaky": "failed", "quiet": "empty", "newbie": "no digest", "gone": "sent"}
    acme = smes["acme"]
    assert [(i.notice_key, i.score, i.feedback) for i in acme.items] == [("n1", 0.91, "not-relevant"), ("n2", 0.74, "relevant")]
    first = acme.items[0]
    assert first.title == SCRIPT_TITLE and first.buyer == "Leeds <City> Council"
    assert first.url == "https://www.contractsfinder.service.gov.uk/notice/n1" and first.closes
    assert first.components == {"dense": 0.61, "lexical": 0.42, "keyword": 0.5, "cpv": 1.0, "raw": 0.55}
    assert first.summary == "n1: your web development work matches this tender."
    assert first.terms == ["website", "accessibility"] and first.feedback_via == "email"
    assert (acme.relevant, acme.not_relevant) == (1, 1)
    assert smes["flaky"].last_error == "550 mailbox unavailable" and len(smes["flaky"].items) == 1
    assert smes["gone"].active is False and smes["bolt"].items[0].feedback is None


def test_active_smes_that_got_nothing_are_listed_with_why_and_when_they_last_got_items(store):
    quiet = {q.profile_id: q for q in _report(store[1]).got_nothing}
    assert set(quiet) == {"flaky", "quiet", "newbie"}  # 'gone' unsubscribed; acme and bolt were sent items
    assert (quiet["quiet"].state, quiet["quiet"].last_items_week) == ("empty", None)
    assert "empty digest" in quiet["quiet"].reason
    assert (quiet["newbie"].state, quiet["newbie"].last_items_week) == ("no digest", None)
    assert (quiet["flaky"].state, quiet["flaky"].last_items_week) == ("failed", TWO_BACK)


def test_with_a_longer_quiet_window_only_smes_without_items_for_that_long_are_listed(store):
    three = {q.profile_id: q.reason for q in _report(store[1], quiet_weeks=3).got_nothing}
    assert set(three) == {"quiet", "newbie"}  # flaky was sent items in 2025-W03
    assert three["newbie"] == "nothing sent in the last 3 weeks"


def test_an_earlier_week_shows_that_weeks_digests(store):
    report = _report(store[1], week=PREVIOUS)
    bolt = next(s for s in report.smes if s.profile_id == "bolt")
    assert [i.notice_key for i in bolt.items] == ["n4"] and report.figures.items_sent == 1
    assert {s.profile_id for s in report.smes if s.state == "no digest"} == {"acme", "flaky", "quiet", "newbie"}


def test_sme_history_lists_weeks_newest_first(store):
    with session_scope(store[1]) as s:
        history = sme_history(s, "bolt")
        assert sme_history(s, "nobody") is None
    assert [(w.week, [i.notice_key for i in w.items]) for w in history.weeks] == [(WEEK, ["n3"]), (PREVIOUS, ["n4"])]


def test_week_labels_are_checked():
    assert parse_week("2025-W04") == "2025-W04"
    with pytest.raises(WeekError, match="not an ISO week label"):
        parse_week("2025-4")
    with pytest.raises(WeekError, match="has no week 53"):
        parse_week("2025-W53")


def test_cli_json_report_has_figures_smes_items_and_got_nothing(store, tmp_path):
    result = CliRunner().invoke(app, ["champion", "report", "--week", WEEK, "--json", "--config", _config_file(tmp_path)])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) == {"week", "week_start", "quiet_weeks", "figures", "smes", "got_nothing", "trend", "trend_total"}
    assert data["week"] == WEEK and data["week_start"] == "2025-01-27"
    assert data["figures"]["not_relevant_share"] == 0.25 and data["figures"]["items_sent"] == 4
    acme = next(s for s in data["smes"] if s["profile_id"] == "acme")
    assert (acme["state"], acme["relevant"], acme["not_relevant"]) == ("sent", 1, 1)
    item = acme["items"][0]
    assert {"notice_key", "title", "url", "buyer", "closes_at", "score", "components", "summary", "feedback"} <= set(item)
    assert item["title"] == SCRIPT_TITLE and item["feedback"] == "not-relevant"
    assert item["closes_at"].startswith("2025-02-16")
    assert [q["profile_id"] for q in data["got_nothing"]] == ["flaky", "newbie", "quiet"]


def test_cli_report_defaults_to_the_week_of_now_and_prints_tables(store, tmp_path):
    result = CliRunner().invoke(app, ["champion", "report", "--now", NOW.isoformat(), "--config", _config_file(tmp_path)],
                                env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert f"report for {WEEK}" in out and "Active SMEs that got nothing" in out
    assert "Acme <Web> Ltd" in out and "NOT relevant" in out and "25%" in out and "Quiet Co" in out


def test_cli_report_rejects_a_bad_week(store, tmp_path):
    result = CliRunner().invoke(app, ["champion", "report", "--week", "last week", "--config", _config_file(tmp_path)])
    assert result.exit_code == 2 and "not an ISO week label" in result.output


def test_cli_link_prints_a_signed_url_under_the_public_base_url(store, tmp_path):
    added = CliRunner().invoke(app, ["champion", "add", "--name", "Chris Champion", "--email", "chris@council.example",
                                     "--config", _config_file(tmp_path)])
    assert added.exit_code == 0, added.output
    result = CliRunner().invoke(app, ["champion", "link", "chris@council.example", "--days", "7", "--config", _config_file(tmp_path)])
    assert result.exit_code == 0, result.output
    url = result.stdout.strip()
    assert url.startswith("https://links.example.org/champion/")
    cfg, _ = store
    claim = LinkSigner.from_config(cfg).read_champion(url.rsplit("/", 1)[1])
    assert (claim.expires_at - claim.issued_at).days == 7


def test_cli_report_prints_names_with_brackets_as_they_are(store, tmp_path):
    add_profile(store[1], "brackets", name="[red]Square[/red] Ltd")
    result = CliRunner().invoke(app, ["champion", "report", "--week", WEEK, "--config", _config_file(tmp_path)],
                                env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "[red]Square[/red] Ltd" in result.stdout
