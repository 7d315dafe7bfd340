"""One opportunity, once: a notice republished on another portal is stored once, with a link to each portal."""
from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, select
from typer.testing import CliRunner

from matcher.ingest.dedupe import Candidate, merge_links, near_duplicate, title_similarity
from matcher.ingest.poll import poll_source
from matcher.store.models import Notice, NoticeAlias
from matcher.replay.recordings import load
from matcher.schema import NoticeRecord
from matcher.sources.registry import make_source

PCS, S2W, FTS = "public_contracts_scotland", "sell2wales", "find_a_tender"
SCOTLAND_NOW = datetime(2019, 5, 1, tzinfo=UTC)  # PCS March-April 2019 and FTS's copies of 30 of them
WALES_NOW = datetime(2025, 2, 23, tzinfo=UTC)  # S2W February 2025 and FTS's copies of 48 of them
FAST = {"delay_seconds": 0, "retry_wait_seconds": 0.01, "max_retries": 1}


def _notice(source="sell2wales", key="k1", title="Contract for the Labour only domestic boiler installation",
            buyer="City & County of Swansea", closes=datetime(2025, 3, 24, 12, tzinfo=UTC)) -> NoticeRecord:
    return NoticeRecord(source=source, key=key, title=title, buyer=buyer, closes_at=closes)


def _candidate(rec: NoticeRecord, copies=frozenset()) -> Candidate:
    return Candidate(rec.key, rec.source, rec.title, rec.buyer, rec.closes_at, frozenset(copies))


@pytest.mark.parametrize("title, buyer, closes, same", [
    ("Contract for the Labour only domestic boiler installation", "City and County of Swansea",
     datetime(2025, 3, 24, 12, tzinfo=UTC), True),  # '&' written 'and'
    ("CONTRACT FOR THE LABOUR-ONLY DOMESTIC BOILER INSTALLATION.", "City & County of Swansea",
     datetime(2025, 3, 24, 11, 0, tzinfo=UTC), True),  # case, punctuation, another hour of the same day
    ("CCS/24/297 Contract for the Labour only domestic boiler installation", "Swansea Council & City of",
     datetime(2025, 3, 24, 12, tzinfo=UTC), True),  # a reference number in front; buyer words reordered
    ("Contract for the Labour only domestic boiler installation", "City & County of Swansea",
     datetime(2025, 3, 25, 12, tzinfo=UTC), False),  # closes another day
    ("Contract for gas boiler servicing", "City & County of Swansea",
     datetime(2025, 3, 24, 12, tzinfo=UTC), False),  # another contract of the same buyer
    ("Contract for the Labour only domestic boiler installation", "Cardiff Council",
     datetime(2025, 3, 24, 12, tzinfo=UTC), False),  # another buyer
])
def test_near_duplicates_need_title_buyer_and_closing_day(title, buyer, closes, same):
    stored = _notice()
    copy = _notice(source=FTS, key="k2", title=title, buyer=buyer, closes=closes)
    found = near_duplicate(copy, [_candidate(stored)])
    assert (found is not None) is same
    if same:
        assert found.key == "k1" and "near duplicate of k1" in found.reason


def test_near_duplicates_are_never_sought_on_the_same_portal_or_twice_from_one_portal():
    stored = _notice()
    assert near_duplicate(_notice(key="k2"), [_candidate(stored)]) is None  # a portal's own twin notices stay two
    assert near_duplicate(_notice(source=FTS, key="k2"), [_candidate(stored, {FTS})]) is None  # it has an FTS copy
    assert near_duplicate(_notice(source=FTS, key="k2", closes=None), [_candidate(stored)]) is None


def test_without_a_buyer_only_a_near_identical_title_will_do():
    stored = _notice(buyer=None)
    assert near_duplicate(_notice(source=FTS, key="k2"), [_candidate(stored)]) is not None
    reworded = _notice(source=FTS, key="k2", title="Contract for the Labour only boiler installation")
    assert title_similarity(reworded.title, stored.title) >= 90
    assert near_duplicate(reworded, [_candidate(stored)]) is None


def test_merged_links_hold_one_entry_per_copy_and_prefer_its_own_page():
    api = {"source": PCS, "url": "https://api.publiccontractsscotland.gov.uk/v1/Notice?id=ocds-r6ebe6-1", "key": "ocds-r6ebe6-1"}
    page = {"source": PCS, "url": "https://www.publiccontractsscotland.gov.uk/search/show/search_view.aspx?ID=X",
            "key": "ocds-r6ebe6-1", "own": True}
    fts = {"source": FTS, "url": "https://www.find-tender.service.gov.uk/Notice/000001-2019", "key": "ocds-h6vhtk-000001"}
    merged = merge_links([fts, api], [page])
    assert merged == [fts, {k: v for k, v in page.items() if k != "own"}]
    assert merge_links(merged, [{**api, "own": False}]) == merged  # another portal's link does not undo it


def _poll(engine, source_config, name: str, now: datetime, days: int):  # noqa: ANN001, ANN202
    cfg = source_config(name, lookback_days=days, overlap_minutes=days * 24 * 60,
                        **({"notice_types": [2]} if name != FTS else {}))
    with make_source(name, cfg) as src:
        report = poll_source(engine, src, now)
    assert report.ok, report.error
    return report


def _served_keys(source: str, since: datetime, until: datetime) -> set[str]:
    return {r.release["ocid"] for r in load().ocds[source] if since <= r.date <= until}


