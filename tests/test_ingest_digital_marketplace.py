"""Polling the Digital Marketplace's recorded listing and opportunity pages into the store."""
from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session, select

from matcher.ingest.poll import poll_source
from matcher.store.models import ListedItem, Notice, Quarantined
from matcher.replay import Fault, recording_now
from matcher.sources.registry import make_source

LISTING = "/digital-outcomes-and-specialists/opportunities"
DM_NOW = recording_now("digital_marketplace")


def _notices(engine) -> list[Notice]:
    with Session(engine) as s:
        return list(s.exec(select(Notice)))


def test_poll_reads_the_open_listing_and_every_opportunity_on_it(engine, replay, source_config):
    with make_source("digital_marketplace", source_config("digital_marketplace")) as src:
        first = poll_source(engine, src, DM_NOW)
        second = poll_source(engine, src, DM_NOW)
    assert first.ok and first.pages == 1 and first.inserted == 27 and first.quarantined == 0
    assert first.requests == 1 + 27
    # nothing changed in the listing: the re-poll reads the listing page only
    assert second.inserted == 0 and second.updated == 0 and second.skipped == 27 and second.requests == 1
    assert replay.hits(LISTING) == 1 + 27 + 1
    notices = _notices(engine)
    assert {n.source for n in notices} == {"digital_marketplace"} and all(n.key.startswith("dm-") for n in notices)
    assert all(n.closes_at and n.published_at and n.description for n in notices)
    mod = next(n for n in notices if n.key == "dm-13198")
    assert mod.buyer == "Ministry of Defence" and mod.regions == ["South West England"]


def test_poll_reads_the_older_page_layout(engine, replay, source_config):
    replay.dm_day = "2019-12-10"
    with make_source("digital_marketplace", source_config("digital_marketplace")) as src:
        report = poll_source(engine, src, DM_NOW)
    assert report.ok and report.inserted == 26
    assert all(n.title and n.buyer and n.closes_at for n in _notices(engine))


def test_opportunity_page_without_a_title_is_quarantined_and_the_rest_stored(engine, replay, source_config):
    replay.add_faults(Fault("malformed_record", path=LISTING + "/", skip=4))
    with make_source("digital_marketplace", source_config("digital_marketplace")) as src:
        report = poll_source(engine, src, DM_NOW)
    assert report.ok and report.inserted == 26 and report.quarantined == 1
    with Session(engine) as s:
        (held,) = s.exec(select(Quarantined)).all()
    assert "has no title heading" in held.reason and held.key.startswith("dm-")
    assert held.key not in {n.key for n in _notices(engine)}


def test_error_page_with_200_instead_of_an_opportunity_is_retried(engine, replay, source_config):
    replay.add_faults(Fault("html_200", path=LISTING + "/"), Fault("html_200", path=LISTING))
    with make_source("digital_marketplace", source_config("digital_marketplace")) as src:
        report = poll_source(engine, src, DM_NOW)
    assert report.ok and report.inserted == 27 and report.quarantined == 0
    assert report.requests == 1 + 27 + 2


def test_listing_next_link_loop_is_detected_and_recorded(engine, replay, source_config):
    replay.add_faults(Fault("self_next", path=LISTING))
    with make_source("digital_marketplace", source_config("digital_marketplace")) as src:
        report = poll_source(engine, src, DM_NOW)
    assert not report.ok and "already read" in report.error
    assert report.inserted == 27  # the first listing page and its opportunities were fine
    assert replay.hits(LISTING) == 1 + 27  # the listing was not read a second time


def test_listed_opportunity_that_is_gone_is_quarantined_not_fatal(engine, replay, source_config):
    replay.add_faults(Fault("status", path=LISTING + "/", status=404))
    with make_source("digital_marketplace", source_config("digital_marketplace")) as src:
        report = poll_source(engine, src, DM_NOW)
    assert report.ok and report.inserted == 26 and report.quarantined == 1
    assert "answered HTTP 404" in report.quarantine_reasons[0]


def test_a_repoll_reads_again_only_the_opportunity_whose_listing_entry_changed(engine, replay, source_config):
    with make_source("digital_marketplace", source_config("digital_marketplace")) as src:
        poll_source(engine, src, DM_NOW)
        with Session(engine) as s:  # as if the page had been read when its entry said something else
            row = s.get(ListedItem, ("digital_marketplace", "dm-13198"))
            row.fingerprint = "0" * 64
            s.add(row)
            s.commit()
        replay.reset_counts()
        again = poll_source(engine, src, DM_NOW + timedelta(hours=1))
    assert again.ok and again.requests == 2 and again.skipped == 26
    assert replay.hits(LISTING + "/13198") == 1
    with Session(engine) as s:
        assert s.get(ListedItem, ("digital_marketplace", "dm-13198")).fingerprint != "0" * 64


def test_an_unchanged_opportunity_is_read_again_after_refresh_hours(engine, replay, source_config):
    with make_source("digital_marketplace", source_config("digital_marketplace", refresh_hours=24)) as src:
        poll_source(engine, src, DM_NOW)
        soon = poll_source(engine, src, DM_NOW + timedelta(hours=23))
        later = poll_source(engine, src, DM_NOW + timedelta(hours=25))
    assert soon.requests == 1 and soon.skipped == 27
    assert later.requests == 1 + 27 and later.skipped == 0 and later.unchanged == 27


def test_a_page_that_failed_is_not_remembered_and_is_read_on_the_next_poll(engine, replay, source_config):
    replay.add_faults(Fault("status", status=500, path=LISTING + "/", skip=5, times=2))
    with make_source("digital_marketplace", source_config("digital_marketplace", max_retries=1)) as src:
        failed = poll_source(engine, src, DM_NOW)
        assert not failed.ok
        with Session(engine) as s:
            assert s.exec(select(ListedItem)).all() == []  # the page's records were not stored: nothing is marked read
        retried = poll_source(engine, src, DM_NOW + timedelta(minutes=30))
    assert retried.ok and retried.inserted == 27 and retried.skipped == 0
