"""CONSTRUCTED busy days of Find a Tender, built from the real bundled releases (matcher/data/replay/
find_a_tender/real): for the completeness tests and bench/bench_fts_poll.py. Deterministic; nothing here was
recorded, and every constructed title says so.

Each day holds `per_day` releases, most of them published in office hours (08:00-18:00 UK), with notice ids
running on from the day before. Half are Procurement Act tender notices (UK4), a fifth other Procurement Act
notices (pipeline, engagement, award, contract details, transparency, termination), the rest old-regime
tenders and awards, each a real release of that kind with a new id, ocid, publication time and title. About
one id in 60 is residue (never published: answered 404, or 200 with an empty list for every third of them);
one release in 100 was edited later (its `date` a day after its first publication, which is what the
listing window reads); one id per day comes as two releases under two ocids (a tenderUpdate on the old
procurement and an award on a new one, as seen on the live service).

    data = busy_days(date(2026, 9, 14), days=3)  # -> BusyDays(releases, residue_404, residue_empty, ...)
    start_replay(fts=data.fts_data())
"""
from __future__ import annotations

import copy
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from matcher.replay.recordings import load, parse_time

UK = ZoneInfo("Europe/London")
SHARES = (("pa_tender", 0.5), ("pa_other", 0.2), ("old", 0.3))
RESIDUE_EVERY = 60
EDITED_EVERY = 100
OFFICE_SHARE = 0.85


def _code(release: dict) -> str | None:
    for holder in [release.get("tender"), release.get("planning"), *(release.get("awards") or []), *(release.get("contracts") or [])]:
        if isinstance(holder, dict):
            for doc in holder.get("documents") or []:
                if isinstance(doc, dict) and doc.get("noticeType"):
                    return doc["noticeType"]
    return None


def templates() -> dict[str, list[dict]]:
    """The real releases by kind: Procurement Act tenders, other Procurement Act notices, old-regime ones."""
    out: dict[str, list[dict]] = {"pa_tender": [], "pa_other": [], "old": []}
    for r in load().ocds.get("find_a_tender", []):
        if r.constructed:
            continue
        code = _code(r.release)
        kind = "pa_tender" if code == "UK4" else "pa_other" if code else "old"
        if kind == "old" and not (r.release.get("tender") or {}).get("title"):
            continue
        out[kind].append(r.release)
    return out


def _times(day: date, n: int, rng: random.Random) -> list[datetime]:
    """n publication times on `day`, sorted, OFFICE_SHARE of them between 08:00 and 18:00 UK time."""
    start = datetime.combine(day, time(0), tzinfo=UK)
    out = []
    for _ in range(n):
        if rng.random() < OFFICE_SHARE:
            seconds = rng.uniform(8 * 3600, 18 * 3600)
        else:
            seconds = rng.choice([rng.uniform(0, 8 * 3600), rng.uniform(18 * 3600, 24 * 3600 - 1)])
        out.append((start + timedelta(seconds=int(seconds))).astimezone(UTC))
    return sorted(out)


def _stamp(release: dict, notice: str, ocid: str, published: datetime, edited: datetime | None, n: int) -> dict:
    out = copy.deepcopy(release)
    old_id = out.get("id")
    out["id"], out["ocid"] = notice, ocid
    out["date"] = (edited or published).strftime("%Y-%m-%dT%H:%M:%SZ")
    for holder in [out.get("tender"), out.get("planning"), *(out.get("awards") or []), *(out.get("contracts") or [])]:
        if not isinstance(holder, dict):
            continue
        for doc in holder.get("documents") or []:
            if isinstance(doc, dict) and doc.get("id") == old_id:
                doc["id"], doc["datePublished"] = notice, published.strftime("%Y-%m-%dT%H:%M:%SZ")
                doc["url"] = f"https://www.find-tender.service.gov.uk/Notice/{notice}"
    tender = out.setdefault("tender", {})
    tender["datePublished"] = published.strftime("%Y-%m-%dT%H:%M:%SZ")
    title = tender.get("title") or (out.get("planning") or {}).get("title") or "Notice"
    tender["title"] = f"{title} [constructed busy-day copy {n}]"
    out.pop("links", None)  # no canonical link: each copy is its own opportunity
    return out


@dataclass
class BusyDays:
    releases: list[dict]
    residue_404: list[str] = field(default_factory=list)
    residue_empty: list[str] = field(default_factory=list)
    edited: list[str] = field(default_factory=list)
    twin_ids: list[str] = field(default_factory=list)  # ids that come as two releases under two ocids
    since: datetime | None = None
    until: datetime | None = None

    def fts_data(self, out_of_step_every: int = 40, unlisted: frozenset[str] = frozenset()):  # noqa: ANN201
        from matcher.replay.fts_search import FtsData, releases_of

        rec = load()
        return FtsData(releases_of(self.releases), empty_ids=frozenset(self.residue_empty), envelope=rec.fts_envelope,
                       out_of_step_every=out_of_step_every, unlisted=unlisted)

    @property
    def keys(self) -> set[tuple[str, str]]:
        return {(r["ocid"], r["id"]) for r in self.releases}


def busy_days(first: date, days: int = 3, per_day: int = 400, first_number: int = 80_001, seed: int = 8) -> BusyDays:
    """`days` busy days from `first` (weekdays, if `first` is a Monday), `per_day` releases each."""
    rng = random.Random(seed)
    kinds = templates()
    out = BusyDays([])
    number, n = first_number, 0
    for d in range(days):
        day = first + timedelta(days=d)
        for k, when in enumerate(_times(day, per_day, rng)):
            if number % RESIDUE_EVERY == 0:  # an id never published
                (out.residue_empty if (number // RESIDUE_EVERY) % 3 == 0 else out.residue_404).append(f"{number:06d}-{day.year}")
                number += 1
            notice = f"{number:06d}-{day.year}"
            roll, kind = rng.random(), "old"
            acc = 0.0
            for name, share in SHARES:
                acc += share
                if roll < acc:
                    kind = name
                    break
            template = kinds[kind][n % len(kinds[kind])]
            edited = when + timedelta(days=1) if n % EDITED_EVERY == EDITED_EVERY - 1 else None
            release = _stamp(template, notice, f"ocds-h6vhtk-{0x0A0000 + n:06x}", when, edited, n)
            out.releases.append(release)
            if edited:
                out.edited.append(notice)
            if k == per_day // 2:  # this id also comes as an award on a new ocid
                twin = _stamp(kinds["pa_other"][0], notice, f"ocds-h6vhtk-{0x0F0000 + n:06x}", when, None, n)
                twin["tag"] = ["award", "contract"]
                release["tag"] = ["tenderUpdate"]
                out.releases.append(twin)
                out.twin_ids.append(notice)
            number += 1
            n += 1
    out.since = datetime.combine(first, time(0), tzinfo=UK).astimezone(UTC)
    out.until = datetime.combine(first + timedelta(days=days), time(0), tzinfo=UK).astimezone(UTC)
    return out


def published_at(release: dict) -> datetime:
    return parse_time(release["tender"]["datePublished"])
