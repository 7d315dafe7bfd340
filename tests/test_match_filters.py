"""Hard filters: what may go to an SME at all (closing date, region, value, excluded words, stage)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from matcher.config import MatchingConfig
from matcher.match.filters import EVAL, LIVE, ProfileError, ProfileFilter, exclusion_reason
from matcher.match.regions import regions_of
from matcher.match.terms import TermText
from matcher.match.texts import full_text
from matcher.schema import NoticeRecord, ProfileSpec

NOW = datetime(2025, 1, 20, 9, 0, tzinfo=UTC)
CFG = MatchingConfig(min_days_to_close=3)


def profile(**kw) -> ProfileSpec:
    base = dict(id="p1", name="Greenacre", email="p1@example.org", capabilities="Grass cutting and tree surgery.")
    return ProfileSpec(**{**base, **kw})


def notice(**kw) -> NoticeRecord:
    base = dict(source="contracts_finder", key="ocds-b5fd17-1", title="Grounds maintenance of parks",
                description="Grass cutting across the borough.", stage="tender", status="active",
                closes_at=NOW + timedelta(days=30))
    return NoticeRecord(**{**base, **kw})


def reason(p: ProfileSpec, n: NoticeRecord, switches=LIVE) -> str | None:
    return exclusion_reason(ProfileFilter.of(p), n, TermText.of(full_text(n)), NOW, CFG, switches)


def test_an_open_notice_in_range_passes():
    assert reason(profile(), notice()) is None


@pytest.mark.parametrize("days,why", [(-1, "closed"), (2, "closes too soon"), (3, None), (10, None)])
def test_notices_closing_within_min_days_are_left_out(days, why):
    assert reason(profile(), notice(closes_at=NOW + timedelta(days=days))) == why


def test_a_notice_without_a_closing_date_passes():
    assert reason(profile(), notice(closes_at=None)) is None


@pytest.mark.parametrize("status", ["cancelled", "withdrawn", "unsuccessful", "Cancelled"])
def test_cancelled_or_withdrawn_notices_are_not_opportunities(status):
    assert reason(profile(), notice(status=status)) == f"status {status}"


@pytest.mark.parametrize("stage", ["award", "awardUpdate", "contract", "tenderCancellation"])
def test_award_stage_notices_are_not_opportunities(stage):
    assert reason(profile(), notice(stage=stage, status="complete")) == f"stage {stage}"


def test_planning_notices_pass_as_early_opportunities():
    assert reason(profile(), notice(stage="planning", status="planned")) is None


@pytest.mark.parametrize("place,ok", [
    ("South West", True), ("South West England", True), ("UKK", True), ("UKK13", True), ("TLK3", True),
    ("England", False), ("UK", False), ("Offsite", True), ("No specific location, eg they can work remotely", True),
    ("North East England", False), ("UKM82", False), ("UKL18", False), ("London", False),
    ("International (outside the UK)", False), ("Somewhere unheard of", True),
])
def test_region_filter_reads_names_nuts_codes_and_dm_locations(place, ok):
    got = reason(profile(regions=["South West"]), notice(regions=[place]))
    assert (got is None) is ok, (place, got)


def test_england_wide_notices_reach_only_smes_serving_all_of_england():
    england = notice(regions=["England"], title="School transport, Lincolnshire and beyond")
    assert reason(profile(regions=["South West"]), england) == "outside the SME's regions"
    assert reason(profile(regions=["England"]), england) is None
    assert reason(profile(regions=["UK-wide"]), england) is None
    assert reason(profile(regions=list(("North East", "North West", "Yorkshire and the Humber", "East Midlands",
                                        "West Midlands", "East of England", "London", "South East", "South West"))),
                  england) is None


def test_a_postcode_gives_the_region_only_when_its_area_lies_in_one_region():
    from matcher.match.regions import place_names, postcode_region

    assert postcode_region("BS1 4DJ") == "South West" and postcode_region("ls11 5DR") == "Yorkshire and the Humber"
    assert postcode_region("CH5 1AA") is None  # Chester's area reaches into Wales
    assert postcode_region("SY23 1AA") is None and postcode_region("") is None and postcode_region("12345") is None
    assert reason(profile(regions=["South West"]), notice(regions=[], postcode="LS1 1UR")) == "outside the SME's regions"
    assert reason(profile(regions=["South West"]), notice(regions=[], postcode="EX1 1AA")) is None
    assert place_names([], "EX1 1AA") == ["South West"]
    assert place_names(["UKK13", "TLK3"]) == ["South West"]
    assert place_names(["England"]) == ["England"] and place_names(["UK"]) == ["UK-wide"]
    assert place_names(["Offsite"]) == ["No fixed place"] and place_names(["Somewhere unheard of"]) == []


def test_value_filter_uses_lot_values_where_lots_have_them():
    from matcher.schema import Lot

    firm = profile(value_max=2_000_000)
    framework = dict(value_max=300_000_000.0, is_framework=True)
    assert reason(firm, notice(**framework)) == "value above the SME's maximum"
    lots = [Lot(id="1", title="Minor works", value=1_500_000.0), Lot(id="2", title="Major works", value=298_500_000.0)]
    assert reason(firm, notice(**framework, lots=lots)) is None
    big = [Lot(id="2", title="Major works", value=298_500_000.0)]
    assert reason(firm, notice(**framework, lots=big)) == "every lot's value is above the SME's maximum"
    assert reason(firm, notice(**framework, lots=[Lot(id="1", title="No value given")])) == "value above the SME's maximum"


def test_a_notice_passes_when_any_of_its_places_is_served():
    assert reason(profile(regions=["Scotland"]), notice(regions=["UKL18", "UKM82"])) is None


def test_uk_wide_profiles_and_notices_without_regions_pass():
    assert reason(profile(regions=["UK-wide"]), notice(regions=["UKM82"])) is None
    assert reason(profile(regions=["North West"]), notice(regions=[])) is None


def test_an_unknown_profile_region_is_an_error_naming_the_profile():
    with pytest.raises(ProfileError, match=r"profile p1: regions: unknown region 'Atlantis'"):
        ProfileFilter.of(profile().model_copy(update={"regions": ["Atlantis"]}))  # a row stored before regions were checked


def test_nuts_codes_map_to_their_region():
    assert regions_of("UKM82") == {"Scotland"}
    assert regions_of("UKL") == {"Wales"}
    assert regions_of("UKI3") == {"London"}
    assert regions_of("North East England") == {"North East"}


@pytest.mark.parametrize("vmin,vmax,ok", [
    (None, None, True), (None, 50_000, True), (None, 5_000, False), (None, 900_000, False), (300_000, 900_000, True),
    (600_000, 900_000, False), (5_000, 200_000, True),
])
def test_value_range_must_overlap_the_smes_range(vmin, vmax, ok):
    p = profile(value_min=10_000, value_max=500_000)
    assert (reason(p, notice(value_min=vmin, value_max=vmax)) is None) is ok


def test_excluded_words_rule_a_notice_out_whole_word_and_stemmed():
    p = profile(exclude=["asbestos", "pest control"])
    assert reason(p, notice(description="Removal of Asbestos from the depot.")) == "mentions excluded word 'asbestos'"
    assert reason(p, notice(title="Pest controllers for council housing")) == "mentions excluded word 'pest control'"
    assert reason(p, notice(description="Asbestosis research grant")) is None  # a different word


def test_eval_switches_keep_closed_awarded_far_away_and_pricey_notices():
    p = profile(regions=["North West"], value_max=10_000)
    n = notice(stage="award", status="complete", closes_at=NOW - timedelta(days=400), regions=["UKM82"], value_max=2e6)
    assert reason(p, n) is not None
    assert reason(p, n, EVAL) is None
    assert reason(profile(exclude=["grass"]), n, EVAL) == "mentions excluded word 'grass'"
