"""Lifecycle: an amendment updates the stored notice; an award, cancellation or withdrawal takes it out of
future digests (the matcher drops notices whose stage or status is in matching.closed_stages /
closed_statuses); an older or earlier-stage release served later never brings it back; awards keep their
suppliers and the portals' SME/VCSE flags. Across copies on several portals too."""
from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta

from sqlmodel import Session, select

from matcher.ingest.poll import poll_source
from matcher.store.models import Notice
from matcher.replay.recordings import data_dir
from matcher.config import MatchingConfig, SourceConfig
from matcher.schema import NoticeRecord, PortalLink
from matcher.sources.contracts_finder import ContractsFinder
from matcher.sources.registry import make_source
from matcher.store import session_scope
from matcher.ingest.notices import upsert_notice

CLOSED = MatchingConfig()  # the shipped closed_stages / closed_statuses the matcher filters on
# a real process in the 2025-01-23 Contracts Finder recording: tender at 15:59:00, award at 16:03:31
TENDERED_THEN_AWARDED = "ocds-b5fd17-0cb08240-82a6-4be3-b63a-1ba819a00d18"


def _open(n: Notice | NoticeRecord) -> bool:
    return not ((n.stage or "") in CLOSED.closed_stages or (n.status or "") in CLOSED.closed_statuses)


def _cf_releases(ocid: str) -> list[dict]:
    """The recorded releases of one Contracts Finder process, oldest first."""
    package = json.loads(data_dir().joinpath("contracts_finder", "search_2025-01-20_2025-01-23.json").read_text(encoding="utf-8"))
    return sorted((r for r in package["releases"] if r["ocid"] == ocid), key=lambda r: r["date"])


def _notice(engine, key: str) -> Notice:  # noqa: ANN001
    with Session(engine) as s:
        (row,) = s.exec(select(Notice).where(Notice.key == key)).all()
    return row


def _upsert(engine, rec: NoticeRecord) -> str:  # noqa: ANN001
    with session_scope(engine) as s:
        return upsert_notice(s, rec)


def test_an_award_closes_the_stored_tender_and_keeps_its_suppliers_flags(engine):
    cf = ContractsFinder(SourceConfig(base_url="https://x.invalid"))
    tender, award = (cf.parse(r) for r in _cf_releases(TENDERED_THEN_AWARDED))
    assert _upsert(engine, tender) == "inserted" and _open(_notice(engine, tender.key))
    assert _upsert(engine, award) == "updated"
    row = _notice(engine, tender.key)
    assert row.stage == "award" and not _open(row)
    assert row.suppliers == [{"name": "OpenView Security Solutions Limited", "sme": False, "vcse": False}]
    assert _upsert(engine, tender) == "unchanged"  # the tender served again does not reopen it
    assert _notice(engine, tender.key).stage == "award"
    cf.close()


def test_a_later_release_without_suppliers_keeps_the_awarded_ones(engine):
    cf = ContractsFinder(SourceConfig(base_url="https://x.invalid"))
    award = cf.parse(_cf_releases(TENDERED_THEN_AWARDED)[1])
    later = copy.deepcopy(award.raw)
    later["date"], later["tag"] = "2025-01-24T09:00:00Z", ["contractUpdate"]  # as a contract notice, no award block
    later.pop("awards")
    _upsert(engine, award)
    assert _upsert(engine, cf.parse(later)) == "updated"
    row = _notice(engine, award.key)
    assert row.stage == "contractUpdate" and row.suppliers == [s.model_dump() for s in award.suppliers]
    cf.close()


def test_an_award_served_before_its_tender_in_one_page_stays_awarded(engine, replay, source_config):
    # the service lists newest first: the award (16:03:31) comes before the tender (15:59:00)
    with make_source("contracts_finder", source_config()) as src:
        poll_source(engine, src, datetime(2025, 1, 23, 22, 10, 19, tzinfo=UTC))
        assert _notice(engine, TENDERED_THEN_AWARDED).stage == "award"
        again = poll_source(engine, src, datetime(2025, 1, 23, 23, tzinfo=UTC))
    assert again.ok and not _open(_notice(engine, TENDERED_THEN_AWARDED))


