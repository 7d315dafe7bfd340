"""The champions' overview, paged and counted in the database (matcher.web.overview), shows exactly what the full
week report (matcher.web.champion.week_report, every SME's items as ORM objects) shows: figures, rows in order,
who got nothing and why; on SQLite and on PostgreSQL. And the page links lead through 100 SMEs at a time."""
from __future__ import annotations

import random
from datetime import timedelta
from types import SimpleNamespace

import httpx
import pytest
from bs4 import BeautifulSoup
from helpers_champion import PREVIOUS, TWO_BACK, add_digest, add_feedback, seed_champion_store
from helpers_digest import NOW, WEEK, add_notice, add_profile, free_port, make_config, store_for, web_server
from helpers_web import path

from matcher.deliver.tokens import LinkSigner
from matcher.store import session_scope
from matcher.store.champions import add_champion, mark
from matcher.store.models import Profile, WeekOutcome
from matcher.web import champion, overview
from matcher.web.app import create_app
from matcher.web.desk_report import explain_quiet

STATES = ("sent", "sent", "sent", "empty", "failed", "dead", "created", None)  # None: no digest this week


def seed_many(engine, n: int = 240, seed: int = 7) -> None:
    """The champions' store plus n SMEs in every state: names differing only in case or accents, unsubscribed
    SMEs with digests, paused ones, a digest whose profile is gone, items whose notice is gone, tied scores,
    verdicts of both kinds, items in earlier weeks, champions' marks."""
    rng = random.Random(seed)
    seed_champion_store(engine)
    for i in range(40):
        add_notice(engine, f"k{i:02d}", title=f"Tender k{i:02d}")
    names = ["alpha", "Alpha", "ÉCOLE Services", "école services", "Zed", "zed", "Bolt Digital", "Ωmega"]
    for i in range(n):
        pid = f"p{i:03d}"
        kw = {}
        if i % 17 == 0:
            kw["unsubscribed_at"] = NOW
        if i % 23 == 0:
            kw["enabled"] = False
        if i % 19 == 0:
            kw.update(paused_at=NOW - timedelta(days=3), paused_reason="550 no such user")
        add_profile(engine, pid, name=f"{rng.choice(names)} {i % 5}" if i % 3 else rng.choice(names), **kw)
        state = STATES[i % len(STATES)]
        if state is not None:
            count = 0 if state == "empty" else rng.randrange(0, 4)
            keys = rng.sample([f"k{j:02d}" for j in range(40)] + ["gone-notice"], count)
            items = [(k, rng.choice([0.8, 0.7, 0.7, 0.55])) for k in keys]  # ties on score: rank decides
            add_digest(engine, pid, WEEK, state, items)
            for k, _ in items:
                if rng.random() < 0.5:
                    add_feedback(engine, pid, k, rng.choice(["relevant", "not-relevant"]))
        if i % 4 == 0:
            add_digest(engine, pid, rng.choice([PREVIOUS, TWO_BACK]), "sent", [(f"k{i % 40:02d}", 0.6)])
        if i % 6 == 0:
            with session_scope(engine) as s:
                s.add(WeekOutcome(profile_id=pid, week=WEEK, matched=0, best_score=0.31, best_notice_key="k01"))
    add_digest(engine, "orphan", WEEK, "sent", [("k03", 0.9)])  # its profile was deleted
    with session_scope(engine) as s:
        person, _ = add_champion(s, "Chris Champion", "chris@council.example")
        mark(s, person, "acme", "n2", "relevant", now=NOW)


def paged_view(engine, week: str = WEEK, per_page: int = 100):
    """(figures, every SME row, every got-nothing row) read page by page as the desk reads them."""
    with session_scope(engine) as s:
        index = overview.week_index(s, week)
        rows, quiet = [], []
        for page in range(1, overview.pages_in(index.smes, per_page) + 1):
            rows += overview.sme_rows(s, overview.page_of(index.smes, page, per_page))
        for page in range(1, overview.pages_in(index.quiet, per_page) + 1):
            shown = overview.quiet_rows(s, index, overview.page_of(index.quiet, page, per_page))
            explain_quiet(s, SimpleNamespace(week=week, got_nothing=shown), 0.5)
            quiet += shown
    return index.figures, rows, quiet


