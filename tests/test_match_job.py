"""The match job: this week's best notices per SME into Match rows; idempotent; never re-sends."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from jobs.match import match_job
from matcher.clock import week_of
from matcher.config import config_from_dict
from matcher.match.explain import as_shown
from matcher.store.match_sets import as_match, chosen_items
from matcher.store.models import Digest, Match
from matcher.store.profiles import save_profile
from matcher.schema import NoticeRecord, ProfileSpec
from matcher.store import session_scope
from matcher.ingest.notices import upsert_notice

NOW = datetime(2025, 1, 22, 10, 0, tzinfo=UTC)
WEEK = week_of(NOW)

GROUNDS = ProfileSpec(
    id="grounds", name="Greenacre Grounds", email="g@example.org", regions=["South West"], cpv=["77310000"],
    capabilities="We look after green spaces: grass cutting, hedge trimming, weed control and tree surgery for councils.",
    keywords=["grounds maintenance", "grass cutting", "tree surgery"])
CYBER = ProfileSpec(
    id="cyber", name="Bastion Cyber", email="c@example.org", regions=["UK-wide"], cpv=["72000000"],
    capabilities="CREST-accredited penetration testing, IT health checks and vulnerability assessments.",
    keywords=["penetration testing", "IT health check", "cyber security"])


def notice(key: str, title: str, description: str, days: float = 30, **kw) -> NoticeRecord:
    base = dict(source="contracts_finder", stage="tender", status="active", closes_at=NOW + timedelta(days=days))
    return NoticeRecord(**{**base, "key": key, "title": title, "description": description, **kw})


NOTICES = [
    notice("parks", "Grounds maintenance of parks and cemeteries",
           "Grass cutting, hedge trimming and weed control across the council's parks. Tree surgery as needed.",
           cpv=["77310000"], regions=["South West"]),
    notice("verges", "Highway verge grass cutting", "Cutting of rural verges and visibility splays twice a year.",
           cpv=["77314000"], regions=["UKK"]),
    notice("pentest", "IT health check and penetration testing",
           "An annual IT health check and penetration test of the council's network.", cpv=["72000000"]),
    notice("soon", "Grass cutting for a sports pitch", "Grass cutting and pitch marking.", days=1),
    notice("scotland", "Grounds maintenance, Dundee", "Grass cutting and tree surgery in parks.", regions=["UKM71"]),
    notice("awarded", "Grounds maintenance award", "Grass cutting contract awarded.", stage="award", status="complete"),
    notice("cancelled", "Tree surgery services", "Tree surgery and arboriculture.", status="cancelled"),
]


@pytest.fixture
def cfg():
    return config_from_dict({"database": {"url": "sqlite:///:memory:"}})


@pytest.fixture
def store(engine):
    with session_scope(engine) as s:
        for p in (GROUNDS, CYBER):
            save_profile(s, p)
        for n in NOTICES:
            upsert_notice(s, n)
    return engine


def matches(engine, week=WEEK) -> dict[str, list[Match]]:
    """The week's matches per SME, as the match job stored them (its MatchSets), as Match rows in rank order."""
    with session_scope(engine) as s:
        sets = chosen_items(s, week)
    return {pid: [as_match(pid, week, item) for item in items] for pid, items in sorted(sets.items())}


def test_each_sme_gets_its_open_fitting_notices_ranked_with_explanations(store, cfg):
    report = match_job(cfg, store, NOW)
    got = matches(store)
    assert [m.notice_key for m in got["grounds"]] == ["parks", "verges"]
    assert [m.notice_key for m in got["cyber"]] == ["pentest"]
    assert report.written == 3 and report.week == WEEK and report.per_profile == {"grounds": 2, "cyber": 1}
    for m in got["grounds"] + got["cyber"]:
        assert m.score >= cfg.matching.threshold and 0 <= m.score <= 1
        why = as_shown(m.explanation, m.score)
        assert set(why) == {"summary", "strength", "capabilities", "terms", "cpv", "evidence", "lots"}
        assert not {"summary", "strength"} & set(m.explanation)  # stored without what follows from the score
        notice_text = next(f"{n.title}\n{n.description}" for n in NOTICES if n.key == m.notice_key)
        assert why["evidence"] in notice_text
    parks = got["grounds"][0]
    why = as_shown(parks.explanation, parks.score)
    assert parks.rank == 1 and parks.cpv == 1.0 and parks.keyword == 1.0
    assert why["cpv"] == ["77310000"] and why["summary"].startswith("Likely fit: ")
    # "grass cutting" is in four of these six notices: common across notices, so not listed as a matched term
    assert "grass cutting" not in why["terms"] and why["strength"] == "likely"
    assert report.candidates == len(NOTICES) - 1  # "soon" closes inside min_days_to_close
    assert report.excluded["outside the SME's regions"] == 1 and report.excluded["stage award"] == 1


