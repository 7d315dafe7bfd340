"""Find a Tender without silent loss (sources.md 2.7), against the loopback emulation of the live API: a cursor
that loses and repeats releases, `stages` hiding Procurement Act notices, residue ids, 429s without Retry-After.

The busy days here are CONSTRUCTED (matcher.replay.fts_busy) from the real bundled releases: real notices with
new ids, ocids and publication times; nothing was recorded that way."""
from __future__ import annotations

import base64
from datetime import UTC, date, datetime, timedelta
from urllib.parse import parse_qs

import httpx
import pytest
from sqlmodel import Session, func, select
from typer.testing import CliRunner

from matcher.cli import app
from matcher.config import SourceConfig
from matcher.ingest.poll import poll_source
from matcher.replay import start_replay
from matcher.replay.fts_busy import busy_days
from matcher.replay.fts_search import FtsData, is_procurement_act, releases_of
from matcher.sources.find_a_tender import FindATender, fts_time
from matcher.store.models import Notice, NoticeIdProbe, SourceRelease

PATH = "/api/1.0/ocdsReleasePackages"
MONDAY = date(2026, 9, 14)


def _config(server, **overrides) -> SourceConfig:
    values = dict(base_url=server.base_url("find_a_tender"), delay_seconds=0.0, timeout_seconds=5.0, max_retries=3,
                  retry_wait_seconds=0.01, rate_limit_wait_seconds=0.05, max_wait_seconds=1.0, window_hours=6,
                  overlap_minutes=60, page_size=100)
    values.update(overrides)
    return SourceConfig(**values)


def _poll(engine, server, data, **overrides):
    lookback = (data.until - data.since).total_seconds() / 86400
    with FindATender(_config(server, lookback_days=lookback, **overrides)) as src:
        return poll_source(engine, src, data.until)


def _held(engine) -> set[tuple[str, str]]:
    with Session(engine) as s:
        return set(s.exec(select(SourceRelease.ocid, SourceRelease.release_id)).all())


def _listing_queries(server) -> list[dict]:
    return [parse_qs(h.query) for h in server.log if h.path == PATH]


@pytest.fixture(scope="module")
def busy_day():
    return busy_days(MONDAY, days=1, per_day=400)


@pytest.fixture(scope="module")
def small_days():
    return busy_days(MONDAY, days=2, per_day=120)


def _walk_by_cursor(url: str, since: datetime, until: datetime) -> list[tuple[str, str]]:
    """What a client following links.next over one window gets (the old way of polling)."""
    got, nxt = [], f"{url}{PATH}?updatedFrom={fts_time(since)}&updatedTo={fts_time(until)}&limit=100"
    while nxt:
        package = httpx.get(nxt).json()
        got += [(r["ocid"], r["id"]) for r in package["releases"]]
        nxt = (package.get("links") or {}).get("next")
    return got


def test_a_busy_day_whose_cursor_walk_loses_releases_ends_with_every_release_stored(engine, busy_day):
    with start_replay(fts=busy_day.fts_data()) as server:
        walked = _walk_by_cursor(server.url, busy_day.since, busy_day.until)
        assert len(set(walked)) < len(busy_day.keys)  # the emulation loses releases the way the live API does
        server.reset_counts()
        report = _poll(engine, server, busy_day)
        queries = _listing_queries(server)
    assert report.complete, report
    assert _held(engine) == busy_day.keys  # lost 0; each (ocid, release id) once
    with Session(engine) as s:
        assert s.exec(select(func.count()).select_from(Notice)).one() == len({o for o, _ in busy_day.keys})
    assert all("cursor" not in q and "stages" not in q for q in queries)  # first pages only, never stages
    assert report.gaps_open == 0 and report.residue == len(busy_day.residue_404) + len(busy_day.residue_empty)
    assert report.ids_held == len({i for _, i in busy_day.keys})


def test_a_full_window_is_split_in_halves_and_only_complete_parts_move_the_watermark(engine, small_days):
    with start_replay(fts=small_days.fts_data()) as server:
        report = _poll(engine, server, small_days, page_size=20)
        spans = [(q["updatedFrom"][0], q["updatedTo"][0]) for q in _listing_queries(server)]
    assert report.complete and _held(engine) == small_days.keys
    assert report.requests == len(spans) + report.by_id_requests
    assert len(spans) > report.windows  # full first pages were split
    parsed = [(datetime.fromisoformat(a).replace(tzinfo=UTC), datetime.fromisoformat(b).replace(tzinfo=UTC)) for a, b in spans]
    for (a, b) in parsed:  # every part asked for is a window or a half of one asked for before it
        assert (b - a) <= timedelta(hours=6)
        assert (b - a) >= timedelta(seconds=60) or (b - a) == timedelta(0)


