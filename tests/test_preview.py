"""`matcher preview`: this week's matches with proposed settings next to the current ones; writes nothing."""
from __future__ import annotations

import json
import sqlite3

import pytest
from typer.testing import CliRunner

from jobs.match import match_job
from matcher.cli import app
from matcher.config import WeightsConfig, config_from_dict
from matcher.store.feedback import record_verdict
from matcher.quality.preview import PreviewError, preview, proposed_config
from matcher.store.profiles import save_profile
from matcher.store import session_scope
from matcher.ingest.notices import upsert_notice
from test_match_job import CYBER, GROUNDS, NOTICES, NOW, WEEK


@pytest.fixture
def store(engine):
    with session_scope(engine) as s:
        for p in (GROUNDS, CYBER):
            save_profile(s, p)
        for n in NOTICES:
            upsert_notice(s, n)
    return engine


@pytest.fixture
def cfg():
    return config_from_dict({"database": {"url": "sqlite:///:memory:"}})


@pytest.fixture
def config_file(store, tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "store.db"}"\n')
    return path


def dump(tmp_path) -> list[str]:
    """Every row of every table of the test store, as SQL."""
    with sqlite3.connect(tmp_path / "store.db") as db:
        return list(db.iterdump())


def by_id(report):
    return {s.profile_id: s for s in report.smes}


def test_preview_counts_what_the_match_job_would_write_and_leaves_the_store_unchanged(store, cfg, tmp_path):
    before = dump(tmp_path)
    report = preview(cfg, store, NOW, proposed_config(cfg.matching))
    assert dump(tmp_path) == before  # no Match rows, and no vectors kept in the cache either
    assert report.embedded_now > 0 and report.week == WEEK and report.changes == {}
    smes = by_id(report)
    assert all(not s.entering and not s.leaving and s.now == s.proposed for s in smes.values())
    written = match_job(cfg, store, NOW)
    assert {pid: s.now for pid, s in smes.items()} == written.per_profile == {"grounds": 2, "cyber": 1}


def test_items_already_in_this_weeks_digest_still_count_and_earlier_weeks_items_do_not(store, cfg):
    from matcher.clock import week_of
    from matcher.store.models import Digest, Match

    with session_scope(store) as s:
        this_week = Digest(profile_id="grounds", week=WEEK, state="sent")
        last_week = Digest(profile_id="cyber", week=week_of(NOW.replace(day=NOW.day - 7)), state="sent")
        s.add(this_week), s.add(last_week)
        s.flush()
        s.add(Match(profile_id="grounds", notice_key="parks", week=WEEK, rank=1, digest_id=this_week.id))
        s.add(Match(profile_id="cyber", notice_key="pentest", week=last_week.week, rank=1, digest_id=last_week.id))
    smes = by_id(preview(cfg, store, NOW, proposed_config(cfg.matching)))
    assert smes["grounds"].now == 2  # parks (in this week's digest) and verges
    assert smes["cyber"].now == 0  # pentest went out last week


def test_a_higher_threshold_shows_which_items_would_leave(store, cfg):
    proposed = proposed_config(cfg.matching, threshold=0.99999)
    report = preview(cfg, store, NOW, proposed)
    assert report.changes == {"threshold": (0.5, 0.99999)}
    grounds = by_id(report)["grounds"]
    assert grounds.now == 2 and grounds.proposed < 2 and grounds.entering == []
    left = {i.key for i in grounds.leaving}
    assert left and left <= {"parks", "verges"}
    for item in grounds.leaving:
        assert item.score_now >= 0.5 and (item.score_proposed is None or item.score_proposed < 0.99999)
        assert item.title in {n.title for n in NOTICES}


def test_weights_change_the_scores_and_feedback_is_used_by_both_rankings(store, cfg):
    with session_scope(store) as s:
        record_verdict(s, "grounds", "verges", "not-relevant")
    report = preview(cfg, store, NOW, proposed_config(cfg.matching, weights=["cpv=0", "keyword=0.5"]))
    w = cfg.matching.weights
    assert report.changes == {"weights.keyword": (w.keyword, 0.5), "weights.cpv": (w.cpv, 0.0)}
    grounds = by_id(report)["grounds"]
    assert grounds.verdicts == 1 and grounds.now == 1  # verges was rejected: only parks is left
    assert "verges" not in {i.key for i in grounds.entering}


@pytest.mark.parametrize(("threshold", "weights", "message"), [
    (None, ["densse=0.5"], "--weight: unknown weight 'densse'; known: dense, lexical, keyword, cpv"),
    (None, ["dense"], "--weight: 'dense' is not name=value"),
    (None, ["dense=lots"], "--weight: dense='lots': the value is not a number"),
    (None, ["dense=-1"], "--weight: weights.dense: Input should be greater than or equal to 0"),
    (None, ["dense=0", "lexical=0", "keyword=0", "cpv=0"], "at least one weight must be above 0"),
    (1.5, [], "--threshold: threshold: Input should be less than or equal to 1"),
])
def test_bad_proposals_are_refused_naming_the_option_and_value(threshold, weights, message):
    from matcher.config import MatchingConfig

    with pytest.raises(PreviewError) as err:
        proposed_config(MatchingConfig(), threshold, weights)
    assert message in str(err.value)


def test_preview_command_prints_counts_and_moves_and_refuses_a_bad_weight(store, config_file, tmp_path):
    before = dump(tmp_path)
    result = CliRunner().invoke(app, ["preview", "--threshold", "0.99999", "--now", NOW.isoformat(), "--config", str(config_file)])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "threshold 0.5 -> 0.99999" in text and "Nothing was written" in text
    assert "grounds -" in text
    as_json = CliRunner().invoke(app, ["preview", "-w", "dense=0.6", "--json", "--now", NOW.isoformat(), "--config", str(config_file)])
    assert as_json.exit_code == 0, as_json.output
    data = json.loads(as_json.stdout)
    assert data["changes"] == {"weights.dense": [WeightsConfig().dense, 0.6]} and {s["profile_id"] for s in data["smes"]} == {"grounds", "cyber"}
    bad = CliRunner().invoke(app, ["preview", "--weight", "colour=1", "--config", str(config_file)])
    assert bad.exit_code == 2 and "unknown weight 'colour'" in bad.output
    assert dump(tmp_path) == before
