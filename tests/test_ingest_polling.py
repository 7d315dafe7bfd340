"""Polling a source into the store: incremental, idempotent, page by page, window by window."""
from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from sqlmodel import Session, func, select

from matcher.ingest.poll import poll_source
from matcher.store.models import Notice, Quarantined, Watermark
from matcher.replay import Fault, recording_now
from matcher.sources.registry import make_source
CF_RECORDING_NOW = recording_now("contracts_finder")  # 2025-01-23 22:10 UTC: sees the whole 2025 recording
SEARCH = "/Published/Notices/OCDS/Search"


class Sleeps(list):
    """The client's sleep: really sleeps, and remembers each wait it was asked for."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)
        time.sleep(seconds)


def _count(engine, model=Notice) -> int:
    with Session(engine) as s:
        return s.exec(select(func.count()).select_from(model)).one()


def _watermark(engine, source="contracts_finder") -> Watermark | None:
    with Session(engine) as s:
        return s.get(Watermark, source)


def test_second_poll_inserts_nothing(engine, replay, source_config):
    with make_source("contracts_finder", source_config()) as src:
        first = poll_source(engine, src, CF_RECORDING_NOW)
        stored = _count(engine)
        second = poll_source(engine, src, CF_RECORDING_NOW)
    assert first.ok and first.inserted == stored > 0
    assert second.ok and second.pages >= 1  # the overlap re-read the same releases...
    assert second.inserted == 0 and second.updated == 0  # ...and nothing new was stored
    assert second.unchanged == first.inserted + first.updated + first.unchanged
    assert _count(engine) == stored


def test_paged_response_is_read_to_last_page(engine, replay, source_config):
    with make_source("contracts_finder", source_config(page_size=7)) as src:
        report = poll_source(engine, src, CF_RECORDING_NOW)
    assert report.ok
    assert report.inserted + report.unchanged == 100  # the 2025 recording holds 100 releases
    assert report.pages == 15  # ceil(100 / 7): the last page has 2
    assert replay.hits(SEARCH) == 15 == report.requests
    assert all(h.user_agent.startswith("sme-opportunity-matcher/") for h in replay.log)  # names the project
    assert "cursor=" in replay.log[-1].query


def test_first_poll_starts_lookback_days_before_now_and_later_polls_overlap(engine, replay, source_config):
    cfg = source_config(lookback_days=30, window_hours=240, overlap_minutes=90)
    with make_source("contracts_finder", cfg) as src:
        first = poll_source(engine, src, CF_RECORDING_NOW)
        later = CF_RECORDING_NOW + timedelta(hours=5)
        second = poll_source(engine, src, later)
    assert first.since == CF_RECORDING_NOW - timedelta(days=30)
    assert first.windows == first.windows_done == 3  # 30 days in 10-day windows
    assert first.watermark == CF_RECORDING_NOW
    assert second.since == CF_RECORDING_NOW - timedelta(minutes=90)
    wm = _watermark(engine)
    assert wm.position == later and wm.last_success_at == later and wm.last_error is None


def test_403_then_200_is_waited_out_and_retried(engine, replay, source_config):
    waits = Sleeps()
    replay.add_faults(Fault("rate_limit_403", path=SEARCH))
    cfg = source_config(rate_limit_wait_seconds=0.2, retry_wait_seconds=0.01)
    with make_source("contracts_finder", cfg, sleep=waits) as src:
        report = poll_source(engine, src, CF_RECORDING_NOW)
    assert report.ok and report.inserted > 0
    assert [h.status for h in replay.log][:2] == [403, 200]
    assert replay.hits(SEARCH) == report.pages + 1
    assert waits == [0.2]  # the configured rate-limit wait, not the generic back-off


def test_retry_after_is_honoured_over_the_configured_wait(engine, replay, source_config):
    waits = Sleeps()
    in_a_second = format_datetime(datetime.now(UTC) + timedelta(seconds=1), usegmt=True)
    replay.add_faults(Fault("status", path=SEARCH, status=429, retry_after=0.3),
                      Fault("status", path=SEARCH, status=503),
                      Fault("status", path=SEARCH, status=503, retry_after=in_a_second))
    cfg = source_config(rate_limit_wait_seconds=0.05, retry_wait_seconds=0.01)
    with make_source("contracts_finder", cfg, sleep=waits) as src:
        report = poll_source(engine, src, CF_RECORDING_NOW)
    assert report.ok
    assert [h.status for h in replay.log][:4] == [429, 503, 503, 200]
    assert waits[0] == 0.3  # Retry-After wins
    assert waits[1] <= 0.02 * 1.2  # 503 without Retry-After: exponential back-off from retry_wait_seconds
    assert 0 <= waits[2] <= 1.0  # Retry-After as an HTTP date: the time left until then


def test_stalled_answer_times_out_and_is_retried(engine, replay, source_config):
    replay.add_faults(Fault("stall", path=SEARCH, seconds=2.0))
    with make_source("contracts_finder", source_config(timeout_seconds=0.3)) as src:
        report = poll_source(engine, src, CF_RECORDING_NOW)
    assert report.ok and report.inserted > 0
    assert replay.hits(SEARCH) == report.pages + 1


def test_connection_reset_is_retried(engine, replay, source_config):
    replay.add_faults(Fault("reset", path=SEARCH, times=2))
    with make_source("contracts_finder", source_config()) as src:
        report = poll_source(engine, src, CF_RECORDING_NOW)
    assert report.ok and report.inserted > 0
    assert replay.hits(SEARCH) == report.pages + 2


def test_truncated_json_is_retried_and_nothing_partial_is_stored(engine, replay, source_config):
    replay.add_faults(Fault("truncated", path=SEARCH, skip=1))  # the second page arrives cut short once
    with make_source("contracts_finder", source_config(page_size=40)) as src:
        report = poll_source(engine, src, CF_RECORDING_NOW)
    assert report.ok and report.pages == 3
    assert replay.hits(SEARCH) == 4
    assert report.inserted + report.unchanged == 100 and report.quarantined == 0


def test_html_error_page_with_status_200_is_retried(engine, replay, source_config):
    replay.add_faults(Fault("html_200", path=SEARCH))
    with make_source("contracts_finder", source_config()) as src:
        report = poll_source(engine, src, CF_RECORDING_NOW)
    assert report.ok and report.inserted > 0
    assert replay.hits(SEARCH) == report.pages + 1


def test_invalid_json_numbers_are_refused_and_retried(engine, replay, source_config):
    replay.add_faults(Fault("bad_number", path=SEARCH, literal="1e9999"),
                      Fault("bad_number", path=SEARCH, literal="000"))
    with make_source("contracts_finder", source_config()) as src:
        report = poll_source(engine, src, CF_RECORDING_NOW)
    assert report.ok
    assert replay.hits(SEARCH) == report.pages + 2
    with Session(engine) as s:
        assert all(n.value_max is None or n.value_max < 1e300 for n in s.exec(select(Notice)))


def test_persistent_failure_keeps_watermark_records_error_and_next_poll_resumes(engine, replay, source_config):
    replay.add_faults(Fault("status", path=SEARCH, status=502, times=4))  # max_retries=3: 4 attempts, all fail
    with make_source("contracts_finder", source_config()) as src:
        failed = poll_source(engine, src, CF_RECORDING_NOW)
        assert not failed.ok and "HTTP 502" in failed.error
        wm = _watermark(engine)
        assert wm.position is None and wm.last_success_at is None
        assert "HTTP 502" in wm.last_error and wm.last_error_at == CF_RECORDING_NOW
        resumed = poll_source(engine, src, CF_RECORDING_NOW)
    assert resumed.ok and resumed.since == failed.since and resumed.inserted > 0
    assert _watermark(engine).last_success_at == CF_RECORDING_NOW


def test_links_next_loop_is_detected_stops_and_is_recorded(engine, replay, source_config):
    replay.add_faults(Fault("self_next", path=SEARCH))
    with make_source("contracts_finder", source_config(page_size=10)) as src:
        report = poll_source(engine, src, CF_RECORDING_NOW)
    assert not report.ok and "already read" in report.error
    assert replay.hits(SEARCH) == 1  # it did not follow the loop
    assert report.inserted + report.unchanged == 10  # the page itself was fine and is kept
    wm = _watermark(engine)
    assert wm.position is None and "already read" in wm.last_error


def test_malformed_record_is_quarantined_and_rest_of_page_stored(engine, replay, source_config):
    replay.add_faults(Fault("malformed_record", path=SEARCH, index=3))
    with make_source("contracts_finder", source_config()) as src:
        report = poll_source(engine, src, CF_RECORDING_NOW)
    assert report.ok and report.quarantined == 1
    assert report.inserted + report.updated + report.unchanged == 99
    with Session(engine) as s:
        (held,) = s.exec(select(Quarantined)).all()
        stored_keys = set(s.exec(select(Notice.key)))
    assert held.source == "contracts_finder"
    assert "tender.title: missing" in held.reason and SEARCH in held.reason
    assert held.key and held.key.startswith("ocds-b5fd17-")
    assert '"ocid"' in held.payload  # the record as received, to look at later
    assert len(stored_keys) == _count(engine) > 90


def test_page_whose_every_record_is_malformed_is_quarantined_and_window_completes(engine, replay, source_config):
    replay.add_faults(Fault("all_malformed", path=SEARCH))
    with make_source("contracts_finder", source_config(page_size=20)) as src:
        report = poll_source(engine, src, CF_RECORDING_NOW)
    assert report.ok and report.quarantined == 20
    with Session(engine) as s:
        reasons = {q.reason.split(" (in ")[0] for q in s.exec(select(Quarantined))}
    assert {"tender.title: missing", "ocid: missing", "tender: expected an object"} <= reasons
    assert any(r.startswith("date: not an ISO 8601 date") for r in reasons)
    assert _count(engine) > 0 and _watermark(engine).position == CF_RECORDING_NOW


def test_empty_page_and_empty_body_do_not_lose_the_window(engine, replay, source_config):
    replay.add_faults(Fault("empty_body", path=SEARCH))
    with make_source("contracts_finder", source_config()) as src:
        report = poll_source(engine, src, CF_RECORDING_NOW)
    assert report.ok and report.inserted > 0 and replay.hits(SEARCH) == report.pages + 1
    replay.add_faults(Fault("empty_page", path=SEARCH))
    with make_source("contracts_finder", source_config()) as src:
        empty = poll_source(engine, src, CF_RECORDING_NOW + timedelta(hours=1))
    assert empty.ok and empty.pages == 1 and empty.inserted == empty.unchanged == 0


def test_later_release_updates_notice_not_duplicate(engine, replay, source_config):
    # In the 2022-10-20 recording this process has an award at 08:24:17Z and an awardUpdate at 08:30:30Z.
    ocid = "ocds-b5fd17-3ec6abdd-1a5a-49db-a784-33d72b40514d"
    cfg = source_config(lookback_days=0.01, overlap_minutes=1)
    with make_source("contracts_finder", cfg) as src:
        first = poll_source(engine, src, datetime(2022, 10, 20, 8, 27, tzinfo=UTC))
        with Session(engine) as s:
            before = s.exec(select(Notice).where(Notice.key == ocid)).one()
        second = poll_source(engine, src, datetime(2022, 10, 20, 8, 35, tzinfo=UTC))
    assert first.ok and second.ok and second.updated >= 1
    with Session(engine) as s:
        rows = s.exec(select(Notice).where(Notice.key == ocid)).all()
    assert len(rows) == 1
    assert before.release_id == "82e15a82-6699-4ecc-a6b6-f5fcabe3867b-582330"
    assert rows[0].release_id == "82e15a82-6699-4ecc-a6b6-f5fcabe3867b-582338"
    assert rows[0].stage == "awardUpdate" and rows[0].first_seen == before.first_seen


def _fits_cp1252(text: str) -> bool:
    try:
        text.encode("cp1252")
    except UnicodeEncodeError:
        return False
    return True


def test_mojibake_bodies_are_decoded_and_repaired(engine, replay, source_config):
    now = datetime(2022, 10, 22, 12, tzinfo=UTC)  # the 2022 recordings: proper "£" and "’" in UTF-8
    with make_source("contracts_finder", source_config(lookback_days=4, overlap_minutes=4 * 24 * 60)) as src:
        clean = poll_source(engine, src, now)  # every poll re-reads the same four days
        with Session(engine) as s:
            texts = {n.key: n.title + n.description for n in s.exec(select(Notice))}
            lossy = {n.key for n in s.exec(select(Notice)) if not _fits_cp1252(json.dumps(n.raw, ensure_ascii=False))}
        replay.add_faults(Fault("mojibake", path=SEARCH, encoding="cp1252", times=clean.pages))
        cp1252 = poll_source(engine, src, now)  # the same releases, sent as Windows-1252 bytes
        replay.add_faults(Fault("mojibake", path=SEARCH, encoding="double", times=clean.pages))
        double = poll_source(engine, src, now)  # ... and as UTF-8 read as cp1252 and re-sent as UTF-8 ("Â£")
        with Session(engine) as s:
            after = {n.key: n.title + n.description for n in s.exec(select(Notice))}
    assert clean.ok and cp1252.ok and double.ok and clean.inserted > 100
    assert [h.fault for h in replay.log] == [None] * clean.pages + ["mojibake"] * 2 * clean.pages
    # Windows-1252 cannot carry U+202F (one notice has it), so only that notice read differently...
    assert cp1252.inserted == 0 and cp1252.updated == len(lossy) == 1
    # ...and the doubly-encoded body was repaired back to exactly what the clean one gave
    assert double.inserted == 0 and after == texts
    assert sum("£" in t for t in texts.values()) >= 10
    assert not any("Â£" in t or "â€" in t for t in texts.values())


def test_the_recordings_own_mojibake_is_repaired(engine, replay, source_config):
    with make_source("contracts_finder", source_config()) as src:
        assert poll_source(engine, src, CF_RECORDING_NOW).ok
    with Session(engine) as s:
        notices = s.exec(select(Notice)).all()
    raw_bad = [n for n in notices if "Â£" in str(n.raw)]
    assert raw_bad and all("Â" not in n.description and "£" in n.description + n.title for n in raw_bad)
