"""Where a notice's work is, as UK regions: English region names, NUTS/ITL codes, DM locations, postcodes.

Notices say "South West", "South West England", "UKK", "UKK1", "TLK", "UKM82", "England",
"No specific location", "Offsite"...; profiles say English region names, "England" or "UK-wide".

A notice fits an SME when one of its places lies wholly inside the regions the SME serves (containment): an
England-wide notice is not a South West one unless the SME serves all of England. Work with no fixed place
("Offsite", "work remotely") fits everyone. A place is never guessed: a name or code not recognised names no
region, and a postcode gives a region only when its whole postcode area lies in one region.
"""
from __future__ import annotations

import re
from collections.abc import Iterable

ENGLISH_REGIONS = (
    "North East", "North West", "Yorkshire and the Humber", "East Midlands", "West Midlands",
    "East of England", "London", "South East", "South West",
)
NATIONS = ("Wales", "Scotland", "Northern Ireland")
ALL_REGIONS = frozenset(ENGLISH_REGIONS + NATIONS)
ANYWHERE = ALL_REGIONS
NO_FIXED_PLACE = "No fixed place"  # the work can be done from anywhere: never ruled out by region
LOCATION_FREE = frozenset({NO_FIXED_PLACE})

# NUTS 1 (UKC..UKN) and ITL 1 (TLC..TLN) share their letters.
_NUTS_LETTER = {
    "C": "North East", "D": "North West", "E": "Yorkshire and the Humber", "F": "East Midlands",
    "G": "West Midlands", "H": "East of England", "I": "London", "J": "South East", "K": "South West",
    "L": "Wales", "M": "Scotland", "N": "Northern Ireland",
}
_CODE = re.compile(r"^(?:UK|TL)([C-N])[0-9A-Z]*$")

_ALIASES: dict[str, frozenset[str]] = {
    **{r.lower(): frozenset({r}) for r in ENGLISH_REGIONS + NATIONS},
    "yorkshire": frozenset({"Yorkshire and the Humber"}),
    "yorkshire and humber": frozenset({"Yorkshire and the Humber"}),
    "east anglia": frozenset({"East of England"}),
    "eastern": frozenset({"East of England"}),
    "east": frozenset({"East of England"}),
    "greater london": frozenset({"London"}),
    "england": frozenset(ENGLISH_REGIONS),
    "great britain": frozenset(ENGLISH_REGIONS + ("Wales", "Scotland")),
    "gb": frozenset(ENGLISH_REGIONS + ("Wales", "Scotland")),
    "uk": ANYWHERE,
    "uk-wide": ANYWHERE,
    "uk wide": ANYWHERE,
    "united kingdom": ANYWHERE,
    "national": ANYWHERE,
    "nationwide": ANYWHERE,
    "offsite": LOCATION_FREE,
    "remote": LOCATION_FREE,
    "anywhere": LOCATION_FREE,
}
_LOCATION_FREE_HINTS = ("no specific location", "work remotely", "offsite", "off-site")
_ANYWHERE_HINTS = ("uk-wide", "nationwide")
_ABROAD_HINTS = ("international", "outside the uk", "overseas")


def regions_of(name: str) -> frozenset[str] | None:
    """The UK regions a place name or code covers; None when it is not recognised (unknown place)."""
    text = " ".join(name.split())
    if not text:
        return None
    code = _CODE.match(text.upper().replace(" ", ""))
    if code:
        return frozenset({_NUTS_LETTER[code.group(1)]})
    low = text.lower().strip(" .")
    if low in _ALIASES:
        return _ALIASES[low]
    if low.endswith(" england") and low[: -len(" england")] in _ALIASES:  # "North East England"
        return _ALIASES[low[: -len(" england")]]
    if any(h in low for h in _LOCATION_FREE_HINTS):
        return LOCATION_FREE
    if any(h in low for h in _ANYWHERE_HINTS):
        return ANYWHERE
    if any(h in low for h in _ABROAD_HINTS):
        return frozenset()
    return None