def _every_key_once(engine) -> dict[str, str]:  # noqa: ANN001
    """key of every copy -> the stored notice holding it; fails if a copy is held by two notices."""
    held: dict[str, str] = {}
    with Session(engine) as s:
        for n in s.exec(select(Notice)):
            for key in {n.key, *(link["key"] for link in n.links if link.get("key"))}:
                assert key not in held, f"{key} is in {held[key]} and in {n.key}"
                held[key] = n.key
    return held


@pytest.mark.parametrize("order", [(PCS, FTS), (FTS, PCS)], ids=["originating-portal-first", "republisher-first"])
def test_scottish_notices_republished_on_find_a_tender_are_stored_once(order, engine, replay, source_config):
    reports = {name: _poll(engine, source_config, name, SCOTLAND_NOW, 40) for name in order}
    first, second = order
    assert reports[first].inserted == (90 if first == PCS else 30)
    assert reports[second].merged == 30 and reports[second].inserted == (60 if second == PCS else 0)
    held = _every_key_once(engine)
    fts_keys = _served_keys(FTS, SCOTLAND_NOW - timedelta(days=40), SCOTLAND_NOW)
    assert len(held) == 90 + len(fts_keys) and len(set(held.values())) == 90  # every copy once, 90 notices
    with Session(engine) as s:
        notices = s.exec(select(Notice)).all()
        aliases = s.exec(select(NoticeAlias)).all()
    assert len(notices) == 90 and len(aliases) == 30
    assert all("canonical link" in a.reason and a.first_seen is not None for a in aliases)
    merged = [n for n in notices if len(n.links) == 2]
    assert len(merged) == 30
    for n in merged:  # the first stored copy is canonical; each portal's link goes to its own notice page
        assert n.source == first and n.links[0]["source"] == first
        urls = {link["source"]: link["url"] for link in n.links}
        assert urls[PCS].startswith("https://www.publiccontractsscotland.gov.uk/search/show/")
        assert urls[FTS].startswith("https://www.find-tender.service.gov.uk/Notice/")


def test_welsh_copies_without_a_link_are_caught_as_near_duplicates(engine, replay, source_config, recorded, stored):
    _poll(engine, source_config, S2W, WALES_NOW, 30)
    fts = _poll(engine, source_config, FTS, WALES_NOW, 30)
    # each notice keeps the content Sell2Wales published (a copy's republication changes only the links),
    # except the one whose Find a Tender copy was later cancelled
    welsh = recorded(S2W, WALES_NOW - timedelta(days=30), WALES_NOW)
    changed = {k for k, h in stored(engine)[0].items() if welsh.get(k) != h}
    assert changed == {"ocds-kuma6s-147801"}
    assert fts.inserted == 0 and fts.merged == 47 and fts.updated == 1  # 47 copies; 1 of them cancelled later
    with Session(engine) as s:
        reasons = [a.reason for a in s.exec(select(NoticeAlias))]
        assert len(s.exec(select(Notice)).all()) == 89
    linked = sum(bool(r.release.get("links")) for r in load().ocds[FTS] if r.date.year == 2025 and r.release["tag"] == ["tender"])
    assert sum("canonical link" in r for r in reasons) == linked and sum("near duplicate" in r for r in reasons) == 47 - linked
    assert 30 <= 47 - linked
    held = _every_key_once(engine)
    assert len(held) == 89 + 47
    # the look-alike pairs Sell2Wales itself lists twice stay two notices, each with its own FTS copy
    assert held["ocds-kuma6s-148297"] != held["ocds-kuma6s-148390"]
    again = {name: _poll(engine, source_config, name, WALES_NOW + timedelta(hours=1), 30) for name in (S2W, FTS)}
    assert all(r.inserted == r.updated == r.merged == 0 for r in again.values())


def test_notices_list_and_sources_status_show_each_opportunity_once(tmp_path, replay, monkeypatch):
    from matcher.cli import app, common

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(common.console, "_width", 250)
    lines = ['[database]', 'url = "sqlite:///store.db"']
    for name in (FTS, S2W):  # the config lists the republisher first; the poll still reads the originator first
        lines += [f"[sources.{name}]", f'base_url = "{replay.base_url(name)}"', "lookback_days = 30",
                  *(f"{k} = {v}" for k, v in FAST.items())]
        lines += ["window_hours = 6"] if name == FTS else ["notice_types = [2]"]
    (tmp_path / "config.toml").write_text("\n".join(lines) + "\n")
    runner = CliRunner()
    polled = runner.invoke(app, ["poll", "--now", WALES_NOW.isoformat(), "--config", "config.toml"])
    assert polled.exit_code == 0, polled.output
    listed = runner.invoke(app, ["notices", "list", "--json", "--config", "config.toml"])
    notices = [json.loads(line) for line in listed.output.splitlines()]
    assert len(notices) == len({n["key"] for n in notices}) == 89 and {n["source"] for n in notices} == {S2W}
    link_keys = [link["key"] for n in notices for link in n["links"] if link["key"] != n["key"]]
    assert len(link_keys) == len(set(link_keys)) == 47 and all(k.startswith("ocds-h6vhtk-") for k in link_keys)
    status = runner.invoke(app, ["sources", "status", "--config", "config.toml"])
    rows: dict[str, list[str]] = {}
    for line in status.output.splitlines():  # the sources table (the notice-id table follows it)
        if line.split()[:1] in ([FTS], [S2W]):
            rows.setdefault(line.split()[0], line.split())
    assert rows[S2W][5:8] == ["89", "0", "0"] and rows[FTS][5:8] == ["0", "47", "0"]  # notices, merged, quarantined
