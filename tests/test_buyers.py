"""Buyer evidence: every figure recomputed by hand from the real award notices it came from."""
from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import pytest

from matcher.digest.buyers import NO_HISTORY, BuyerIndex, award_facts, buyer_index, normalise_name, short_money
from matcher.sources.ocds import release_to_notice
from matcher.ingest.notices import upsert_notice
from matcher.store import init_db, make_engine, session_scope

RECORDINGS = Path(__file__).resolve().parent.parent / "matcher" / "data" / "replay" / "contracts_finder"


def recorded_releases() -> list[dict]:
    out = []
    for path in sorted(RECORDINGS.glob("search_*.json")):
        out += json.loads(path.read_text())["releases"]
    return out


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('buyers') / 'store.db'}")
    init_db(engine)
    with session_scope(engine) as s:
        for release in recorded_releases():
            upsert_notice(s, release_to_notice(release, "contracts_finder"))
    return engine


def by_hand(releases: list[dict]) -> dict[str, dict]:
    """Straight from the JSON: per buyer name, each award's supplier sizes, value and year, last 30 by date."""
    stored: dict[str, dict] = {}
    for r in releases:  # the store keeps one release per process: the latest
        if r["ocid"] not in stored or r["date"] >= stored[r["ocid"]]["date"]:
            stored[r["ocid"]] = r
    awards = defaultdict(list)
    for r in stored.values():
        if not set(r.get("tag", [])) & {"award", "awardUpdate"}:
            continue
        parties = {p["id"]: p for p in r.get("parties", [])}
        for a in r.get("awards", []):
            scales = [parties.get(s["id"], {}).get("details", {}).get("scale") for s in a.get("suppliers", [])]
            if not scales:
                continue
            amount = (a.get("value") or {}).get("amount")
            awards[normalise_name(r["buyer"]["name"])].append(
                (a.get("date") or r["date"], scales, amount if amount and amount > 1 else None))
    out = {}
    for name, items in awards.items():
        items = sorted(items, reverse=True)[:30]
        known = [i for i in items if any(s in ("sme", "large") for s in i[1])]
        sme = [i for i in known if "sme" in i[1]]
        out[name] = {
            "contracts": len(known), "sme": len(sme), "unknown": len(items) - len(known),
            "value": sum(i[2] for i in known if i[2]) or None, "sme_value": sum(i[2] for i in sme if i[2]) or None,
            "years": sorted({int(i[0][:4]) for i in known}),
        }
    return out


def test_every_buyer_figure_matches_the_award_notices_it_came_from(store):
    expected = by_hand(recorded_releases())
    with session_scope(store) as s:
        index = buyer_index(s)
    assert len(index.buyers) >= 20
    checked = 0
    for b in index.buyers.values():
        names = {normalise_name(a.buyer_name) for a in b.awards} or {normalise_name(b.name)}
        hand = [expected[n] for n in names if n in expected]
        assert hand, b.name
        assert b.contracts == sum(h["contracts"] for h in hand), b.name
        assert b.sme_contracts == sum(h["sme"] for h in hand), b.name
        assert b.size_unknown == sum(h["unknown"] for h in hand), b.name
        total = sum(h["value"] or 0 for h in hand)
        assert (b.value or 0) == pytest.approx(total), b.name
        assert (b.sme_value or 0) == pytest.approx(sum(h["sme_value"] or 0 for h in hand)), b.name
        years = sorted({y for h in hand for y in h["years"]})
        if years:
            assert (b.first_year, b.last_year) == (years[0], years[-1]), b.name
        checked += 1
    assert checked == len(index.buyers)


def test_the_evidence_line_states_counts_values_and_period():
    releases = [r for r in recorded_releases() if r["buyer"]["name"] == "UK RESEARCH & INNOVATION" and r.get("awards")]
    facts = [f for r in releases for f in award_facts(r["ocid"], r)]
    index = BuyerIndex.of(facts)
    b = index.find(None, "UK Research and Innovation")
    assert b is not None and b.contracts + b.size_unknown == len(facts)
    line = b.line()
    assert line.startswith(f"Awarded {b.sme_contracts} of its last {b.contracts} contracts")
    assert "to SMEs" in line and str(b.last_year) in line
    assert index.line_for(None, "Nobody Council") == NO_HISTORY


def test_buyers_match_by_identifier_first_then_by_normalised_name():
    def release(ocid, bid, name, scale):
        return {"ocid": ocid, "date": "2024-05-01T00:00:00Z", "buyer": {"id": bid, "name": name},
                "parties": [{"id": "s1", "name": "Supplier", "details": {"scale": scale}}],
                "awards": [{"id": "a", "date": "2024-05-01T00:00:00Z", "value": {"amount": 1000, "currency": "GBP"},
                            "suppliers": [{"id": "s1", "name": "Supplier"}]}]}

    facts = [*award_facts("o1", release("o1", "GB-CFS-1", "Ministry of Justice", "sme")),
             *award_facts("o2", release("o2", "GB-CFS-2", "Ministry of Justice", "large")),
             *award_facts("o3", release("o3", None, "The Ministry of Justice", "sme")),
             *award_facts("o4", release("o4", "GB-CFS-9", "Renamed Body", "large"))]
    index = BuyerIndex.of(facts)
    moj = index.find("GB-CFS-2", "anything")
    assert moj is index.find(None, "ministry of justice.") and (moj.contracts, moj.sme_contracts) == (3, 2)
    assert index.find("gb-cfs-9", "Ministry of Justice").name == "Renamed Body"  # the identifier wins
    assert moj.line() == "Awarded 2 of its last 3 contracts (£2,000 of £3,000) to SMEs, 2024"