def test_an_amendment_updates_the_stored_notice(engine, replay, source_config):
    ocid = "ocds-b5fd17-4336529a-8781-49a7-af7f-1293827c28f6"  # tender 15:39:25Z, amendment 15:51:40Z (2022-10-19)
    cfg = source_config(lookback_days=0.02, overlap_minutes=1)
    with make_source("contracts_finder", cfg) as src:
        poll_source(engine, src, datetime(2022, 10, 19, 15, 45, tzinfo=UTC))
        before = _notice(engine, ocid)
        report = poll_source(engine, src, datetime(2022, 10, 19, 16, 0, tzinfo=UTC))
    after = _notice(engine, ocid)
    assert before.stage == "tender" and after.stage == "tenderAmendment" and report.updated >= 1
    assert after.description != before.description and after.first_seen == before.first_seen and _open(after)


def _poll(engine, source_config, name: str, now: datetime, days: int):  # noqa: ANN001, ANN202
    cfg = source_config(name, lookback_days=days, overlap_minutes=days * 24 * 60,
                        **({"notice_types": [2]} if name != "find_a_tender" else {}))
    with make_source(name, cfg) as src:
        report = poll_source(engine, src, now)
    assert report.ok, report.error
    return report


def test_an_amendment_on_the_republishing_portal_updates_the_one_notice(engine, replay, source_config):
    now = datetime(2019, 5, 1, tzinfo=UTC)
    pcs_key = "ocds-r6ebe6-0000569951"  # closes 2019-04-29; Find a Tender's copy is later moved to 2019-05-06
    _poll(engine, source_config, "public_contracts_scotland", now, 40)
    _poll(engine, source_config, "find_a_tender", now, 40)
    row = _notice(engine, pcs_key)
    assert row.closes_at == datetime(2019, 5, 6, 12, tzinfo=UTC) and row.stage == "tenderUpdate"
    assert row.source == "public_contracts_scotland" and row.url.startswith("https://www.publiccontractsscotland.gov.uk/")
    _poll(engine, source_config, "public_contracts_scotland", now + timedelta(hours=1), 40)  # the month read again
    assert _notice(engine, pcs_key).closes_at == datetime(2019, 5, 6, 12, tzinfo=UTC)  # the older release does not undo it


def test_a_cancellation_on_the_republishing_portal_drops_the_welsh_notice(engine, replay, source_config):
    now = datetime(2025, 2, 23, tzinfo=UTC)
    s2w_key = "ocds-kuma6s-147801"  # its Find a Tender copy carries no link, and is cancelled three days later
    _poll(engine, source_config, "sell2wales", now, 30)
    assert _open(_notice(engine, s2w_key))
    _poll(engine, source_config, "find_a_tender", now, 30)
    row = _notice(engine, s2w_key)
    assert row.status == "cancelled" and row.stage == "tenderCancellation" and not _open(row)
    assert {link["source"] for link in row.links} == {"sell2wales", "find_a_tender"}
    _poll(engine, source_config, "sell2wales", now + timedelta(hours=1), 30)
    assert not _open(_notice(engine, s2w_key))


def test_a_newer_tender_copy_from_another_portal_never_reopens_an_awarded_notice(engine):
    cf = ContractsFinder(SourceConfig(base_url="https://x.invalid"))
    award = cf.parse(_cf_releases(TENDERED_THEN_AWARDED)[1])
    _upsert(engine, award)
    copy_on_fts = award.model_copy(update={
        "source": "find_a_tender", "key": "ocds-h6vhtk-0000ff", "stage": "tender", "status": "active",
        "updated_at": award.updated_at + timedelta(days=1), "suppliers": [],
        "links": [PortalLink(source="contracts_finder", key=award.key)]})
    assert _upsert(engine, copy_on_fts) == "merged"
    row = _notice(engine, award.key)
    assert row.stage == "award" and not _open(row)
    assert [link["key"] for link in row.links] == [award.key, "ocds-h6vhtk-0000ff"]
    cf.close()
