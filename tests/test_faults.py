"""No notice lost under faults: Find a Tender, Public Contracts Scotland and Sell2Wales against the replay
server with one fault injected mid-poll. After the fault, a later poll completes and the store holds
exactly what the server serves for the span: every recorded notice once, with its content; malformed copies
only in quarantine, with their reason.

Each poll re-reads the whole span (overlap = lookback), as a later poll re-reads the window a fault
cut short; test_faults_kill.py covers resuming from the watermark.
"""
from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from matcher.ingest.poll import poll_source
from matcher.replay import Fault
from matcher.sources.registry import make_source

FTS, PCS, S2W = "find_a_tender", "public_contracts_scotland", "sell2wales"
PATHS = {FTS: "/api/1.0/ocdsReleasePackages", PCS: "/pcs/v1/Notices", S2W: "/s2w/v1/Notices"}
# the span each source is polled over, and `skip`: how many requests pass before the fault, chosen so it
# meets an answer that carries releases (for Find a Tender a half of a split window)
SPANS = {
    FTS: dict(now=datetime(2025, 2, 23, tzinfo=UTC), days=3, skip=7, options=dict(page_size=4)),  # 30 releases, 52 requests
    PCS: dict(now=datetime(2019, 4, 30, 12, tzinfo=UTC), days=40, skip=2, options=dict(notice_types=[2, 3])),  # 90
    S2W: dict(now=datetime(2025, 2, 28, 12, tzinfo=UTC), days=40, skip=2, options=dict(notice_types=[2, 53])),  # 89
}
RETRY_AFTER = 0.02
RATE_LIMIT_WAIT = 0.05


class Sleeps(list):
    """The client's sleep: really sleeps, and remembers each wait it was asked for."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)
        time.sleep(seconds)


# (id, fault options, whether the first poll completes: True, False, or the set of sources where it does)
FAULTS = [
    ("403", dict(kind="rate_limit_403"), False),  # a 403 that does not say when to come back: the poll stops
    ("403-retry-after", dict(kind="rate_limit_403", retry_after=RETRY_AFTER), True),
    ("429", dict(kind="status", status=429), True),
    ("429-retry-after", dict(kind="status", status=429, retry_after=RETRY_AFTER), True),
    ("500", dict(kind="status", status=500), True),
    ("503", dict(kind="status", status=503), True),
    ("504", dict(kind="status", status=504), True),
    ("connection-reset", dict(kind="reset"), True),
    ("read-timeout", dict(kind="stall", seconds=1.0), True),
    ("truncated-json", dict(kind="truncated"), True),
    ("number-1e9999", dict(kind="bad_number", literal="1e9999"), True),
    ("number-000", dict(kind="bad_number", literal="000"), True),
    ("html-200", dict(kind="html_200"), True),
    ("empty-body", dict(kind="empty_body"), True),
    ("empty-page", dict(kind="empty_page"), True),
    # a next link to the page itself: nobody follows it (the Proactis API has no pagination, and Find a Tender
    # follows links.next only in a full window at the split floor)
    ("self-next", dict(kind="self_next"), True),
    ("all-malformed", dict(kind="all_malformed"), True),
]


def _fault(source: str, options: dict) -> Fault:
    options = dict(options)
    if options["kind"] == "bad_number" and source == FTS:
        # Find a Tender's own quirk, where it sends it: every answer, repaired rather than refused
        options.update(json_key="maximumLotsBidPerSupplier", times=100)
    return Fault(path=PATHS[source], skip=SPANS[source]["skip"], **options)


@pytest.mark.parametrize("source", [FTS, PCS, S2W])
@pytest.mark.parametrize("name, options, first_ok", FAULTS, ids=[f[0] for f in FAULTS])
def test_after_a_fault_a_later_poll_stores_exactly_the_recorded_notices(
        name, options, first_ok, source, engine, replay, source_config, recorded, stored):
    span = SPANS[source]
    now, days = span["now"], span["days"]
    cfg = source_config(source, lookback_days=days, overlap_minutes=days * 24 * 60, timeout_seconds=0.3,
                        rate_limit_wait_seconds=RATE_LIMIT_WAIT, retry_wait_seconds=0.01, **span["options"])
    fault = _fault(source, options)
    replay.add_faults(fault)
    waits = Sleeps()
    with make_source(source, cfg, sleep=waits) as src:
        first = poll_source(engine, src, now)
        first_waits = list(waits)  # the later poll may retry a loopback read that timed out (0.3 s) on a busy machine
        later = poll_source(engine, src, now + timedelta(minutes=5))

    # what the server serves over the span the polls asked for (a failed first poll moves the second one's start)
    expected = recorded(source, min(first.since, later.since), later.until)
    assert fault.fired >= 1, "the fault never met a request"
    completes = first_ok if isinstance(first_ok, bool) else source in first_ok
    assert first.ok is completes, first.error
    assert later.ok, later.error
    notices, rows, held = stored(engine)
    assert notices == expected  # every recorded notice, with the recorded content
    assert rows == len(expected) > 0  # none twice
    if name == "all-malformed":
        assert len(held) == first.quarantined > 0 and later.quarantined == 0
        assert all(h.reason.split(" (in ")[0] and PATHS[source] in h.reason for h in held)
    else:
        assert held == [] and first.quarantined == later.quarantined == 0
    # the fault's own wait among the first poll's (a loopback read that timed out on a busy machine may add a
    # retry_wait_seconds one before it)
    if name.endswith("retry-after"):
        assert RETRY_AFTER in first_waits and RATE_LIMIT_WAIT not in first_waits  # the server's word over the configured wait
    elif name == "429" or (name in ("503", "504") and source == FTS):
        assert RATE_LIMIT_WAIT in first_waits  # no Retry-After: the source's rate-limit wait (FTS: 30 s shipped)
    if name.startswith("number") and source == FTS:
        assert first.requests == first.pages and not first_waits  # repaired where it stood, nothing refetched
    elif name.startswith("number"):
        assert first.requests == first.pages + 1  # refused as a bad body and fetched again


@pytest.mark.parametrize("source", [FTS, PCS, S2W])
def test_a_failing_poll_records_its_error_and_keeps_the_watermark(source, engine, replay, source_config, stored):
    span = SPANS[source]
    replay.add_faults(Fault("status", path=PATHS[source], status=502, times=10))
    cfg = source_config(source, lookback_days=span["days"], max_retries=2, **span["options"])
    with make_source(source, cfg) as src:
        failed = poll_source(engine, src, span["now"])
    assert not failed.ok and "HTTP 502" in failed.error
    assert failed.windows_done == 0 and failed.watermark is None
    assert replay.hits(PATHS[source]) == 3  # max_retries=2: three attempts, then the poll stops
    assert stored(engine)[1] == 0