def test_awards_without_a_supplier_size_are_counted_apart_never_guessed():
    r = {"ocid": "o", "date": "2023-02-01T00:00:00Z", "buyer": {"name": "Leeds City Council"},
         "parties": [{"id": "s1", "name": "A"}, {"id": "s2", "name": "B", "details": {"scale": "large"}}],
         "awards": [{"id": "1", "suppliers": [{"id": "s1"}], "value": {"amount": 0.01}},
                    {"id": "2", "suppliers": [{"id": "s2"}], "value": {"amount": 2_500_000}},
                    {"id": "3", "status": "cancelled", "suppliers": [{"id": "s2"}]}]}
    b = BuyerIndex.of(award_facts("o", r)).find(None, "leeds city council")
    assert (b.contracts, b.sme_contracts, b.size_unknown, b.value) == (1, 0, 1, 2_500_000)
    assert b.line() == "Awarded 0 of its last 1 contract (£0 of £2.5m) to SMEs, 2023; supplier size not given for 1 more"
    assert b.first_year == 2023 and b.awards[0].date == datetime(2023, 2, 1, tzinfo=UTC)
    assert short_money(1_234_567) == "£1.2m" and short_money(45_000) == "£45k" and short_money(9_500) == "£9,500"


def test_backfill_command_reads_past_awards_from_the_portal_and_buyers_lists_them_by_sme_share(tmp_path):
    from typer.testing import CliRunner

    from matcher.cli import app
    from matcher.replay import start_replay

    with start_replay() as replay:
        (tmp_path / "config.toml").write_text(f"""
[database]
url = "sqlite:///store.db"
[sources.contracts_finder]
base_url = "{replay.base_url('contracts_finder')}"
delay_seconds = 0
window_hours = 360
[secrets]
secret_env = "MATCHER_TEST_SECRET_NOT_SET"
secret_file = "secret-key"
""")
        config = str(tmp_path / "config.toml")
        run = CliRunner().invoke(app, ["buyers", "backfill", "--since", "2025-01-15", "--until", "2025-01-24",
                                       "--source", "contracts_finder", "--config", config])
        assert run.exit_code == 0, run.output
        again = CliRunner().invoke(app, ["buyers", "backfill", "--since", "2025-01-15", "--until", "2025-01-24",
                                         "--config", config])
        assert again.exit_code == 0, again.output
    listed = CliRunner().invoke(app, ["buyers", "--json", "--min-contracts", "0", "--config", config])
    assert listed.exit_code == 0, listed.output
    buyers = json.loads(listed.stdout)["buyers"]
    shares = [b["sme_share"] for b in buyers if b["sme_share"] is not None]
    assert len(buyers) >= 20 and shares == sorted(shares, reverse=True)
    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    with session_scope(engine) as s:
        index = buyer_index(s)
    assert {b["key"]: (b["sme_contracts"], b["contracts"]) for b in buyers} == \
        {b.key: (b.sme_contracts, b.contracts) for b in index.buyers.values()}
    table = CliRunner().invoke(app, ["buyers", "--config", config])
    assert table.exit_code == 0 and "SME share" in table.stdout
    with session_scope(engine) as s:  # the back-fill moved no watermark: polling carries on where it was
        from matcher.store.models import Watermark

        assert s.get(Watermark, "contracts_finder") is None or s.get(Watermark, "contracts_finder").position is None


def test_champions_buyers_page_shows_the_same_figures(tmp_path):
    import httpx
    from bs4 import BeautifulSoup
    from helpers_digest import free_port, make_config, store_for, web_server

    from matcher.deliver.tokens import LinkSigner
    from matcher.web.app import create_app

    port = free_port()
    cfg = make_config(tmp_path, digest={"public_base_url": f"http://127.0.0.1:{port}"})
    engine = store_for(cfg)
    from matcher.store.champions import add_champion

    with session_scope(engine) as s:
        for release in recorded_releases():
            upsert_notice(s, release_to_notice(release, "contracts_finder"))
        index = buyer_index(s)
        champion_id = add_champion(s, "Chris Champion", "chris@council.example")[0].id
    signer = LinkSigner.from_config(cfg)
    path = signer.champion_url(champion_id).split(f":{port}", 1)[1]
    with web_server(create_app(cfg, engine), port) as base, httpx.Client(base_url=base, timeout=10) as client:
        overview = BeautifulSoup(client.get(path).text, "html.parser")
        page = client.get(overview.select_one("a#buyers-link")["href"])
        assert page.status_code == 200
        assert client.get(path.replace("/champion/", "/champion/x") + "/buyers").status_code == 403
    rows = BeautifulSoup(page.text, "html.parser").select("table#buyers tbody tr")
    assert len(rows) == len(index.buyers)
    for row, b in zip(rows, index.ranked()):
        cells = [td.get_text(" ", strip=True) for td in row.find_all("td")]
        assert row.th.get_text(strip=True) == b.name
        assert cells[1] == f"{b.sme_contracts} / {b.contracts}" and cells[-1] == b.line()
