"""Feedback in the store: `matcher feedback` records verdicts, and the weekly match job ranks with them."""
from __future__ import annotations

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from jobs.match import match_job
from matcher.cli import app
from matcher.config import config_from_dict
from matcher.store.feedback import FeedbackError, record_verdict, verdicts_for
from matcher.match.feedback import NEAR_COPY_REASON, REJECTED_REASON
from matcher.store.models import Feedback, NoticeAlias
from matcher.store.profiles import save_profile
from matcher.store import session_scope
from matcher.ingest.notices import upsert_notice
from test_match_job import CYBER, GROUNDS, NOTICES, NOW, matches, notice

# the parks notice again under another key, as a portal re-advertising it would: a near-copy
PARKS_AGAIN = notice("parks-again", "Grounds maintenance of parks and cemeteries (re-advertised)",
                     "Grass cutting, hedge trimming and weed control across the council's parks. Tree surgery as needed.",
                     cpv=["77310000"], regions=["South West"])


@pytest.fixture
def store(engine):
    with session_scope(engine) as s:
        for p in (GROUNDS, CYBER):
            save_profile(s, p)
        for n in [*NOTICES, PARKS_AGAIN]:
            upsert_notice(s, n)
        s.add(NoticeAlias(key="fts-parks", canonical_key="parks", source="find_a_tender", reason="test copy"))
    return engine


@pytest.fixture
def cfg():
    return config_from_dict({"database": {"url": "sqlite:///:memory:"}})


@pytest.fixture
def config_file(store, tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "store.db"}"\n')
    return path


def feedback_rows(engine) -> list[tuple[str, str, str, str]]:
    with session_scope(engine) as s:
        return [(f.profile_id, f.notice_key, f.verdict, f.via) for f in s.exec(select(Feedback).order_by(Feedback.id))]


def run(config_file, *args):
    return CliRunner().invoke(app, ["feedback", *args, "--config", str(config_file)])


def test_feedback_command_stores_a_verdict_and_a_later_one_replaces_it(store, config_file):
    first = run(config_file, "grounds", "verges", "not-relevant")
    assert first.exit_code == 0, first.output
    assert "grounds finds verges not-relevant" in first.output
    assert feedback_rows(store) == [("grounds", "verges", "not-relevant", "cli")]
    second = run(config_file, "grounds", "verges", "relevant")
    assert second.exit_code == 0 and "(was not-relevant)" in second.output
    assert feedback_rows(store) == [("grounds", "verges", "relevant", "cli")]


def test_feedback_on_another_portals_key_is_stored_against_the_stored_notice(store, config_file):
    assert run(config_file, "grounds", "fts-parks", "Not relevant").exit_code == 0
    assert feedback_rows(store) == [("grounds", "parks", "not-relevant", "cli")]


@pytest.mark.parametrize(("args", "named"), [
    (("nobody", "parks", "relevant"), "profile 'nobody' not found"),
    (("grounds", "no-such-notice", "relevant"), "notice 'no-such-notice' not found"),
    (("grounds", "parks", "meh"), "verdict 'meh' is not one of: relevant, not-relevant"),
])
def test_feedback_command_names_what_is_unknown_and_stores_nothing(store, config_file, args, named):
    result = run(config_file, *args)
    assert result.exit_code == 2
    assert named in " ".join(result.output.split())
    assert feedback_rows(store) == []


def test_verdicts_for_reads_the_latest_verdict_per_notice_following_aliases(store):
    with session_scope(store) as s:
        record_verdict(s, "grounds", "verges", "relevant", via="email")
        s.add(Feedback(profile_id="grounds", notice_key="fts-parks", verdict="not-relevant", via="email"))
        record_verdict(s, "cyber", "pentest", "relevant")
    with session_scope(store) as s:
        got = verdicts_for(s, ["grounds", "cyber", "nobody"])
        with pytest.raises(FeedbackError, match="profile 'ghost' not found"):
            record_verdict(s, "ghost", "parks", "relevant")
    assert got == {"grounds": [("verges", "relevant"), ("parks", "not-relevant")], "cyber": [("pentest", "relevant")]}


def test_match_job_drops_a_rejected_notice_and_its_near_copies(store, cfg):
    match_job(cfg, store, NOW)
    before = [m.notice_key for m in matches(store)["grounds"]]
    assert {"parks", "parks-again"} <= set(before)
    with session_scope(store) as s:
        record_verdict(s, "grounds", "parks", "not-relevant", via="email")
    report = match_job(cfg, store, NOW)
    after = [m.notice_key for m in matches(store)["grounds"]]
    assert "parks" not in after and "parks-again" not in after
    assert "verges" in after
    assert report.excluded[REJECTED_REASON] == 1 and report.excluded[NEAR_COPY_REASON] == 1
    assert [m.notice_key for m in matches(store)["cyber"]] == ["pentest"]  # another SME's verdict changes nothing here


def test_match_job_scores_notices_like_a_liked_one_higher(store, cfg):
    match_job(cfg, store, NOW)
    before = {m.notice_key: m for m in matches(store)["grounds"]}
    with session_scope(store) as s:
        record_verdict(s, "grounds", "parks", "relevant")
    match_job(cfg, store, NOW)
    after = {m.notice_key: m for m in matches(store)["grounds"]}
    assert after["parks-again"].dense > before["parks-again"].dense
    assert after["parks-again"].raw_score > before["parks-again"].raw_score
