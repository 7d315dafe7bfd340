"""The bundled real recordings (matcher/data/replay), loaded once and indexed for the replay server."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime
from functools import lru_cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from urllib.parse import parse_qs, urlsplit

ENVELOPE_KEYS = ("version", "extensions", "publisher", "license", "publicationPolicy")
PROACTIS_SOURCES = ("public_contracts_scotland", "sell2wales")
STAGE_OF_TAG = {
    "planning": "planning", "planningUpdate": "planning",
    "tender": "tender", "tenderAmendment": "tender", "tenderUpdate": "tender", "tenderCancellation": "tender",
    "award": "award", "awardUpdate": "award", "awardCancellation": "award",
    "contract": "implementation", "contractUpdate": "implementation", "contractAmendment": "implementation",
    "implementation": "implementation", "implementationUpdate": "implementation",
}


def data_dir() -> Traversable:
    return files("matcher").joinpath("data", "replay")


def parse_time(value: str) -> datetime:
    """ISO 8601 as the service takes it; no offset means UTC."""
    dt = datetime.fromisoformat(value.strip().replace(" ", "+"))
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


@dataclass(frozen=True)
class CfRelease:
    release: dict
    date: datetime
    stage: str
    # the publishedFrom..publishedTo of the recorded query that returned it, when it had both bounds:
    # the emulation serves the release to any window overlapping that query, as the service did
    recorded_query: tuple[datetime, datetime] | None = None


@dataclass(frozen=True)
class OcdsRelease:
    """A release of Find a Tender, Public Contracts Scotland or Sell2Wales, with the JSON text it was
    recorded as (Proactis releases are served verbatim, inside a package envelope)."""

    release: dict
    date: datetime
    stage: str
    text: str
    published: datetime | None = None  # FTS: when the notice was first published (what its window filter reads)
    constructed: bool = False

    @property
    def first_published(self) -> datetime:
        return self.published or self.date


@dataclass
class DmListing:
    day: str
    status: str | None
    lot: str | None
    file: str


@dataclass
class Recordings:
    cf_releases: list[CfRelease] = field(default_factory=list)  # newest first, as the service sorts
    cf_envelope: dict = field(default_factory=dict)
    cf_recorded_at: datetime | None = None
    dm_listings: list[DmListing] = field(default_factory=list)
    dm_pages: dict[int, dict[str, str]] = field(default_factory=dict)  # brief id -> {day: file}
    ocds: dict[str, list[OcdsRelease]] = field(default_factory=dict)  # FTS, PCS, S2W: oldest first
    fts_envelope: dict = field(default_factory=dict)
    manifest: list[dict] = field(default_factory=list)

    @property
    def dm_days(self) -> list[str]:
        return sorted({entry.day for entry in self.dm_listings})

    def read(self, file: str) -> bytes:
        return data_dir().joinpath(*file.split("/")).read_bytes()


def _day(entry: dict) -> str:
    return parsedate_to_datetime(entry["recorded_at"]).astimezone(UTC).date().isoformat()


def _query_bounds(uri: str) -> tuple[datetime, datetime] | None:
    q = parse_qs(urlsplit(uri).query)
    if "publishedFrom" in q and "publishedTo" in q:
        return parse_time(q["publishedFrom"][0]), parse_time(q["publishedTo"][0])
    return None


def _load_cf(rec: Recordings) -> None:
    entries = [e for e in rec.manifest if e["source"] == "contracts_finder"]
    packages = sorted((e for e in entries if e["kind"] == "ocds_search_package"), key=lambda e: e["publishedDate"])
    by_id: dict[str, CfRelease] = {}
    newest_package: dict | None = None
    for entry in packages:  # package copies first: they are the faithful ones
        package = json.loads(rec.read(entry["file"]))
        bounds = _query_bounds(package.get("uri", ""))
        for r in package.get("releases", []):
            by_id.setdefault(r["id"], _cf_release(r, bounds))
        if newest_package is None or parse_time(package["publishedDate"]) >= parse_time(newest_package["publishedDate"]):
            newest_package = package
    for entry in entries:
        if entry["kind"] == "ocds_release":
            r = json.loads(rec.read(entry["file"]))
            by_id.setdefault(r["id"], _cf_release(r, None))
    rec.cf_releases = sorted(by_id.values(), key=lambda c: c.date, reverse=True)
    if newest_package is not None:
        rec.cf_envelope = {k: newest_package[k] for k in ENVELOPE_KEYS if k in newest_package}
        rec.cf_recorded_at = parse_time(newest_package["publishedDate"])


def _cf_release(release: dict, bounds: tuple[datetime, datetime] | None) -> CfRelease:
    tags = release.get("tag") or []
    stage = STAGE_OF_TAG.get(tags[0] if tags else "", "tender")
    return CfRelease(release, parse_time(release["date"]), stage, bounds)


def _load_dm(rec: Recordings) -> None:
    for entry in rec.manifest:
        if entry["source"] != "digital_marketplace":
            continue
        if entry["kind"] == "dm_listing_page":
            q = parse_qs(urlsplit(entry["url"]).query)
            rec.dm_listings.append(DmListing(
                _day(entry), (q.get("statusOpenClosed") or [None])[0], (q.get("lot") or [None])[0], entry["file"]))
        elif entry["kind"] == "dm_opportunity_page":
            rec.dm_pages.setdefault(int(entry["brief_id"]), {})[_day(entry)] = entry["file"]


def first_publication(release: dict) -> datetime | None:
    """When a Find a Tender notice was first published: its own notice document's datePublished (the
    document whose id is the release id), else tender.datePublished; None when neither is given."""
    docs = []
    for holder in [release.get("tender"), release.get("planning"), *(release.get("awards") or []), *(release.get("contracts") or [])]:
        if isinstance(holder, dict):
            docs.extend(d for d in holder.get("documents") or [] if isinstance(d, dict))
    for doc in docs:
        if doc.get("id") == release.get("id") and isinstance(doc.get("datePublished"), str):
            return parse_time(doc["datePublished"])
    tender = release.get("tender")
    if isinstance(tender, dict) and isinstance(tender.get("datePublished"), str):
        return parse_time(tender["datePublished"])
    return None


def _ocds_release(release: dict, text: str, constructed: bool = False) -> OcdsRelease:
    tags = release.get("tag") or []
    return OcdsRelease(release, parse_time(release["date"]), STAGE_OF_TAG.get(tags[0] if tags else "", "tender"), text,
                       published=first_publication(release), constructed=constructed)


def fts_release(release: dict, constructed: bool) -> OcdsRelease:
    """A Find a Tender release as the emulation serves it."""
    return _ocds_release(release, json.dumps(release, ensure_ascii=False, indent=2), constructed)


def _load_ocds(rec: Recordings) -> None:
    """Proactis single releases (verbatim text), the real Find a Tender packages (each release once, by
    (ocid, id)) and the constructed Find a Tender packages."""
    fts_seen: set[tuple[str, str]] = set()
    for entry in rec.manifest:
        source = entry["source"]
        if entry["kind"] == "ocds_release" and source in PROACTIS_SOURCES:
            text = rec.read(entry["file"]).decode("utf-8")
            rec.ocds.setdefault(source, []).append(_ocds_release(json.loads(text), text))
        elif entry["kind"] in ("constructed_release_package", "recorded_release_package") and source == "find_a_tender":
            package = json.loads(rec.read(entry["file"]))  # Python's json reads the `Infinity` some copies carry
            constructed = entry["kind"] == "constructed_release_package"
            if not constructed and "publisher" in package and "uri" in package:
                rec.fts_envelope = {k: package[k] for k in ENVELOPE_KEYS if k in package}
            for r in package.get("releases", []):
                if (r.get("ocid"), r.get("id")) not in fts_seen:
                    fts_seen.add((r.get("ocid"), r.get("id")))
                    rec.ocds.setdefault(source, []).append(fts_release(r, constructed))
    for releases in rec.ocds.values():
        releases.sort(key=lambda r: (r.date, r.release.get("ocid", ""), r.release.get("id") or ""))


@lru_cache(maxsize=1)
def load() -> Recordings:
    rec = Recordings(manifest=json.loads(data_dir().joinpath("manifest.json").read_text(encoding="utf-8")))
    _load_cf(rec)
    _load_dm(rec)
    _load_ocds(rec)
    return rec


def recording_dates() -> dict[str, date]:
    """Each source's recording day: the demo treats it as 'today'. Contracts Finder: the newest whole
    search package (2025-01-23); Digital Marketplace: the day the server serves by default (the latest);
    Find a Tender, Public Contracts Scotland, Sell2Wales: the day of their newest release."""
    rec = load()
    out: dict[str, date] = {}
    if rec.cf_recorded_at:
        out["contracts_finder"] = rec.cf_recorded_at.date()
    if rec.dm_days:
        out["digital_marketplace"] = date.fromisoformat(rec.dm_days[-1])
    for source, releases in rec.ocds.items():
        if releases:
            out[source] = releases[-1].date.date()
    return out


def recording_now(source: str = "contracts_finder", constructed: bool | None = None) -> datetime:
    """An aware UTC `now` at which a poll sees the recording of `source` up to its end: for Contracts Finder
    the moment its newest package was published (2025-01-23 22:10 UTC), for the others the end of the day
    of their newest recording (how far back a poll reaches is its lookback_days). `constructed` picks Find a
    Tender's constructed republications (True: newest 2025-02-22) or its real releases (False: 2026-10-06)."""
    rec = load()
    if source == "contracts_finder" and rec.cf_recorded_at:
        return rec.cf_recorded_at
    if constructed is not None:
        dates = [r.date for r in rec.ocds.get(source, []) if r.constructed is constructed]
        day = max(dates).date() if dates else None
    else:
        day = recording_dates().get(source)
    if day is None:
        raise ValueError(f"no recordings for source {source!r}")
    return datetime(day.year, day.month, day.day, 23, 59, tzinfo=UTC)