def profile_regions(names: Iterable[str]) -> frozenset[str]:
    """The regions an SME serves; all of them for "UK-wide", "anywhere" or no regions at all."""
    out: set[str] = set()
    for name in names:
        got = regions_of(name)
        if got is None:
            raise ValueError(f"unknown region {name!r}: use an English region name, England, Wales, Scotland, "
                             f"Northern Ireland or UK-wide")
        out |= ALL_REGIONS if got == LOCATION_FREE else got
    return frozenset(out) if out else ANYWHERE


# Postcode areas lying wholly in one region (ONS postcode directory). Areas that straddle two regions (CH, SY,
# LD's neighbours, DN, S, PE, SK, KT, TW, ...) are left out on purpose: their region would be a guess.
_POSTCODE_AREAS = {
    "London": "E EC N NW SE SW W WC",
    "South East": "BN CT GU ME PO RH SL SO TN",
    "South West": "BA BS DT EX PL TA TQ TR",
    "West Midlands": "B DY TF WS WV",
    "East Midlands": "LE LN NG NN",
    "East of England": "AL CB CM CO IP LU NR SG SS",
    "North West": "BL CW FY L M PR WA WN",
    "North East": "DH NE SR",
    "Yorkshire and the Humber": "BD HD HG HU HX LS WF YO",
    "Wales": "CF LD LL SA",
    "Scotland": "AB DD DG EH FK G HS IV KA KW KY ML PA PH ZE",
    "Northern Ireland": "BT",
}
POSTCODE_AREA_REGION = {area: region for region, areas in _POSTCODE_AREAS.items() for area in areas.split()}
_POSTCODE = re.compile(r"^([A-Z]{1,2})[0-9]")


def postcode_region(postcode: str | None) -> str | None:
    """The region of a postcode whose area lies wholly in one region; None otherwise (never a guess)."""
    found = _POSTCODE.match("".join((postcode or "").split()).upper())
    return POSTCODE_AREA_REGION.get(found.group(1)) if found else None


def notice_places(regions: Iterable[str], postcode: str | None = None) -> list[frozenset[str]]:
    """The region sets of a notice's recognised places; from its postcode when no place name is recognised."""
    places = [got for r in regions if r and r.strip() and (got := regions_of(r)) is not None]
    if not places and (region := postcode_region(postcode)):
        places = [frozenset({region})]
    return places


def place_name(covered: frozenset[str]) -> str:
    """'UK-wide', 'England', 'Great Britain', 'No fixed place', or the region names joined."""
    if covered == LOCATION_FREE:
        return NO_FIXED_PLACE
    if covered >= ALL_REGIONS:
        return "UK-wide"
    if covered == frozenset(ENGLISH_REGIONS):
        return "England"
    if covered == frozenset(ENGLISH_REGIONS + ("Wales", "Scotland")):
        return "Great Britain"
    order = ENGLISH_REGIONS + NATIONS
    return ", ".join(r for r in order if r in covered) or "Outside the UK"


def place_names(regions: Iterable[str], postcode: str | None = None) -> list[str]:
    """The notice's places as region names, for people; [] when none is recognised."""
    return list(dict.fromkeys(place_name(c) for c in notice_places(regions, postcode)))


def region_fits(notice_regions: Iterable[str], served: frozenset[str], postcode: str | None = None) -> bool:
    """True when one of the notice's places lies wholly within the served regions or has no fixed place, or
    the notice names no place we recognise (nothing to rule it out on)."""
    if served >= ALL_REGIONS:
        return True
    named = [r for r in notice_regions if r and r.strip()]
    if any(regions_of(r) is None for r in named):  # an unrecognised place: it may well be served
        return True
    places = notice_places(named, postcode)
    if not places:
        return True
    return any(c == LOCATION_FREE or (c and c <= served) for c in places)
