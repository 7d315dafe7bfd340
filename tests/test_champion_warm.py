"""The champions' overview is computed ahead (matcher.web.warm), on real SQLite and PostgreSQL stores: a change to
the data shows on the next request after the warm-up; a page never mixes two states of the data; champions who
arrive before the warm-up has finished wait for that one computation; the weeks kept ready are bounded."""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from bs4 import BeautifulSoup
from helpers_champion import add_digest, add_feedback
from helpers_digest import NOW, WEEK, add_notice, add_profile, free_port, make_config, store_for, web_server
from helpers_web import path

from matcher.deliver.tokens import LinkSigner
from matcher.store import session_scope
from matcher.store.champions import add_champion
from matcher.web import champion, desk, warm
from matcher.web.app import create_app


def seed(engine, smes: int = 230) -> None:
    """`smes` SMEs (three pages of 100), each sent this week's digest with the one notice x."""
    add_notice(engine, "x", title="The x tender")
    for i in range(smes):
        add_profile(engine, f"s{i:03d}", name=f"SME {i:03d}")
        add_digest(engine, f"s{i:03d}", WEEK, "sent", [("x", 0.7)])


@pytest.fixture
def engine(db_url, tmp_path):
    """A store on SQLite, then on a fresh schema of the session's PostgreSQL server (conftest's db_url)."""
    made = store_for(make_config(tmp_path, database={"url": db_url}))
    yield made
    made.dispose()


def warmer_for(engine, every: float = 0.05) -> warm.Warmer:
    return warm.Warmer(engine, lambda: WEEK, "Europe/London", 0.5, per_page=100, every=every)


def row(page: warm.Page, pid: str):  # noqa: ANN201
    return next(r for r in page.rows if r.profile_id == pid)


def next_snapshot(warmer: warm.Warmer, after: warm.Snapshot, page: int = 1) -> tuple:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        got = warmer.page(WEEK, page, 1)
        if got[0].serial != after.serial:
            return got
        time.sleep(0.05)
    raise AssertionError("no new snapshot within 20 s")


def test_a_page_never_mixes_two_states_of_the_data(engine, monkeypatch):
    seed(engine)
    real, written = warm.paged.sme_rows, []

    def a_write_lands_meanwhile(session, entries):  # noqa: ANN001, ANN202 - a verdict arrives between index and pages
        if not written:
            add_feedback(engine, "s150", "x", "relevant")  # s150 is on page 2
            written.append(True)
        return real(session, entries)

    monkeypatch.setattr(warm.paged, "sme_rows", a_write_lands_meanwhile)
    warmer = warmer_for(engine)
    try:
        snap, shown, page, _, _ = warmer.page(WEEK, 2, 1)
        assert written and shown == 2
        # the snapshot is the data as they were when its index was read: its figures and its rows agree
        assert snap.index.figures.relevant == 0 and row(page, "s150").relevant == 0
        assert all(r.relevant == 0 for p in snap.smes.values() for r in p.rows)

        later, _, page, _, _ = next_snapshot(warmer, snap, page=2)  # the thread saw the change and read again
        assert later.version != snap.version
        assert later.index.figures.relevant == 1 and row(page, "s150").relevant == 1
    finally:
        warmer.stop()


def test_weeks_asked_for_are_kept_ready_up_to_a_bound(engine):
    seed(engine, smes=3)
    warmer = warmer_for(engine)
    try:
        weeks = [champion.shift_week(WEEK, -i) for i in range(1, 7)]
        for week in weeks:
            snap, *_ = warmer.page(week, 1, 1)
            assert snap.week == week
        deadline = time.monotonic() + 10
        while len(warmer.kept()) > warm.MAX_WEEKS and time.monotonic() < deadline:
            time.sleep(0.05)
        kept = warmer.kept()
        assert kept[0] == WEEK and len(kept) == warm.MAX_WEEKS
        assert set(kept[1:]) == set(weeks[-(warm.MAX_WEEKS - 1):])  # the ones asked for last
    finally:
        warmer.stop()


@pytest.fixture
def desk_site(tmp_path, monkeypatch):
    """A real uvicorn server with the desk over 230 SMEs; its Warmer recorded (desk.Warmer, unchanged otherwise)."""
    monkeypatch.setattr(warm, "CHECK_EVERY", 0.1)
    made: list[warm.Warmer] = []

    class Recorded(warm.Warmer):
        def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(desk, "Warmer", Recorded)
    port = free_port()
    cfg = make_config(tmp_path, digest={"public_base_url": f"http://127.0.0.1:{port}"}, web={"preview_weeks": 0})
    engine = store_for(cfg)
    seed(engine)
    with session_scope(engine) as s:
        person, _ = add_champion(s, "Chris Champion", "chris@council.example")
    home = path(LinkSigner.from_config(cfg).champion_url(person.id, 30, NOW, person.link_version))
    with web_server(create_app(cfg, engine, now=lambda: NOW), port) as base:
        yield engine, base, home, made


