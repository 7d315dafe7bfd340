"""Politeness: never more than one request in flight to a portal, counted by the server itself."""
from __future__ import annotations

import threading
from datetime import UTC, datetime

import httpx

from matcher.config import SourceConfig
from matcher.ingest.poll import poll_source
from matcher.replay import start_replay
from matcher.sources.registry import make_source
from matcher.store import init_db, make_engine

NOW = {"public_contracts_scotland": datetime(2019, 4, 30, 12, tzinfo=UTC),
       "sell2wales": datetime(2025, 2, 28, 12, tzinfo=UTC)}


def _together(*jobs) -> None:  # noqa: ANN002
    """Run the jobs in threads released at the same moment."""
    start = threading.Barrier(len(jobs))
    errors: list[BaseException] = []

    def run(job) -> None:  # noqa: ANN001
        start.wait()
        try:
            job()
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors


def test_two_polls_on_one_host_never_overlap_their_requests(tmp_path):
    """Two sources (two clients, two threads, two stores) polling one replay host at once: the server never
    answers two requests at the same time, although each answer takes a while (latency)."""
    with start_replay(latency=0.02) as server:
        reports = {}

        def poll(name: str):  # noqa: ANN202
            def job() -> None:
                engine = make_engine(f"sqlite:///{tmp_path / name}.db")
                init_db(engine)
                cfg = SourceConfig(base_url=server.base_url(name), delay_seconds=0, lookback_days=40,
                                   notice_types=[2, 3, 14])
                with make_source(name, cfg) as src:
                    reports[name] = poll_source(engine, src, NOW[name])
                engine.dispose()
            return job

        _together(poll("public_contracts_scotland"), poll("sell2wales"))
        assert all(r.ok and r.inserted > 0 for r in reports.values())
        assert server.hits() == sum(r.requests for r in reports.values()) == 12
        assert server.max_in_flight == 1


def test_the_server_counts_requests_that_do_overlap():
    """The control: two plain clients that take no lock are seen in flight together."""
    with start_replay(latency=0.2) as server:
        url = server.base_url("sell2wales") + "/v1/Notices?dateFrom=02-2025&noticeType=2&outputType=0"

        def fetch() -> None:
            with httpx.Client(timeout=5) as client:
                assert client.get(url).status_code == 200

        _together(fetch, fetch)
        assert server.max_in_flight == 2
