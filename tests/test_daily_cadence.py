"""The daily cadence end to end on a real SQLite store, the real matcher and the outbox: a daily SME gets only the
notices new since its previous digest, nothing on a day with nothing new, and switching cadence either way loses
and duplicates nothing; the weekly run keeps to the weekly SMEs."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from helpers_digest import make_config, parse_eml, smtp_server, store_for
from sqlalchemy import update
from sqlmodel import select

from matcher import pipeline
from matcher.ingest.notices import upsert_notice
from matcher.period import period_of
from matcher.schema import NoticeRecord, ProfileSpec
from matcher.store import session_scope
from matcher.store.models import Digest, Match, Notice, Profile, WeekOutcome
from matcher.store.profiles import save_profile

MONDAY = datetime(2025, 1, 27, 8, 0, tzinfo=UTC)  # 08:00 in London too (GMT)
DAY = timedelta(days=1)

GROUNDS = ProfileSpec(
    id="grounds", name="Greenacre Grounds", email="g@example.org", regions=["South West"], cpv=["77310000"],
    capabilities="We look after green spaces: grass cutting, hedge trimming, weed control and tree surgery for councils.",
    keywords=["grounds maintenance", "grass cutting", "tree surgery"], cadence="daily")
CYBER = ProfileSpec(
    id="cyber", name="Bastion Cyber", email="c@example.org", regions=["UK-wide"], cpv=["72000000"],
    capabilities="CREST-accredited penetration testing, IT health checks and vulnerability assessments.",
    keywords=["penetration testing", "IT health check", "cyber security"])

GRASS = {  # key: (title, description) of notices that fit Greenacre Grounds
    "parks": ("Grounds maintenance of parks and cemeteries",
              "Grass cutting, hedge trimming and weed control across the council's parks. Tree surgery as needed."),
    "verges": ("Highway verge grass cutting and hedge trimming", "Grass cutting of rural verges, hedge trimming and weed control."),
    "schools": ("Grounds maintenance for schools", "Grass cutting, hedge trimming and tree surgery at twelve school sites."),
    "cemetery": ("Cemetery grounds maintenance", "Grass cutting, hedge trimming and weed control in two cemeteries."),
    "woods": ("Tree surgery and woodland grass cutting", "Tree surgery, hedge trimming and grass cutting in council woods."),
}


def _cfg(tmp_path):
    return make_config(tmp_path)


def _store(tmp_path, *profiles: ProfileSpec):
    cfg = _cfg(tmp_path)
    engine = store_for(cfg)
    with session_scope(engine) as s:
        for p in profiles:
            save_profile(s, p)
    return cfg, engine


def _notice(engine, key: str, first_seen: datetime, title: str | None = None, description: str | None = None,
            **kw) -> None:
    """A notice as the poll stores it, first seen at `first_seen`."""
    t, d = GRASS.get(key, (title, description))
    rec = NoticeRecord(key=key, source="contracts_finder", stage="tender", status="active", title=title or t,
                       description=description or d, closes_at=MONDAY + timedelta(days=40),
                       cpv=kw.pop("cpv", ["77310000"]), regions=kw.pop("regions", ["South West"]), **kw)
    with session_scope(engine) as s:
        upsert_notice(s, rec)
        s.execute(update(Notice).where(Notice.key == key).values(first_seen=first_seen))


def _sent(engine, pid: str) -> dict[str, list[str]]:
    """period -> the notices of the SME's digests that were sent, in the order they were listed."""
    with session_scope(engine) as s:
        rows = s.exec(select(Digest.week, Match.notice_key).join(Match, Match.digest_id == Digest.id)
                      .where(Digest.profile_id == pid, Digest.state == "sent").order_by(Digest.week, Match.notice_key))
        out: dict[str, list[str]] = {}
        for week, key in rows:
            out.setdefault(week, []).append(key)
    return out


def _digest(engine, pid: str, label: str) -> Digest | None:
    with session_scope(engine) as s:
        return s.exec(select(Digest).where(Digest.profile_id == pid, Digest.week == label)).first()


def _set_cadence(engine, pid: str, cadence: str) -> None:
    with session_scope(engine) as s:
        s.execute(update(Profile).where(Profile.id == pid).values(cadence=cadence))


def _outbox(cfg, label: str) -> list:
    folder = cfg.path(cfg.delivery.outbox_dir) / label
    return [parse_eml(p.read_bytes()) for p in sorted(folder.glob("*.eml"))] if folder.is_dir() else []


