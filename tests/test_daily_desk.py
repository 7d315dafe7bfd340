"""The champions' desk with daily SMEs: a daily SME's week is its days (items of every day sent, counted once as an
SME served), one that got nothing all week is listed with the daily reason, and the paged overview shows what the
full week report shows."""
from __future__ import annotations

from datetime import timedelta

from test_champion_overview import assert_same
from test_daily_cadence import CYBER, DAY, GROUNDS, MONDAY, _notice, _store

from matcher import pipeline
from matcher.schema import ProfileSpec
from matcher.store import session_scope
from matcher.web import champion
from matcher.web.desk_report import explain_quiet, week_figures

CATERING = ProfileSpec(id="catering", name="Crumbs Catering", email="k@example.org", cadence="daily",
                       capabilities="School meals and hospital catering: fresh lunches cooked on site.",
                       keywords=["school meals", "catering"])


def _week(tmp_path):
    cfg, engine = _store(tmp_path, GROUNDS, CYBER, CATERING)
    _notice(engine, "parks", MONDAY - timedelta(hours=2))
    _notice(engine, "pentest", MONDAY - timedelta(hours=2), title="IT health check and penetration testing",
            description="An annual IT health check and penetration test of the council's network.",
            cpv=["72000000"], regions=["UK-wide"])
    pipeline.daily(cfg, engine, MONDAY)
    pipeline.weekly(cfg, engine, MONDAY)
    _notice(engine, "verges", MONDAY + timedelta(hours=20))
    pipeline.daily(cfg, engine, MONDAY + DAY)
    pipeline.daily(cfg, engine, MONDAY + 2 * DAY)  # nothing new: empty for everyone
    return cfg, engine


def test_a_daily_smes_days_make_its_week_on_the_desk(tmp_path):
    cfg, engine = _week(tmp_path)
    with session_scope(engine) as s:
        report = champion.week_report(s, "2025-W05")
        explain_quiet(s, report, cfg.matching.threshold)
        [figures] = week_figures(s, ["2025-W05"], cfg.digest.timezone)
    rows = {w.profile_id: w for w in report.smes}
    assert rows["grounds"].state == "sent" and sorted(i.notice_key for i in rows["grounds"].items) == ["parks", "verges"]
    assert [i.notice_key for i in rows["cyber"].items] == ["pentest"]
    assert report.figures.items_sent == 3 and report.figures.smes_served == 2 and figures.items_sent == 3
    [quiet] = report.got_nothing
    assert quiet.profile_id == "catering" and quiet.cause == "below-threshold"
    assert quiet.reason.startswith("nothing new ") and "on any day this week" in quiet.reason
    assert_same(engine, "2025-W05")


def test_a_daily_sme_with_no_run_yet_is_said_to_have_no_daily_match_run(tmp_path):
    cfg, engine = _store(tmp_path, GROUNDS)
    with session_scope(engine) as s:
        report = champion.week_report(s, "2025-W05")
        explain_quiet(s, report, cfg.matching.threshold)
    assert [q.reason for q in report.got_nothing] == ["no daily match run recorded for this week"]


def test_week_navigation_and_an_smes_history_read_daily_digests_as_days_of_their_weeks(tmp_path):
    cfg, engine = _week(tmp_path)
    pipeline.daily(cfg, engine, MONDAY + 7 * DAY)  # the next week's Monday: nothing new, empty
    with session_scope(engine) as s:
        weeks = champion.recent_weeks(s)
        history = champion.sme_history(s, "grounds", cfg.digest.timezone, weeks=1)
        both = champion.sme_history(s, "grounds", cfg.digest.timezone)
    assert weeks == ["2025-W06", "2025-W05"]  # never a day's label: the week page is what they link to
    assert [w.week for w in history.weeks] == ["2025-02-03"]
    assert [(w.week, w.state) for w in both.weeks] == [("2025-02-03", "empty"), ("2025-01-29", "empty"),
                                                       ("2025-01-28", "sent"), ("2025-01-27", "sent")]
