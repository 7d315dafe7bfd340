"""Where a notice's work is, as UK regions: English region names, NUTS/ITL codes and DM locations.

Notices say "South West", "South West England", "UKK", "UKK1", "TLK", "UKM82", "England",
"No specific location", "Offsite"...; profiles say English region names or "UK-wide".
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
    "offsite": ANYWHERE,
    "remote": ANYWHERE,
    "anywhere": ANYWHERE,
}
_ANYWHERE_HINTS = ("no specific location", "work remotely", "offsite", "off-site", "uk-wide", "nationwide")
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
    if any(h in low for h in _ANYWHERE_HINTS):
        return ANYWHERE
    if any(h in low for h in _ABROAD_HINTS):
        return frozenset()
    return None


def profile_regions(names: Iterable[str]) -> frozenset[str]:
    """The regions an SME serves; all of them for "UK-wide" or no regions at all."""
    out: set[str] = set()
    for name in names:
        got = regions_of(name)
        if got is None:
            raise ValueError(f"unknown region {name!r}: use an English region name, Wales, Scotland, "
                             f"Northern Ireland or UK-wide")
        out |= got
    return frozenset(out) if out else ANYWHERE


def region_fits(notice_regions: Iterable[str], served: frozenset[str]) -> bool:
    """True when any of the notice's places is served, unknown, or says anywhere; or it names none."""
    places = [r for r in notice_regions if r and r.strip()]
    if not places or served >= ALL_REGIONS:
        return True
    for place in places:
        covered = regions_of(place)
        if covered is None or covered & served:
            return True
    return False