def test_running_again_for_the_same_week_replaces_the_rows_and_embeds_nothing(store, cfg):
    match_job(cfg, store, NOW)
    first = {(m.profile_id, m.notice_key, m.rank) for ms in matches(store).values() for m in ms}
    again = match_job(cfg, store, NOW + timedelta(hours=2))
    assert again.embedded == 0
    assert {(m.profile_id, m.notice_key, m.rank) for ms in matches(store).values() for m in ms} == first


def test_smes_with_the_same_list_share_one_set_and_a_rerun_leaves_no_set_unnamed(store, cfg):
    from matcher.store.models import MatchSet, WeekOutcome

    with session_scope(store) as s:  # a second SME in the same trade, in the same words
        save_profile(s, GROUNDS.model_copy(update={"id": "grounds2", "email": "two@example.org"}))
    one = match_job(cfg, store, NOW, profile_ids=["grounds"]).excluded
    assert one and match_job(cfg, store, NOW, profile_ids=["grounds", "grounds2"]).excluded == {k: 2 * n for k, n in one.items()}
    match_job(cfg, store, NOW)
    with session_scope(store) as s:
        named = dict(s.exec(select(WeekOutcome.profile_id, WeekOutcome.match_set)).all())
        assert named["grounds"] == named["grounds2"] != named["cyber"]
        assert len(s.exec(select(MatchSet)).all()) == 2
    assert [m.notice_key for m in matches(store)["grounds2"]] == ["parks", "verges"]
    cfg.matching.top_k = 1  # the re-run chooses fewer items: new sets, and the old ones go
    match_job(cfg, store, NOW + timedelta(hours=2))
    with session_scope(store) as s:
        named = set(s.exec(select(WeekOutcome.match_set)))
        assert set(s.exec(select(MatchSet.key))) == named - {None} and len(named) == 2
    assert [m.notice_key for m in matches(store)["grounds2"]] == ["parks"]


def test_a_rerun_that_fails_mid_write_leaves_the_weeks_earlier_matches_and_outcomes_as_they_were(store, cfg, monkeypatch):
    import matcher.match_week as job
    import matcher.store.writer as writer
    from matcher.store.models import WeekOutcome

    match_job(cfg, store, NOW)
    first = {(m.profile_id, m.notice_key, m.rank) for ms in matches(store).values() for m in ms}
    with session_scope(store) as s:
        outcomes = sorted((o.profile_id, o.matched) for o in s.exec(select(WeekOutcome)))
    real, written = writer.insert_rows, []

    def disk_full_at_the_outcomes(s, table, *args, **kw):  # noqa: ANN001, ANN002, ANN003
        if table.name == "weekoutcome":
            raise OSError("disk full")
        written.append(real(s, table, *args, **kw))
        return written[-1]

    monkeypatch.setattr(writer, "insert_rows", disk_full_at_the_outcomes)
    monkeypatch.setattr(job, "insert_shared", disk_full_at_the_outcomes)
    cfg.matching.top_k = 1  # the re-run would write fewer rows
    with pytest.raises(OSError, match="disk full"):
        match_job(cfg, store, NOW + timedelta(hours=2))
    assert written == [2]  # its deletes and its matches were written in the transaction, then it failed
    assert {(m.profile_id, m.notice_key, m.rank) for ms in matches(store).values() for m in ms} == first
    with session_scope(store) as s:
        assert sorted((o.profile_id, o.matched) for o in s.exec(select(WeekOutcome))) == outcomes