def full_view(engine, week: str = WEEK):
    with session_scope(engine) as s:
        report = champion.week_report(s, week)
        explain_quiet(s, report, 0.5)
    rows = [overview.SmeRow(w.profile_id, w.name, w.active, w.state, w.item_count, w.relevant, w.not_relevant,
                            w.items[0].title if w.items else None, w.items[0].score if w.items else None)
            for w in report.smes]
    return report.figures, rows, report.got_nothing


def assert_same(engine, week: str = WEEK) -> None:
    figures, rows, quiet = paged_view(engine, week, per_page=37)
    want_figures, want_rows, want_quiet = full_view(engine, week)
    assert figures == want_figures
    assert rows == want_rows
    assert [(q.profile_id, q.name, q.state, q.last_items_week, q.reason, q.cause) for q in quiet] == \
        [(q.profile_id, q.name, q.state, q.last_items_week, q.reason, q.cause) for q in want_quiet]


def test_paged_overview_shows_what_the_full_week_report_shows_on_sqlite(tmp_path):
    engine = store_for(make_config(tmp_path))
    seed_many(engine)
    assert_same(engine)
    assert_same(engine, PREVIOUS)
    assert_same(engine, "2025-W20")  # a week with no digests: every active SME got nothing


@pytest.mark.postgres
def test_paged_overview_shows_what_the_full_week_report_shows_on_postgresql(pg_engine):
    seed_many(pg_engine)
    assert_same(pg_engine)
    assert_same(pg_engine, PREVIOUS)


def _rows(page: BeautifulSoup, table_id: str) -> list[str]:
    return [r.th.get_text(" ", strip=True) for r in page.select(f"table#{table_id} tbody tr")]


def test_the_overview_pages_through_smes_and_those_that_got_nothing_100_at_a_time(tmp_path):
    port = free_port()
    cfg = make_config(tmp_path, digest={"public_base_url": f"http://127.0.0.1:{port}"}, web={"preview_weeks": 0})
    engine = store_for(cfg)
    for i in range(230):
        add_profile(engine, f"s{i:03d}", name=f"SME {i:03d}")
        if i % 2:
            add_digest(engine, f"s{i:03d}", WEEK, "sent", [] if i % 4 == 1 else [("x", 0.7)])
    add_notice(engine, "x", title="The x tender")
    with session_scope(engine) as s:
        person, _ = add_champion(s, "Chris Champion", "chris@council.example")
    home = path(LinkSigner.from_config(cfg).champion_url(person.id, 30, NOW, person.link_version))
    with web_server(create_app(cfg, engine, now=lambda: NOW + timedelta(hours=5)), port) as base, \
            httpx.Client(base_url=base, timeout=20) as client:
        def get(**params) -> BeautifulSoup:  # noqa: ANN003
            r = client.get(home, params={"week": WEEK, **params})
            assert r.status_code == 200
            return BeautifulSoup(r.text, "html.parser")

        first = get()
        assert _rows(first, "smes") == [f"SME {i:03d}" for i in range(100)]
        assert "SMEs 1\u2013100 of 230." in first.select_one("nav.pager").get_text(" ", strip=True)
        figures = {r.th.get_text(strip=True): r.td.get_text(strip=True) for r in first.select("table#figures tr")}
        assert figures["Active SMEs"] == "230" and figures["Items sent"] == "57"  # every page counts them all
        assert figures["Active SMEs that got nothing"] == "173"  # 115 without a digest, 58 sent nothing
        last = get(page=3)
        assert _rows(last, "smes") == [f"SME {i:03d}" for i in range(200, 230)]
        assert last.select_one("a[rel=prev]")["href"].endswith("page=2")
        assert get(page=99).select_one("nav.pager").get_text(" ", strip=True).startswith("SMEs 201\u2013230 of 230.")
        quiet = [f"SME {i:03d}" for i in range(230) if i % 4 != 3]
        assert _rows(first, "got-nothing") == quiet[:100]
        assert _rows(get(quiet=2), "got-nothing") == quiet[100:]
        link = first.select_one("#got-nothing-pages a[rel=next]")["href"]
        assert _rows(BeautifulSoup(client.get(link).text, "html.parser"), "got-nothing") == quiet[100:]
