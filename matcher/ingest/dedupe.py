"""One opportunity, once: is a release from one portal a copy of a notice stored from another? Pure.

Portals republish each other's notices: Find a Tender republishes Public Contracts Scotland notices under
its own ocid with `links[rel=canonical]` back to the PCS notice, and Welsh notices go to both Sell2Wales and
Find a Tender, often with no link at all. The store (store.upsert_notice) keeps such copies as ONE notice:

1. a key already seen as a copy (the NoticeAlias table) updates the notice it was merged into;
2. a release whose canonical link names a stored notice (or one of its aliases) is merged into it;
3. otherwise a near duplicate is looked for among notices from *other* portals that hold no copy from the
   release's portal yet: same closing day (UK time), a fuzzy-equal title (rapidfuzz on normalised text)
   and the same or a similar buyer; a missing buyer asks for a near-identical title;
4. failing all that, the release becomes a new notice, and the keys its canonical links name are
   registered as aliases of it, so the originating portal's copy joins it when it arrives.

The notice first stored is canonical: its key, source, page URL and content stay; the jobs poll originating
portals first (registry.POLL_ORDER), so in one run that is the originating portal's copy. A copy's own
republication changes nothing but the links; its later releases (an amendment, a cancellation, an award)
update the one notice when they are newer (store.supersedes, store._copy_updates), as do the canonical
copy's. `Notice.links` lists every copy as {source, url, key}, the canonical one first.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from rapidfuzz import fuzz

from matcher.schema import NoticeRecord
from matcher.text import one_line

UK = ZoneInfo("Europe/London")
TITLE_MIN = 90.0  # rapidfuzz score (0-100) of normalised titles
TITLE_MIN_NO_BUYER = 97.0  # when either side has no buyer (and no subset matching then)
BUYER_MIN = 85.0
SET_RATIO_MIN_WORDS = 4  # a title this long may match as a subset ("CCS/24/297 Boiler installation ...")
_NOT_WORD = re.compile(r"[^\w]+")
_BUYER_NOISE = re.compile(r"^the\s+|\s+(ltd|limited|plc)$")


@dataclass(frozen=True)
class Candidate:
    """A stored notice, as far as near-duplicate matching needs it."""

    key: str
    source: str
    title: str
    buyer: str | None
    closes_at: datetime | None
    copy_sources: frozenset[str] = frozenset()  # portals it already holds a copy from


@dataclass(frozen=True)
class DuplicateOf:
    key: str
    reason: str


def normalise(text: str | None) -> str:
    """Lower case, '&' as 'and', punctuation and runs of spaces as one space."""
    text = one_line(text or "").casefold().replace("&", " and ")
    return " ".join(_NOT_WORD.sub(" ", text).split())


def normalise_buyer(text: str | None) -> str:
    return _BUYER_NOISE.sub("", normalise(text))


def title_similarity(a: str | None, b: str | None, subset: bool = True) -> float:
    """0-100. With `subset`, a title of SET_RATIO_MIN_WORDS or more words found whole in the other scores 100."""
    na, nb = normalise(a), normalise(b)
    if not na or not nb:
        return 0.0
    score = fuzz.token_sort_ratio(na, nb)
    if subset and min(len(na.split()), len(nb.split())) >= SET_RATIO_MIN_WORDS:
        score = max(score, fuzz.token_set_ratio(na, nb))
    return float(score)


def buyer_similarity(a: str | None, b: str | None) -> float | None:
    """0-100, or None when either side names no buyer."""
    na, nb = normalise_buyer(a), normalise_buyer(b)
    if not na or not nb:
        return None
    return float(max(fuzz.token_sort_ratio(na, nb), fuzz.token_set_ratio(na, nb)))


def closing_day(when: datetime | None):  # noqa: ANN201
    return when.astimezone(UK).date() if when is not None else None


def closing_span(when: datetime) -> tuple[datetime, datetime]:
    """A range of stored closing times wide enough to hold every same-UK-day candidate (for the query)."""
    return when - timedelta(days=1, hours=2), when + timedelta(days=1, hours=2)


def near_duplicate(rec: NoticeRecord, candidates: Iterable[Candidate]) -> DuplicateOf | None:
    """The best stored notice `rec` is a copy of, or None. Only notices from other portals that hold no copy
    from rec's portal yet are considered (one portal does not list one opportunity twice), and only with
    a closing date: without one, a title and buyer alone are too weak."""
    day = closing_day(rec.closes_at)
    if day is None:
        return None
    best: tuple[float, DuplicateOf] | None = None
    for c in candidates:
        if c.source == rec.source or rec.source in c.copy_sources or closing_day(c.closes_at) != day:
            continue
        buyer = buyer_similarity(rec.buyer, c.buyer)
        title = title_similarity(rec.title, c.title, subset=buyer is not None)
        if buyer is None:
            if title < TITLE_MIN_NO_BUYER:
                continue
        elif title < TITLE_MIN or buyer < BUYER_MIN:
            continue
        score = title + (buyer or 0.0)
        why = (f"near duplicate of {c.key} ({c.source}): title {title:.0f}/100, "
               f"buyer {'-' if buyer is None else f'{buyer:.0f}/100'}, both close {day.isoformat()}")
        if best is None or score > best[0]:
            best = (score, DuplicateOf(c.key, why))
    return best[1] if best else None


def linked_keys(rec: NoticeRecord) -> list[str]:
    """The other notices rec's canonical links name (a portal's self-link is not one)."""
    return list(dict.fromkeys(link.key for link in rec.links if link.key and link.key != rec.key))


def own_link(rec: NoticeRecord, current: bool = True) -> dict:
    """The copy's own entry. A current one (from the release now stored) wins over an older release's URL
    and over another portal's link to the copy (often an API URL); `own` is dropped by merge_links."""
    return {"source": rec.source, "url": rec.url, "key": rec.key, "own": current}


def merge_links(existing: list[dict], incoming: Iterable[dict]) -> list[dict]:
    """One entry per key, in first-seen order. A copy's own entry (its page URL) replaces one made from
    another portal's link to it (often an API URL); otherwise a known URL is kept."""
    out: dict[str, dict] = {}
    keyless: list[dict] = []
    for link in [*existing, *incoming]:
        key = link.get("key")
        if not key:
            if link not in keyless:
                keyless.append(dict(link))
            continue
        held = out.get(key)
        if held is None or (link.get("url") and (not held.get("url") or link.get("own"))):
            out[key] = {"source": link.get("source"), "url": link.get("url") or (held or {}).get("url"), "key": key}
    return [*out.values(), *keyless]


def copy_sources(links: list[dict]) -> frozenset[str]:
    return frozenset(str(link["source"]) for link in links if link.get("source") and link.get("key"))
