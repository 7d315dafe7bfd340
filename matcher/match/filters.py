"""Hard filters: which notices may go to an SME at all. Each check gives the reason it rules a notice out.

Eval switches the time, region, value and stage filters off (its judgments ignore them).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from matcher.config import MatchingConfig
from matcher.match.regions import profile_regions, region_fits
from matcher.match.terms import TermText, found, phrases
from matcher.schema import MATCHABLE_NOTICE_TYPES, NoticeRecord, ProfileSpec


class ProfileError(ValueError):
    """A profile the matcher cannot use; the message names the profile and the field."""


@dataclass(frozen=True)
class FilterSwitches:
    closing: bool = True
    region: bool = True
    value: bool = True
    excluded: bool = True
    stage: bool = True


LIVE = FilterSwitches()
EVAL = FilterSwitches(closing=False, region=False, value=False, stage=False)


@dataclass(frozen=True)
class ProfileFilter:
    """A profile's hard filters, prepared once and applied to many notices."""

    profile: ProfileSpec
    served: frozenset[str]
    excluded: tuple

    @classmethod
    def of(cls, p: ProfileSpec) -> "ProfileFilter":
        try:
            served = profile_regions(p.regions)
        except ValueError as e:
            raise ProfileError(f"profile {p.id}: regions: {e}") from None
        return cls(p, served, tuple(phrases(p.exclude)))


def not_open_reason(n: NoticeRecord, cfg: MatchingConfig) -> str | None:
    """Why a notice is no longer (or never was) an open opportunity (cancelled, awarded, a transparency or
    award notice...), or None. Tenders, pipeline, planned procurement and market engagement notices are open."""
    if n.notice_type and n.notice_type != "unknown" and n.notice_type not in MATCHABLE_NOTICE_TYPES:
        return f"notice type {n.notice_type}"
    if n.status and n.status.strip().lower() in {s.lower() for s in cfg.closed_statuses}:
        return f"status {n.status}"
    if n.stage and n.stage.strip().lower() in {s.lower() for s in cfg.closed_stages}:
        return f"stage {n.stage}"
    return None


def closing_reason(n: NoticeRecord, now: datetime, min_days: int) -> str | None:
    if n.closes_at is None:
        return None
    if n.closes_at < now + timedelta(days=min_days):
        return "closes too soon" if n.closes_at >= now else "closed"
    return None


def value_reason(n: NoticeRecord, p: ProfileSpec) -> str | None:
    """Out of the SME's value range; a notice without a value always fits. Where the notice's lots carry
    values, those decide (a framework's total is not what one supplier wins): it fits when one lot does."""
    if p.value_min is None and p.value_max is None:
        return None
    lot_values = [lot.value for lot in n.lots if lot.value is not None]
    if lot_values:
        if any((p.value_min is None or v >= p.value_min) and (p.value_max is None or v <= p.value_max) for v in lot_values):
            return None
        return "every lot's value is above the SME's maximum" if p.value_max is not None and min(lot_values) > p.value_max \
            else "every lot's value is outside the SME's range"
    low = n.value_min if n.value_min is not None else n.value_max
    high = n.value_max if n.value_max is not None else n.value_min
    if p.value_min is not None and high is not None and high < p.value_min:
        return "value below the SME's minimum"
    if p.value_max is not None and low is not None and low > p.value_max:
        return "value above the SME's maximum"
    return None


def exclusion_reason(
    pf: ProfileFilter,
    n: NoticeRecord,
    terms: TermText,
    now: datetime,
    cfg: MatchingConfig,
    switches: FilterSwitches = LIVE,
) -> str | None:
    """The first reason this notice must not go to this SME, or None when it may."""
    if switches.stage and (why := not_open_reason(n, cfg)):
        return why
    if switches.closing and (why := closing_reason(n, now, cfg.min_days_to_close)):
        return why
    if switches.region and not region_fits(n.regions, pf.served, n.postcode):
        return "outside the SME's regions"
    if switches.value and (why := value_reason(n, pf.profile)):
        return why
    if switches.excluded and (hits := found(list(pf.excluded), terms)):
        return f"mentions excluded word {hits[0].text!r}"
    return None