def test_notices_sent_in_an_earlier_digest_are_not_matched_again(store, cfg):
    last_week = week_of(NOW - timedelta(days=7))
    with session_scope(store) as s:
        sent = Digest(profile_id="grounds", week=last_week, state="sent")
        unsent = Digest(profile_id="cyber", week=last_week, state="failed")
        s.add(sent), s.add(unsent)
        s.flush()
        s.add(Match(profile_id="grounds", notice_key="parks", week=last_week, digest_id=sent.id))
        s.add(Match(profile_id="cyber", notice_key="pentest", week=last_week, digest_id=unsent.id))
    match_job(cfg, store, NOW)
    got = matches(store)
    assert [m.notice_key for m in got["grounds"]] == ["verges"]
    assert [m.notice_key for m in got["cyber"]] == ["pentest"]  # that digest never went out


def test_this_weeks_rows_already_in_a_digest_are_kept_and_not_duplicated(store, cfg):
    with session_scope(store) as s:
        d = Digest(profile_id="grounds", week=WEEK, state="created")
        s.add(d)
        s.flush()
        s.add(Match(profile_id="grounds", notice_key="parks", week=WEEK, rank=1, digest_id=d.id))
    match_job(cfg, store, NOW)
    assert [m.notice_key for m in matches(store)["grounds"]] == ["verges"]  # the week's set: what is still to send
    with session_scope(store) as s:
        kept = s.exec(select(Match).where(Match.profile_id == "grounds")).all()
    assert [(m.notice_key, m.digest_id) for m in kept] == [("parks", d.id)]


def test_top_k_and_profile_ids_limit_what_is_written(store, cfg):
    cfg.matching.top_k = 1
    report = match_job(cfg, store, NOW, profile_ids=["grounds", "nobody"])
    assert [m.notice_key for m in matches(store)["grounds"]] == ["parks"] and "cyber" not in matches(store)
    assert report.errors == ["profile nobody: not found, disabled or unsubscribed"]


def test_a_profile_with_an_unknown_region_is_reported_and_the_others_still_match(store, cfg):
    with session_scope(store) as s:
        save_profile(s, CYBER.model_copy(update={"regions": ["Atlantis"]}))
    report = match_job(cfg, store, NOW)
    assert any("profile cyber: regions: unknown region 'Atlantis'" in e for e in report.errors)
    assert "grounds" in matches(store) and "cyber" not in matches(store)


def test_matcher_match_command_writes_this_weeks_matches(store, tmp_path):
    from typer.testing import CliRunner

    from matcher.cli import app

    config = tmp_path / "config.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "store.db"}"\n')
    result = CliRunner().invoke(app, ["match", "--now", NOW.isoformat(), "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert f"{WEEK}: 3 match(es) for 2 SME(s)" in " ".join(result.output.split())
    assert [m.notice_key for m in matches(store)["grounds"]] == ["parks", "verges"]
    bad = CliRunner().invoke(app, ["match", "--now", "next tuesday", "--config", str(config)])
    assert bad.exit_code == 2 and "--now" in bad.output


def test_an_sme_that_opted_in_gets_challenges_in_any_sector_labelled_as_such(store, cfg):
    challenge = notice("sbri", "SBRI competition: detecting potholes from bin lorries",
                       "This Small Business Research Initiative competition sets out a problem statement: the council "
                       "cannot see road defects early enough. We fund feasibility studies of new ideas.")
    with session_scope(store) as s:
        upsert_notice(s, challenge)
        save_profile(s, CYBER.model_copy(update={"challenges": True}))
    match_job(cfg, store, NOW)
    got = matches(store)
    assert "sbri" not in [m.notice_key for m in got["grounds"]]  # no opt-in, and nothing to do with grounds
    sbri = next(m for m in got["cyber"] if m.notice_key == "sbri")
    assert sbri.explanation["challenge"] == "an SBRI competition" and sbri.explanation["any_sector"] is True
    assert sbri.score < cfg.matching.threshold and [m.notice_key for m in got["cyber"]][0] == "pentest"