def figures(html: str) -> dict[str, str]:
    page = BeautifulSoup(html, "html.parser")
    return {r.th.get_text(strip=True): r.td.get_text(strip=True) for r in page.select("table#figures tr")}


def test_a_change_in_the_data_shows_on_the_next_request_after_the_warm_up(desk_site):
    engine, base, home, made = desk_site
    with httpx.Client(base_url=base, timeout=30) as client:
        assert figures(client.get(home).text)["Marked relevant"] == "0"
        [warmer] = made
        deadline = time.monotonic() + 20
        while warmer.computations == 0 and time.monotonic() < deadline:  # the first page is served before the
            time.sleep(0.02)  # rest of the week's pages are computed: let that first computation finish
        done = warmer.computations
        assert done == 1
        add_feedback(engine, "s000", "x", "relevant")  # a verdict, stored by another process
        deadline = time.monotonic() + 20
        while warmer.computations == done and time.monotonic() < deadline:
            time.sleep(0.02)
        assert warmer.computations == done + 1
        page = client.get(home)
        assert figures(page.text)["Marked relevant"] == "1"
        first = BeautifulSoup(page.text, "html.parser").select_one("table#smes tbody tr")
        assert first.th.get_text(strip=True) == "SME 000"
        assert [td.get_text(strip=True) for td in first.find_all("td")][:3] == ["sent", "1", "1"]


def test_champions_arriving_before_the_warm_up_wait_for_its_one_computation(desk_site, monkeypatch):
    engine, base, home, made = desk_site
    calls, real = [], warm.paged.week_index

    def counted(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        calls.append(threading.get_ident())
        time.sleep(0.3)  # a slow store: every champion arrives while it computes
        return real(*args, **kwargs)

    monkeypatch.setattr(warm.paged, "week_index", counted)
    with httpx.Client(base_url=base, timeout=30) as client, ThreadPoolExecutor(16) as pool:
        pages = list(pool.map(lambda n: client.get(home, params={"page": n % 3 + 1}), range(16)))
    assert [r.status_code for r in pages] == [200] * 16
    assert {figures(r.text)["Items sent"] for r in pages} == {"230"}
    assert len(calls) == 1 and made[0].computations == 1
    for r in pages:  # each champion's links carry the champion's own token, none the stand-in
        links = [a["href"] for a in BeautifulSoup(r.text, "html.parser").select("a.sme-link")]
        assert links and all(h.startswith(f"{home}/sme/") for h in links)
        assert desk.STAND_IN not in r.text


def test_stopping_the_server_does_not_wait_for_the_rest_of_a_computation(engine, monkeypatch):
    seed(engine)
    real = warm.paged.sme_rows

    def slow(session, entries):  # noqa: ANN001, ANN202 - a page that takes a second to read
        time.sleep(1.0)
        return real(session, entries)

    monkeypatch.setattr(warm.paged, "sme_rows", slow)
    warmer = warmer_for(engine)
    warmer.page(WEEK, 1, 1)  # page 1 is there; pages 2 and 3 would take two seconds more
    started = time.monotonic()
    warmer.stop()
    assert time.monotonic() - started < 1.8
    with pytest.raises(warm.OverviewUnavailable):
        warmer.page(WEEK, 1, 1)


def test_a_champions_own_mark_is_waited_for_and_other_champions_are_not_held_up(engine, monkeypatch):
    seed(engine, smes=3)
    warmer = warmer_for(engine)
    try:
        before, *_ = warmer.page(WEEK, 1, 1, by=1)
        real = warm.paged.week_index

        def slow(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202 - the recomputation takes a second
            time.sleep(1.0)
            return real(*args, **kwargs)

        monkeypatch.setattr(warm.paged, "week_index", slow)
        add_feedback(engine, "s001", "x", "relevant")  # champion 1 marks (the desk stores it, then says so)
        warmer.changed(by=1)
        started = time.monotonic()
        other, *_ = warmer.page(WEEK, 1, 1, by=2)
        assert time.monotonic() - started < 0.5 and other is before  # what is ready, at once
        mine, _, page, _, _ = warmer.page(WEEK, 1, 1, by=1)
        assert mine is not before and row(page, "s001").relevant == 1
    finally:
        warmer.stop()
