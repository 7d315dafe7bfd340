"""Public Contracts Scotland and Sell2Wales: the shared Proactis notices API, month by month and notice type
by notice type, against the recorded releases served in a package envelope; TLS with an incomplete chain."""
from __future__ import annotations

import json
import ssl
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs

import httpx
import pytest
import trustme

from matcher.config import SourceConfig
from matcher.ingest.poll import poll_source
from matcher.replay import start_replay
from matcher.replay.recordings import data_dir
from matcher.sources.http import TlsSetupError
from matcher.sources.registry import make_source
from matcher.sources.scotland import PublicContractsScotland
from matcher.sources.wales import Sell2Wales

PCS, S2W = "public_contracts_scotland", "sell2wales"
PCS_NOW = datetime(2019, 4, 30, 12, tzinfo=UTC)
S2W_NOW = datetime(2025, 2, 21, 18, tzinfo=UTC)


def _queries(replay, path: str) -> list[dict[str, str]]:
    return [{k: v[-1] for k, v in parse_qs(h.query).items()} for h in replay.log if h.path == path]


def test_each_month_is_asked_for_once_per_notice_type(engine, replay, source_config):
    cfg = source_config(PCS, lookback_days=40, notice_types=[2, 5, 3])
    with make_source(PCS, cfg) as src:
        report = poll_source(engine, src, PCS_NOW)
    assert report.ok and report.windows == 2 and report.pages == report.requests == 6
    asked = _queries(replay, "/pcs/v1/Notices")
    assert [(q["dateFrom"], q["noticeType"]) for q in asked] == [
        ("03-2019", "2"), ("03-2019", "5"), ("03-2019", "3"), ("04-2019", "2"), ("04-2019", "5"), ("04-2019", "3")]
    assert all(q["outputType"] == "0" and "locale" not in q for q in asked)
    assert report.inserted == 90  # every recorded contract notice; the other types answered with no releases


def test_sell2wales_asks_in_english_and_defaults_to_its_opportunity_and_lifecycle_types(engine, replay, source_config):
    with make_source(S2W, source_config(S2W, lookback_days=10)) as src:
        report = poll_source(engine, src, S2W_NOW)
    asked = _queries(replay, "/s2w/v1/Notices")
    assert report.ok and report.inserted == 89
    assert [int(q["noticeType"]) for q in asked] == list(Sell2Wales.default_notice_types)
    assert {51, 52, 2, 3} <= set(Sell2Wales.default_notice_types) and 102 in PublicContractsScotland.default_notice_types
    assert all(q["locale"] == "2057" and q["dateFrom"] == "02-2025" for q in asked)


def test_the_current_month_is_read_again_every_poll_and_only_what_is_new_is_stored(engine, replay, source_config):
    cfg = source_config(S2W, lookback_days=10, overlap_minutes=60, notice_types=[2])
    with make_source(S2W, cfg) as src:
        first = poll_source(engine, src, S2W_NOW)
        again = poll_source(engine, src, S2W_NOW + timedelta(hours=6))
        next_month = poll_source(engine, src, datetime(2025, 3, 1, 0, 30, tzinfo=UTC))
    assert first.inserted == 89
    assert again.ok and again.pages == 1 and again.unchanged == 89 and again.inserted == again.updated == 0
    assert next_month.ok and next_month.windows == 2 and next_month.unchanged == 89  # February once more, then March
    assert [q["dateFrom"] for q in _queries(replay, "/s2w/v1/Notices")] == ["02-2025", "02-2025", "02-2025", "03-2025"]


def test_scottish_releases_have_no_id_and_are_keyed_on_their_ocid(engine, replay, source_config, stored):
    with make_source(PCS, source_config(PCS, lookback_days=40, notice_types=[2])) as src:
        poll_source(engine, src, PCS_NOW)
    keys = set(stored(engine)[0])
    assert len(keys) == 90 and all(k.startswith("ocds-r6ebe6-") for k in keys)
    pcs = PublicContractsScotland(SourceConfig(base_url="https://x.invalid"))
    release = json.loads(data_dir().joinpath(PCS, "release_ocds-r6ebe6-0000581860.json").read_text(encoding="utf-8"))
    notice = pcs.parse(release)
    assert "id" not in release and notice.release_id is None and notice.key == "ocds-r6ebe6-0000581860"
    assert notice.url == "https://www.publiccontractsscotland.gov.uk/search/show/search_view.aspx?ID=APR352786"
    assert notice.regions == ["UKM82"] and notice.sme_suitable is None  # NUTS code; PCS publishes no SME flag
    assert [(l.source, l.key) for l in notice.links] == [(PCS, "ocds-r6ebe6-0000581860")]  # its self-link
    pcs.close()


