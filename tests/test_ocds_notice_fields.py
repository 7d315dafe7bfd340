"""What every OCDS portal's release gives the shared notice fields: notice type, lots, engagement deadline,
reservation, framework flag and gross value (matcher.sources.ocds; the field names are in notes' CONTRACT).

The releases here are trimmed to the fields under test, in the shapes the real Find a Tender releases have
(tests/test_fts_real_fixtures.py checks the real ones in full)."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlmodel import Session, select

from matcher.ingest.notices import upsert_notice
from matcher.schema import NOTICE_TYPES, NoticeRecord
from matcher.sources.ocds import release_to_notice
from matcher.store.models import Notice


def _release(**tender) -> dict:
    return {"ocid": "ocds-h6vhtk-000001", "id": "000001-2026", "date": "2026-09-03T10:00:00+01:00",
            "tag": ["tender"], "tender": {"title": "Science show kits", **tender}}


def test_procurement_act_notice_type_comes_from_the_release_s_own_notice_document():
    release = _release(documents=[
        {"id": "000001-2026", "noticeType": "UK4", "documentType": "tenderNotice"}])
    release["planning"] = {"documents": [{"id": "000000-2026", "noticeType": "UK2"}]}  # an earlier notice
    rec = release_to_notice(release, "find_a_tender")
    assert (rec.notice_type, rec.notice_type_raw) == ("tender", "UK4")


@pytest.mark.parametrize("tags, code, expected", [
    (["planning"], "UK1", "pipeline"), (["planning"], "UK2", "preliminary_market_engagement"),
    (["planning"], "UK3", "planned_procurement"), (["award", "contract"], "UK5", "transparency"),
    (["award", "contract"], "UK6", "award"), (["award", "contract"], "UK7", "contract_details"),
    (["contractAmendment"], "UK10", "modification"), (["contractTermination"], "UK11", "termination"),
    (["tenderCancellation"], "UK12", "cancellation"), (["award", "contract"], "UK15", "modification"),
    (["tender"], "UK99", "unknown"),
])
def test_every_procurement_act_code_has_a_type_and_an_unknown_one_is_kept_labelled(tags, code, expected):
    release = _release(documents=[{"id": "000001-2026", "noticeType": code}])
    release["tag"] = tags
    rec = release_to_notice(release, "find_a_tender")
    assert rec.notice_type == expected and rec.notice_type_raw == code
    assert rec.notice_type in NOTICE_TYPES


@pytest.mark.parametrize("tags, expected", [
    (["tender"], "tender"), (["tenderUpdate"], "tender"), (["planning"], "planned_procurement"),
    (["award", "contract"], "award"), (["tenderCancellation"], "cancellation"), (["somethingNew"], "unknown"),
])
def test_old_regime_and_other_portals_releases_are_typed_by_tag(tags, expected):
    release = _release(classification={"scheme": "CPV", "id": "85100000"})
    release["tag"] = tags
    rec = release_to_notice(release, "sell2wales")
    assert rec.notice_type == expected and rec.notice_type_raw == ",".join(tags)


def test_lots_carry_their_own_value_currency_suitability_and_cpv():
    release = _release(
        value={"amount": 2772000, "amountGross": 3326400, "currency": "GBP"},
        lots=[{"id": "1", "title": "North", "description": None, "suitability": {"sme": True, "vcse": False},
               "value": {"amount": 2772000, "amountGross": 3326400, "currency": "AED"}},
              {"id": "2", "value": {"amount": 0.01, "currency": "GBP"}}],
        items=[{"id": "1", "relatedLot": "1", "additionalClassifications": [{"scheme": "CPV", "id": "85311000"}]},
               {"id": "2", "relatedLot": "2", "additionalClassifications": [{"scheme": "CPV", "id": "85312000"}]}])
    rec = release_to_notice(release, "find_a_tender")
    north, south = rec.lots
    assert (north.id, north.title, north.description, north.value, north.currency) == ("1", "North", "", 2772000, "AED")
    assert (north.sme_suitable, north.vcse_suitable, north.cpv) == (True, False, ["85311000"])
    assert south.value is None and south.sme_suitable is None and south.cpv == ["85312000"]  # 0.01 is a placeholder
    assert rec.value_max == 2772000 and rec.currency == "GBP" and rec.value_gross == 3326400
    assert rec.cpv == ["85311000", "85312000"]  # from items[].additionalClassifications: no tender.classification


def test_lot_values_in_another_currency_are_not_added_to_the_tender_s():
    release = _release(lots=[{"id": "1", "value": {"amount": 100, "amountGross": 120, "currency": "GBP"}},
                             {"id": "2", "value": {"amount": 500, "amountGross": 600, "currency": "EUR"}},
                             {"id": "3", "value": {"amount": 50, "amountGross": 60, "currency": "GBP"}}])
    rec = release_to_notice(release, "find_a_tender")
    assert (rec.value_max, rec.currency, rec.value_gross) == (150, "GBP", 180)


def test_placeholder_gross_value_is_no_value():
    rec = release_to_notice(_release(value={"amountGross": 0, "currency": "GBP"}), "find_a_tender")
    assert rec.value_max is None and rec.value_gross is None and rec.currency == "GBP"


def test_engagement_deadline_reservation_and_framework_are_read():
    release = _release(techniques={"hasFrameworkAgreement": True},
                       otherRequirements={"reservedParticipation": ["vcse", "sme"]})
    release["planning"] = {"milestones": [{"id": "engagement", "type": "engagement", "dueDate": "2026-08-07T23:59:59+01:00"}]}
    rec = release_to_notice(release, "find_a_tender")
    assert rec.engagement_deadline == datetime(2026, 8, 7, 22, 59, 59, tzinfo=UTC)
    assert rec.reserved == "sme_vcse" and rec.is_framework is True
    plain = release_to_notice(_release(), "find_a_tender")
    assert plain.engagement_deadline is None and plain.reserved is None and plain.is_framework is None


def test_a_date_only_closing_date_closes_at_the_end_of_that_uk_day():
    rec = release_to_notice(_release(tenderPeriod={"endDate": "2026-06-08"}), "find_a_tender")
    assert rec.closes_at == datetime(2026, 6, 8, 22, 59, 59, tzinfo=UTC)  # 23:59:59 BST


def test_delivery_addresses_given_as_an_object_are_read():
    release = _release(items=[{"id": "1", "deliveryAddresses": {"1": {"region": "UKM82", "postalCode": "g2 1dy"}}}])
    rec = release_to_notice(release, "find_a_tender")
    assert rec.regions == ["UKM82"] and rec.postcode == "G2 1DY"


def test_an_unknown_notice_type_slug_is_refused():
    with pytest.raises(ValueError, match="notice_type 'opportunity'"):
        NoticeRecord(source="x", key="k", title="t", notice_type="opportunity")


def test_the_new_fields_are_stored_and_read_back(engine):
    release = _release(lots=[{"id": "1", "suitability": {"sme": True}, "value": {"amount": 15000, "amountGross": 18000,
                                                                                  "currency": "GBP"}}],
                       documents=[{"id": "000001-2026", "noticeType": "UK4"}], techniques={"hasFrameworkAgreement": False})
    release["planning"] = {"milestones": [{"type": "engagement", "dueDate": "2026-08-07"}]}
    rec = release_to_notice(release, "find_a_tender")
    with Session(engine) as s:
        assert upsert_notice(s, rec) == "inserted"
        s.commit()
        row = s.exec(select(Notice)).one()
    assert (row.notice_type, row.notice_type_raw, row.is_framework, row.value_gross) == ("tender", "UK4", False, 18000)
    assert row.lots == [{"id": "1", "title": None, "description": "", "value": 15000.0, "currency": "GBP",
                         "sme_suitable": True, "vcse_suitable": None, "cpv": []}]
    assert row.engagement_deadline.replace(tzinfo=UTC) == datetime(2026, 8, 7, 22, 59, 59, tzinfo=UTC)


@pytest.mark.parametrize("title, tender_id, expected", [
    ("11330", "Provision of a leisure booking system", "Provision of a leisure booking system (ref. 11330)"),
    ("20535", "Contract for Program technical support services",
     "Contract for Program technical support services (ref. 20535)"),
    ("4471", "ocds-r6ebe6-0000578943", "4471"),  # an identifier in both: nothing better to show
    ("4471/2026", "CF-4471", "4471/2026"),
    ("Grounds maintenance", "Lot 1 grass cutting", "Grounds maintenance"),  # a real title is kept
])
def test_a_reference_number_title_gives_way_to_the_name_the_buyer_put_in_tender_id(title, tender_id, expected):
    release = _release(id=tender_id)
    release["tender"]["title"] = title
    assert release_to_notice(release, "public_contracts_scotland").title == expected