def test_a_daily_sme_gets_todays_new_notices_and_not_yesterdays(tmp_path):
    cfg, engine = _store(tmp_path, GROUNDS, CYBER)
    _notice(engine, "woods", MONDAY - 3 * DAY)  # fits, but was already there days before the daily run
    _notice(engine, "parks", MONDAY - timedelta(hours=2))
    monday = pipeline.daily(cfg, engine, MONDAY)
    _notice(engine, "verges", MONDAY + timedelta(hours=20))
    tuesday = pipeline.daily(cfg, engine, MONDAY + DAY)

    assert _sent(engine, "grounds") == {"2025-01-27": ["parks"], "2025-01-28": ["verges"]}
    assert monday.match.week == "2025-01-27" and tuesday.digest.week == "2025-01-28"
    assert "cyber" not in monday.match.per_profile and _sent(engine, "cyber") == {}  # a weekly SME: not in the daily run
    [mail] = _outbox(cfg, "2025-01-28")
    text = mail.get_body(("plain",)).get_content()
    assert mail["Subject"] == "Your new public-sector opportunities for Tuesday 28 January 2025"
    assert "Highway verge grass cutting" in text and "Grounds maintenance of parks" not in text
    assert "It comes daily, on days with something new" in text and "New notices, 28 January 2025" in text
    with session_scope(engine) as s:  # the cut-off each run matched up to, for the next one
        cut = s.exec(select(WeekOutcome.seen_until).where(WeekOutcome.week == "2025-01-28")).one()
    assert cut.replace(tzinfo=UTC) == MONDAY + DAY


def test_a_day_with_nothing_new_sends_nothing(tmp_path):
    cfg, engine = _store(tmp_path, GROUNDS)
    _notice(engine, "parks", MONDAY - timedelta(hours=2))
    pipeline.daily(cfg, engine, MONDAY)
    _notice(engine, "pentest", MONDAY + timedelta(hours=3), title="IT health check and penetration testing",
            description="An annual IT health check and penetration test of the council's network.",
            cpv=["72000000"], regions=["UK-wide"])  # new, but nothing for a grounds firm
    tuesday = pipeline.daily(cfg, engine, MONDAY + DAY)
    wednesday = pipeline.daily(cfg, engine, MONDAY + 2 * DAY)  # nothing new at all

    assert _digest(engine, "grounds", "2025-01-28").state == "empty"
    assert _digest(engine, "grounds", "2025-01-29").state == "empty"
    assert tuesday.digest.delivery.outcomes.get("sent", 0) == 0 and wednesday.match.candidates == 0
    assert _outbox(cfg, "2025-01-28") == [] and _outbox(cfg, "2025-01-29") == []
    assert _sent(engine, "grounds") == {"2025-01-27": ["parks"]}


def test_an_empty_daily_digest_is_not_sent_even_when_weekly_empty_digests_are(tmp_path):
    cfg, engine = _store(tmp_path, GROUNDS, CYBER)
    cfg.digest.send_empty = True
    pipeline.daily(cfg, engine, MONDAY)
    pipeline.weekly(cfg, engine, MONDAY)
    assert _digest(engine, "grounds", "2025-01-27").state == "empty"
    assert _digest(engine, "cyber", "2025-W05").state == "sent"


def test_switching_weekly_to_daily_and_back_loses_nothing_and_sends_nothing_twice(tmp_path):
    grounds = GROUNDS.model_copy(update={"cadence": "weekly"})
    cfg, engine = _store(tmp_path, grounds)
    _notice(engine, "woods", MONDAY - 10 * DAY)
    _notice(engine, "parks", MONDAY - timedelta(hours=2))
    pipeline.weekly(cfg, engine, MONDAY)  # week 5: both open notices
    _notice(engine, "schools", MONDAY + timedelta(hours=4))  # after the weekly run, before the switch
    _set_cadence(engine, "grounds", "daily")
    pipeline.weekly(cfg, engine, MONDAY + timedelta(hours=6))  # a second weekly run the same day: not its cadence now
    _notice(engine, "verges", MONDAY + timedelta(hours=22))
    pipeline.daily(cfg, engine, MONDAY + DAY)  # Tuesday: what is new since the weekly digest
    _set_cadence(engine, "grounds", "weekly")
    _notice(engine, "cemetery", MONDAY + timedelta(days=2, hours=3))
    pipeline.daily(cfg, engine, MONDAY + 3 * DAY)  # Thursday: weekly again, so nothing daily
    pipeline.weekly(cfg, engine, MONDAY + 7 * DAY)  # week 6

    sent = _sent(engine, "grounds")
    assert sent == {"2025-01-28": ["schools", "verges"], "2025-W05": ["parks", "woods"], "2025-W06": ["cemetery"]}
    assert _digest(engine, "grounds", "2025-01-30") is None