def test_the_server_wraps_recorded_releases_verbatim_in_a_package_per_month_and_type(replay):
    with httpx.Client(timeout=5) as http:
        url = replay.base_url(PCS) + "/v1/Notices"
        april = http.get(url, params={"dateFrom": "04-2019", "noticeType": 2, "outputType": 0})
        awards = http.get(url, params={"dateFrom": "04-2019", "noticeType": 3, "outputType": 0}).json()
        other_format = http.get(url, params={"dateFrom": "04-2019", "noticeType": 2, "outputType": 1})
    package = april.json()
    recorded = data_dir().joinpath(PCS, "release_ocds-r6ebe6-0000581860.json").read_text(encoding="utf-8")
    assert recorded.strip() in april.text  # the recorded text itself, inside the envelope
    assert len(package["releases"]) == 81 and all(r["date"].startswith("2019-04") for r in package["releases"])
    assert package["uri"].endswith("/pcs/v1/Notices?dateFrom=04-2019&noticeType=2&outputType=0")
    assert "releases" not in awards and awards["publisher"]["name"] == "Public Contracts Scotland"
    assert other_format.status_code == 400 and "outputType" in other_format.json()["error"]


def test_a_package_without_a_releases_array_holds_nothing_but_an_error_object_is_refused():
    from matcher.sources.base import package_records
    from matcher.sources.http import BadBody

    assert package_records({"uri": "x", "publishedDate": "2025-02-01T00:00:00Z"}, "u") == []
    with pytest.raises(BadBody, match="not a release package"):
        package_records({"Message": "An error has occurred."}, "u")


@pytest.fixture
def incomplete_chain(tmp_path):
    """A root CA, an intermediate, and a server that sends only its leaf certificate (as PCS does)."""
    root = trustme.CA()
    intermediate = root.create_child_ca()
    leaf = intermediate.issue_cert("127.0.0.1")
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    leaf.cert_chain_pems[0].write_to_path(tmp_path / "leaf.pem")  # the leaf alone: no intermediate
    leaf.private_key_pem.write_to_path(tmp_path / "leaf.key")
    server_ctx.load_cert_chain(tmp_path / "leaf.pem", tmp_path / "leaf.key")
    root.cert_pem.write_to_path(tmp_path / "roots.pem")
    intermediate.cert_pem.write_to_path(tmp_path / "intermediate.pem")
    with start_replay(tls=server_ctx) as server:
        yield server, tmp_path


def test_an_incomplete_certificate_chain_fails_until_verify_tls_names_the_intermediate(
        incomplete_chain, engine, monkeypatch):
    server, certs = incomplete_chain
    monkeypatch.setenv("SSL_CERT_FILE", str(certs / "roots.pem"))  # stands in for the system's trusted roots
    base = dict(base_url=server.base_url(PCS), delay_seconds=0, max_retries=0, lookback_days=40, notice_types=[2])
    with make_source(PCS, SourceConfig(**base)) as src:
        refused = poll_source(engine, src, PCS_NOW)
    assert not refused.ok and "CERTIFICATE_VERIFY_FAILED" in refused.error and "verify_tls" in refused.error
    with make_source(PCS, SourceConfig(**base, verify_tls=str(certs / "intermediate.pem"))) as src:
        polled = poll_source(engine, src, PCS_NOW)
    assert polled.ok and polled.inserted == 90
    assert server.url.startswith("https://")


def test_a_verify_tls_file_that_cannot_be_read_is_named(tmp_path):
    with pytest.raises(TlsSetupError, match="verify_tls: cannot load CA certificates from .*missing.pem"):
        make_source(PCS, SourceConfig(base_url="https://x.invalid", verify_tls=str(tmp_path / "missing.pem")))