def test_stages_hides_procurement_act_notices_and_is_never_sent(engine, small_days):
    with start_replay(fts=small_days.fts_data()) as server:
        url = f"{server.url}{PATH}?updatedFrom={fts_time(small_days.since)}&updatedTo={fts_time(small_days.until)}"
        staged = httpx.get(url + "&stages=tender&limit=100").json()["releases"]
        assert staged and not any(is_procurement_act(r) for r in staged)
        server.reset_counts()
        with FindATender(_config(server, lookback_days=2, stages=["tender"])) as src:
            report = poll_source(engine, src, small_days.until)
        queries = _listing_queries(server)
    assert report.complete and _held(engine) == small_days.keys
    assert not any("stages" in q for q in queries)
    with Session(engine) as s:
        types = set(s.exec(select(Notice.notice_type)).all())
    assert {"tender", "pipeline", "preliminary_market_engagement", "award"} <= types


def test_an_id_gap_is_filled_by_id(engine, small_days):
    lost = sorted(i for _, i in small_days.keys)[57]
    with start_replay(fts=small_days.fts_data(unlisted=frozenset({lost}))) as server:
        report = _poll(engine, server, small_days, page_size=20)
        by_id = [h.path for h in server.log if h.path.startswith(PATH + "/")]
    assert report.complete and report.gaps_filled == 1
    assert _held(engine) == small_days.keys
    assert f"{PATH}/{lost}" in by_id
    with Session(engine) as s:
        assert s.get(NoticeIdProbe, ("find_a_tender", lost)).state == "found"


def test_residue_is_recorded_and_not_asked_for_again_beyond_its_retries(engine, small_days):
    residue = set(small_days.residue_404) | set(small_days.residue_empty)
    asked = []
    cfg = dict(page_size=20, residue_retries=2, residue_recheck_hours=24)
    with start_replay(fts=small_days.fts_data()) as server, FindATender(_config(server, lookback_days=2, **cfg)) as src:
        for hours in (0, 1, 25, 50):  # a poll, one an hour later, then a day later and another day later
            server.reset_counts()
            report = poll_source(engine, src, small_days.until + timedelta(hours=hours))
            asked.append({h.path.rsplit("/", 1)[1] for h in server.log if h.path.startswith(PATH + "/")})
            assert report.complete and report.residue == len(residue)
    assert asked == [residue, set(), residue, set()]  # asked twice, a day apart, then never again
    with Session(engine) as s:
        probes = s.exec(select(NoticeIdProbe)).all()
    assert {p.notice_id for p in probes} == residue and all(p.state == "residue" and p.attempts == 2 for p in probes)
    answers = {p.notice_id: p.last_answer for p in probes}
    assert all("404" in answers[i] for i in small_days.residue_404)
    assert all("empty" in answers[i] for i in small_days.residue_empty)


def test_a_full_window_at_the_floor_follows_links_next_and_the_audit_recovers_what_it_lost(engine, busy_day):
    # a floor of 6 hours: a full 6-hour window cannot be split, so its cursor is followed
    with start_replay(fts=busy_day.fts_data(out_of_step_every=10)) as server:
        report = _poll(engine, server, busy_day, split_floor_seconds=6 * 3600, audit_max_requests=500)
        cursors = [q for q in _listing_queries(server) if "cursor" in q]
    assert cursors and report.parts_walked >= 1
    assert report.gaps_filled > 0  # the walk lost releases; the id audit fetched them one by one
    assert report.complete and _held(engine) == busy_day.keys


def test_429s_without_retry_after_are_waited_out(engine, small_days):
    with start_replay(fts=small_days.fts_data(), fts_rate_limit=(3, 2.0)) as server:
        report = _poll(engine, server, small_days, page_size=20, rate_limit_wait_seconds=0.5, max_retries=8)
        throttled = [h for h in server.log if h.status == 429]
    assert throttled and report.complete and _held(engine) == small_days.keys


def _cli_config(tmp_path, server, **extra) -> str:
    values = {"base_url": server.base_url("find_a_tender"), "delay_seconds": 0, "lookback_days": 2, "window_hours": 6,
              "page_size": 20, "retry_wait_seconds": 0.01, "rate_limit_wait_seconds": 0.05, **extra}
    lines = ["[database]", f'url = "sqlite:///{tmp_path / "store.db"}"', "[sources.find_a_tender]"]
    lines += [f"{k} = {v!r}" if not isinstance(v, str) else f'{k} = "{v}"' for k, v in values.items()]
    (tmp_path / "config.toml").write_text("\n".join(lines) + "\n")
    return str(tmp_path / "config.toml")