def test_a_weekly_digest_that_never_went_reaches_the_sme_after_it_switched_to_daily(tmp_path):
    with smtp_server() as (relay, port):
        grounds = GROUNDS.model_copy(update={"cadence": "weekly"})
        cfg, engine = _store(tmp_path, grounds)
        cfg.delivery.mode, cfg.delivery.smtp_port, cfg.delivery.smtp_host = "smtp", port, "127.0.0.1"
        cfg.digest.from_address = "Matcher <alerts@matcher.example.org>"
        _notice(engine, "parks", MONDAY - timedelta(hours=2))
        relay.fail_with = "451 4.3.0 try again later"
        pipeline.weekly(cfg, engine, MONDAY)
        assert _digest(engine, "grounds", "2025-W05").state == "failed"
        _set_cadence(engine, "grounds", "daily")
        _notice(engine, "verges", MONDAY + timedelta(days=6))
        pipeline.daily(cfg, engine, MONDAY + 2 * DAY)  # still refused: nothing new for Wednesday's digest anyway
        relay.fail_with = None
        pipeline.daily(cfg, engine, MONDAY + 7 * DAY)  # week 5 is over: its digest is given up, its item comes back

        assert _digest(engine, "grounds", "2025-W05").state == "dead"
        assert _sent(engine, "grounds") == {"2025-02-03": ["parks", "verges"]}
        titles = [m["Subject"] for m in relay.messages]
    assert titles == ["Your new public-sector opportunities for Monday 3 February 2025"]


def test_the_weekly_run_keeps_to_weekly_smes(tmp_path):
    cfg, engine = _store(tmp_path, GROUNDS, CYBER)
    _notice(engine, "parks", MONDAY - timedelta(hours=2))
    _notice(engine, "pentest", MONDAY - timedelta(hours=2), title="IT health check and penetration testing",
            description="An annual IT health check and penetration test of the council's network.",
            cpv=["72000000"], regions=["UK-wide"])
    week = pipeline.weekly(cfg, engine, MONDAY)
    assert set(week.match.per_profile) == {"cyber"} and _digest(engine, "grounds", "2025-W05") is None
    assert _sent(engine, "cyber") == {"2025-W05": ["pentest"]}
    assert period_of(MONDAY, "daily").label == "2025-01-27"


def test_the_cli_matches_previews_and_sends_the_daily_path(tmp_path):
    from typer.testing import CliRunner

    from matcher.cli import app

    cfg, engine = _store(tmp_path, GROUNDS, CYBER)
    _notice(engine, "parks", MONDAY - timedelta(hours=2))
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "store.db"}"\n[delivery]\nmode = "outbox"\n'
                      f'outbox_dir = "outbox"\n[secrets]\nsecret_file = "secret-key"\n')
    run = lambda *args: CliRunner().invoke(app, [*args, "--now", MONDAY.isoformat(), "--config", str(config)])  # noqa: E731

    matched = run("match", "--cadence", "daily")
    weekly_only = run("match", "--profile", "grounds")
    preview = run("digest", "preview", "grounds")
    sent = run("digest", "send", "--cadence", "daily")
    wrong = run("match", "--cadence", "hourly")

    assert matched.exit_code == 0, matched.output
    assert "2025-01-27: 1 match(es) for 1 daily SME(s) from 1 new candidate notice(s)" in " ".join(matched.stdout.split())
    assert "profile grounds: gets daily digests (match it with --cadence daily)" in " ".join(weekly_only.output.split())
    assert preview.exit_code == 0 and "Subject: Your new public-sector opportunities for Monday 27 January 2025" in preview.stdout
    assert sent.exit_code == 0, sent.output
    assert "Digests for 2025-01-27" in sent.stdout and _sent(engine, "grounds") == {"2025-01-27": ["parks"]}
    assert wrong.exit_code == 2 and "--cadence: 'hourly' is not one of weekly, daily" in wrong.output


def test_days_a_daily_smes_profile_could_not_be_matched_are_caught_up_once_it_is_fixed(tmp_path):
    cfg, engine = _store(tmp_path, GROUNDS)
    _notice(engine, "parks", MONDAY - timedelta(hours=2))
    pipeline.daily(cfg, engine, MONDAY)
    with session_scope(engine) as s:  # a region stored before regions were checked: the matcher refuses it
        s.execute(update(Profile).where(Profile.id == "grounds").values(regions=["Atlantis"]))
    _notice(engine, "verges", MONDAY + timedelta(hours=12))  # Monday evening, after the day's digest
    broken = pipeline.daily(cfg, engine, MONDAY + DAY)
    with session_scope(engine) as s:
        s.execute(update(Profile).where(Profile.id == "grounds").values(regions=["South West"]))
    _notice(engine, "schools", MONDAY + timedelta(hours=44))
    pipeline.daily(cfg, engine, MONDAY + 2 * DAY)

    assert any("Atlantis" in e for e in broken.match.errors)
    assert _digest(engine, "grounds", "2025-01-28").state == "empty"
    assert _sent(engine, "grounds") == {"2025-01-27": ["parks"], "2025-01-29": ["schools", "verges"]}
