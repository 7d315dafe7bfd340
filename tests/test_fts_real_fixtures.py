"""Every real Find a Tender release bundled (matcher/data/replay/find_a_tender/real, copied from the shared
raw set, contact data redacted) parses, with its CPV codes, SME/VCSE suitability, values, closing date and
notice type read as a person reading the release by hand reads them."""
from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from matcher.config import SourceConfig
from matcher.replay.recordings import data_dir
from matcher.sources.find_a_tender import FindATender

REAL = data_dir().joinpath("find_a_tender", "real")


def _releases() -> dict[tuple[str, str], dict]:
    out = {}
    for line in REAL.joinpath("releases.jsonl").read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        out[(r["ocid"], r["id"])] = r
    for package in sorted(REAL.joinpath("packages").iterdir(), key=lambda f: f.name):
        if package.name[:2].isdigit():
            for r in json.loads(package.read_text(encoding="utf-8"))["releases"]:
                out.setdefault((r["ocid"], r["id"]), r)
    return out


RELEASES = _releases()


@pytest.fixture(scope="module")
def fts():
    src = FindATender(SourceConfig(base_url="https://www.find-tender.service.gov.uk", window_hours=6))
    yield src
    src.close()


def _notice(fts, release_id: str):  # noqa: ANN001
    (release,) = [r for (_, i), r in RELEASES.items() if i == release_id]
    return fts.parse(release)


def test_every_real_release_parses_and_has_a_notice_type(fts):
    assert len(RELEASES) == 45  # 41 in releases.jsonl, 4 more in package 17
    for key, release in RELEASES.items():
        notice = fts.parse(release)
        assert notice.key == key[0] and notice.release_id == key[1]
        assert notice.notice_type not in (None, "unknown"), key
        assert notice.url == f"https://www.find-tender.service.gov.uk/Notice/{key[1]}"


def test_no_personal_contact_data_is_bundled():
    for line in REAL.joinpath("releases.jsonl").read_text(encoding="utf-8").splitlines():
        for party in json.loads(line).get("parties", []):
            contact = party.get("contactPoint") or {}
            assert all(contact.get(k) in (None, "REDACTED") for k in ("name", "email", "telephone", "faxNumber"))


@pytest.mark.parametrize("release_id, kind, raw", [
    ("037689-2026", "pipeline", "UK1"), ("066188-2026", "preliminary_market_engagement", "UK2"),
    ("032703-2026", "tender", "UK4"), ("083253-2026", "transparency", "UK5"), ("029664-2025", "award", "UK6"),
    ("083608-2026", "contract_details", "UK7"), ("083674-2026", "modification", "UK10"),
    ("083256-2026", "cancellation", "UK12"), ("083685-2026", "modification", "UK15"),
    ("002109-2021", "tender", "tender"), ("049693-2026", "tender", "tender"), ("029615-2025", "award", "award,contract"),
])
def test_notice_types_are_read_from_the_notice_document_else_the_tag(fts, release_id, kind, raw):
    notice = _notice(fts, release_id)
    assert (notice.notice_type, notice.notice_type_raw) == (kind, raw)


def test_procurement_act_cpv_codes_come_from_the_items_additional_classifications(fts):
    notice = _notice(fts, "032703-2026")  # no tender.classification
    assert notice.cpv == ["09323000", "79314000"]
    assert _notice(fts, "083563-2026").cpv == ["92521000", "92521100"]


def test_sme_and_vcse_suitability_is_read_per_lot(fts):
    show = _notice(fts, "083563-2026")  # five lots, each suitable for SMEs
    assert [lot.id for lot in show.lots] == ["1", "2", "3", "4", "5"]
    assert all(lot.sme_suitable is True and lot.vcse_suitable is None for lot in show.lots)
    assert show.sme_suitable is True and show.vcse_suitable is None
    both = _notice(fts, "083662-2026")
    assert (both.lots[0].sme_suitable, both.lots[0].vcse_suitable) == (True, True)
    assert _notice(fts, "049693-2026").sme_suitable is None  # old regime: no flag at all


def test_net_and_gross_values_and_lot_values(fts):
    show = _notice(fts, "083563-2026")
    assert (show.value_max, show.value_gross, show.currency) == (182500, 219000, "GBP")
    assert [lot.value for lot in show.lots] == [50000, 16000, 30000, 35000, 51500]
    small = _notice(fts, "032703-2026")
    assert (small.value_max, small.value_gross) == (33721, 40465.2)


def test_a_lot_valued_in_another_currency_keeps_its_own_currency(fts):
    notice = _notice(fts, "094476-2026")  # tender in GBP, its lot in AED (as published)
    assert (notice.value_max, notice.currency, notice.value_gross) == (2772000, "GBP", 3326400)
    assert (notice.lots[0].value, notice.lots[0].currency) == (2772000, "AED")


def test_placeholder_values_are_no_value(fts):
    assert _notice(fts, "083608-2026").value_max is None  # contracts[].value 0.01 / amountGross 0.01
    engagement = _notice(fts, "083645-2026")  # value {amountGross: 0}
    assert engagement.value_max is None and engagement.value_gross is None


def test_closing_dates_date_only_and_with_offsets(fts):
    assert _notice(fts, "050518-2026").closes_at == datetime(2026, 6, 8, 22, 59, 59, tzinfo=UTC)  # "2026-06-08"
    assert _notice(fts, "083563-2026").closes_at == datetime(2026, 10, 2, 22, 59, tzinfo=UTC)  # +01:00
    assert _notice(fts, "094476-2026").closes_at == datetime(2026, 11, 5, 12, 0, tzinfo=UTC)  # +00:00
    assert _notice(fts, "002109-2021").closes_at == datetime(2021, 3, 9, 12, 0, tzinfo=UTC)  # Z


def test_delivery_addresses_given_as_an_object_are_read(fts):
    release = RELEASES[("ocds-h6vhtk-028f93", "002109-2021")]
    assert isinstance(release["tender"]["items"][0]["deliveryAddresses"], dict)
    assert _notice(fts, "002109-2021").regions == ["UK"]


def test_engagement_deadline_and_framework_flag(fts):
    assert _notice(fts, "066188-2026").engagement_deadline == datetime(2026, 8, 7, 22, 59, 59, tzinfo=UTC)
    assert _notice(fts, "083655-2026").engagement_deadline == datetime(2026, 9, 21, 22, 59, 59, tzinfo=UTC)
    assert _notice(fts, "050318-2026").is_framework is True
    assert _notice(fts, "032703-2026").is_framework is None


def test_free_text_lot_ids_and_lot_cpv_codes(fts):
    lots = _notice(fts, "052408-2025").lots
    assert [lot.id for lot in lots][:2] == ["1 - Caustic Soda", "2: Phosphoric Acid"]
    assert lots[0].cpv == ["24311521"]