def test_a_poll_ending_with_open_gaps_says_so_and_exits_3_and_status_shows_them(tmp_path, small_days, monkeypatch):
    from matcher.cli import common

    monkeypatch.setattr(common.console, "_width", 250)
    monkeypatch.setattr(common.err_console, "_width", 250)
    runner = CliRunner()
    now = small_days.until.isoformat()
    residue = sorted([*small_days.residue_404, *small_days.residue_empty])
    ids_held = len({i for _, i in small_days.keys})
    with start_replay(fts=small_days.fts_data()) as server:
        config = _cli_config(tmp_path, server, audit_max_requests=len(residue) - 1)  # one id left unasked
        first = runner.invoke(app, ["poll", "--config", config, "--now", now], env={"COLUMNS": "250"})
        status = runner.invoke(app, ["sources", "status", "--config", config], env={"COLUMNS": "250"})
        config = _cli_config(tmp_path, server, audit_max_requests=60)
        second = runner.invoke(app, ["poll", "--config", config, "--now", now], env={"COLUMNS": "250"})
        after = runner.invoke(app, ["sources", "status", "--config", config], env={"COLUMNS": "250"})
    assert first.exit_code == 3, first.output
    assert f"1 notice id(s) still missing, oldest {residue[-1]}" in first.output
    assert next(line for line in first.output.splitlines() if line.split()[:1] == ["find_a_tender"]).split()[1] == "incomplete"
    row = next(line for line in status.output.splitlines() if residue[-1] in line)
    assert row.split()[:5] == ["find_a_tender", str(ids_held), "1", residue[-1], str(len(residue) - 1)]
    assert " .. " in row  # the last complete window
    assert second.exit_code == 0 and "no notice id missing" in second.output, second.output
    row = next(line for line in after.output.splitlines() if line.startswith(" find_a_tender") and " .. " in line)
    assert row.split()[:5] == ["find_a_tender", str(ids_held), "0", "-", str(len(residue))]


def test_the_by_id_endpoint_answers_200_empty_or_404_and_one_id_may_be_two_releases(small_days):
    twin = small_days.twin_ids[0]
    with start_replay(fts=small_days.fts_data()) as server:
        found = httpx.get(f"{server.url}{PATH}/{twin}")
        empty = httpx.get(f"{server.url}{PATH}/{small_days.residue_empty[0]}")
        missing = httpx.get(f"{server.url}{PATH}/{small_days.residue_404[0]}")
    assert found.status_code == 200 and {r["id"] for r in found.json()["releases"]} == {twin}
    assert len({r["ocid"] for r in found.json()["releases"]}) == 2
    assert empty.status_code == 200 and empty.json()["releases"] == []
    assert missing.status_code == 404 and "'identifier' is not found" in missing.text


def test_the_listing_is_newest_id_first_on_first_publication_and_its_cursor_repeats_and_loses(busy_day):
    edited = busy_day.edited[0]
    data = busy_day.fts_data(out_of_step_every=10)
    with start_replay(fts=data) as server:
        url = f"{server.url}{PATH}?updatedFrom={fts_time(busy_day.since)}&updatedTo={fts_time(busy_day.until)}&limit=100"
        first = httpx.get(url).json()
        walked = _walk_by_cursor(server.url, busy_day.since, busy_day.until)
    ids = [r["id"] for r in first["releases"]]
    assert ids == sorted(ids, reverse=True)
    cursor = parse_qs(first["links"]["next"].split("?", 1)[1])["cursor"][0]
    assert base64.b64decode(cursor).decode().startswith(f"updatedFrom={fts_time(busy_day.since)}|")
    assert len(walked) != len(set(walked)) or len(set(walked)) < len(busy_day.keys)
    assert len(set(walked)) < len(busy_day.keys)
    # an edited release (its date a day later) is listed in the window of its first publication
    assert edited in {i for _, i in walked} or edited not in ids  # listed today, whatever page it fell on
    edited_release = next(r for r in busy_day.releases if r["id"] == edited)
    assert edited_release["date"] > fts_time(busy_day.until)
    assert any(r.release["id"] == edited for r in data.listed(busy_day.since, busy_day.until, None))


def test_real_releases_are_served_with_their_infinite_numbers_as_1e9999(replay):
    by_id = httpx.get(f"{replay.url}{PATH}/050970-2026")
    assert by_id.status_code == 200
    assert "Infinity" not in by_id.text and ("1e9999" in by_id.text or "maximumLotsBidPerSupplier" not in by_id.text)


def test_constructed_and_real_emulation_data_are_told_apart(replay):
    releases = replay.fts.releases
    real = [r for r in releases if not r.constructed]
    assert len(real) == 45 and all(r.release["id"] for r in real)
    assert FtsData(releases_of([r.release for r in real])).by_id("000000-2026") is None


@pytest.mark.postgres
def test_a_busy_day_with_gaps_and_residue_is_stored_whole_on_postgresql(small_days, pg_engine):
    lost = sorted(i for _, i in small_days.keys)[33]
    with start_replay(fts=small_days.fts_data(unlisted=frozenset({lost}))) as server:
        first = _poll(pg_engine, server, small_days, page_size=20)
        again = _poll(pg_engine, server, small_days, page_size=20)
    assert first.complete and first.gaps_filled == 1 and again.complete and again.inserted == 0
    assert _held(pg_engine) == small_days.keys
    assert first.residue == len(small_days.residue_404) + len(small_days.residue_empty)
