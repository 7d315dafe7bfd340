"""Find a Tender's OCDS release packages API, emulated the way the live one behaves (sources.md 2.2, 2.7). Pure.

GET /api/1.0/ocdsReleasePackages?updatedFrom=…&updatedTo=…&stages=…&limit=…[&cursor=…]
- updatedFrom / updatedTo: YYYY-MM-DDTHH:MM:SS (a trailing Z is accepted), both inclusive. Despite the names
  the window is on when the notice was FIRST PUBLISHED, not on the release `date`: an edited release is
  listed in the window of its first publication;
- results come newest notice id first;
- `links.next` carries a cursor like the real one (base64 of `updatedFrom=…|updatedTo=…|nextCursor=<key>`).
  The key is a hidden per-release number that is NOT in step with the listing order: the next page holds
  the releases whose key is below the last one's, so a page boundary on an out-of-step release repeats
  some releases and silently loses others, and a short page with no next link looks like the last one;
- `stages` (planning, tender, award) returns only old-regime releases of those stages: every Procurement Act
  notice is hidden by it, as on the live service;
- limit 1-100 (default 100).

GET /api/1.0/ocdsReleasePackages/{noticeId}: 200 with the release(s) of that notice id (one id can be two
releases under two ocids), 200 with an empty `releases` list for an id that was never published (residue
the data set names), else 404 "'identifier' is not found".
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlencode

from matcher.replay.query import BadQuery, stages_and_limit
from matcher.replay.recordings import OcdsRelease, Recordings

PACKAGES_PATH = "/api/1.0/ocdsReleasePackages"
BY_ID = re.compile(r"^/api/1\.0/ocdsReleasePackages/(?P<id>[^/]+)$")
NOTICE_ID = re.compile(r"^(?P<number>\d{6})-(?P<year>\d{4})$")
STAGES = ("planning", "tender", "award")
_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z?$")
NOT_FOUND = "'identifier' is not found"
_INF = "\u0000inf\u0000"


def listing_order(release: dict) -> tuple[int, int, str]:
    """Sort key of the listing (ascending = oldest id first): (year, number, ocid)."""
    found = NOTICE_ID.match(str(release.get("id") or ""))
    if not found:
        return (0, 0, str(release.get("ocid") or ""))
    return (int(found["year"]), int(found["number"]), str(release.get("ocid") or ""))


def hidden_key(release: dict, out_of_step_every: int = 40) -> int:
    """The per-release key follow-up pages are cut on. Mostly it rises with the notice id; about one release
    in `out_of_step_every` (chosen by a hash of its id, so the same every run) has a key far out of step."""
    year, number, ocid = listing_order(release)
    key = (year % 100) * 10_000_000 + number * 10
    digest = int(hashlib.sha256(f"{release.get('id')}|{ocid}".encode()).hexdigest()[:8], 16)
    if out_of_step_every and digest % out_of_step_every == 0:
        key += (1 if (digest >> 9) & 1 else -1) * (300 + (digest >> 12) % 900) * 10
    return key


def is_procurement_act(release: dict) -> bool:
    """A Procurement Act 2023 notice: a documents[].noticeType (UK1…) anywhere, or the Act as legal basis."""
    holders = [release.get("tender"), release.get("planning"), *(release.get("awards") or []), *(release.get("contracts") or [])]
    for holder in holders:
        if not isinstance(holder, dict):
            continue
        if any(isinstance(d, dict) and d.get("noticeType") for d in holder.get("documents") or []):
            return True
    tender = release.get("tender") if isinstance(release.get("tender"), dict) else {}
    return (tender.get("legalBasis") or {}).get("id") == "2023/54"


@dataclass
class FtsData:
    """What the emulation serves: releases (oldest first), ids answered with an empty list, the envelope;
    `unlisted` ids are answered by id but never listed (a release the listing loses, as tests need)."""

    releases: list[OcdsRelease]
    empty_ids: frozenset[str] = frozenset()
    envelope: dict = field(default_factory=dict)
    out_of_step_every: int = 40
    unlisted: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        self._by_id: dict[str, list[OcdsRelease]] = {}
        for r in self.releases:
            self._by_id.setdefault(str(r.release.get("id")), []).append(r)
        self._keys = {id(r): hidden_key(r.release, self.out_of_step_every) for r in self.releases}
        self._listing = sorted(self.releases, key=lambda r: listing_order(r.release), reverse=True)

    @classmethod
    def of(cls, rec: Recordings) -> "FtsData":
        return cls(rec.ocds.get("find_a_tender", []), envelope=rec.fts_envelope)

    def key(self, r: OcdsRelease) -> int:
        return self._keys[id(r)]

    def listed(self, start: datetime | None, end: datetime | None, stages: set[str] | None) -> list[OcdsRelease]:
        """The window's releases in listing order (newest notice id first)."""
        out = []
        for r in self._listing:
            if r.release.get("id") in self.unlisted:
                continue
            when = r.first_published
            if (start is not None and when < start) or (end is not None and when > end):
                continue
            if stages is not None and (r.stage not in stages or is_procurement_act(r.release)):
                continue
            out.append(r)
        return out

    def by_id(self, notice_id: str) -> list[OcdsRelease] | None:
        """The releases of one notice id; [] for an id answered with an empty list; None: not found."""
        if notice_id in self._by_id:
            return self._by_id[notice_id]
        return [] if notice_id in self.empty_ids else None


def _bound(params: dict[str, str], name: str) -> datetime | None:
    value = params.get(name)
    if not value:
        return None
    if not _TIME.match(value):
        raise BadQuery(f"{name}: expected YYYY-MM-DDTHH:MM:SS, got {value!r}")
    return datetime.fromisoformat(value.rstrip("Z")).replace(tzinfo=UTC)


def encode_cursor(params: dict[str, str], key: int) -> str:
    text = f"updatedFrom={params.get('updatedFrom', '')}|updatedTo={params.get('updatedTo', '')}|nextCursor={key}"
    return base64.b64encode(text.encode()).decode()


def decode_cursor(cursor: str, params: dict[str, str]) -> int:
    try:
        fields = dict(part.split("=", 1) for part in base64.b64decode(cursor, validate=True).decode().split("|"))
        key = int(fields["nextCursor"])
    except (binascii.Error, UnicodeDecodeError, ValueError, KeyError):
        raise BadQuery(f"cursor: not a token this service issued: {cursor!r}") from None
    if fields.get("updatedFrom") != params.get("updatedFrom", "") or fields.get("updatedTo") != params.get("updatedTo", ""):
        raise BadQuery("cursor: belongs to a different query")
    return key


def _envelope(data: FtsData, uri: str, releases: list[OcdsRelease], when: datetime) -> dict:
    env = data.envelope
    package: dict = {"uri": uri, "version": env.get("version", "1.1"), "extensions": env.get("extensions", [])}
    package["publishedDate"] = (max(r.date for r in releases) if releases else when).strftime("%Y-%m-%dT%H:%M:%SZ")
    for key in ("publisher", "license", "publicationPolicy"):
        if key in env:
            package[key] = env[key]
    package["releases"] = [r.release for r in releases]
    return package


def search(data: FtsData, params: dict[str, str], base_url: str) -> dict:
    """The release package for one listing request. Raises BadQuery for a request the service would refuse."""
    start, end = _bound(params, "updatedFrom"), _bound(params, "updatedTo")
    stages, limit = stages_and_limit(params, STAGES)
    found = data.listed(start, end, stages)
    query = {k: params[k] for k in ("updatedFrom", "updatedTo", "stages", "limit") if params.get(k)}
    url = f"{base_url}{PACKAGES_PATH}?{urlencode(query)}"
    if params.get("cursor"):
        below = decode_cursor(params["cursor"], params)
        rest = [r for r in found if data.key(r) < below]
        page, more = rest[:limit], len(rest) > limit
        uri = f"{url}&{urlencode({'cursor': params['cursor']})}"
    else:
        page, more = found[:limit], len(found) > limit
        uri = url
    package = _envelope(data, uri, page, end or start or datetime.now(UTC))
    if more and len(page) == limit:
        package["links"] = {"next": f"{url}&{urlencode({'cursor': encode_cursor(params, data.key(page[-1]))})}"}
    return package


def by_id(data: FtsData, notice_id: str, base_url: str) -> tuple[int, dict]:
    """(status, body) for GET …/ocdsReleasePackages/{noticeId}."""
    releases = data.by_id(notice_id)
    if releases is None:
        return 404, {"message": NOT_FOUND}
    return 200, _envelope(data, f"{base_url}{PACKAGES_PATH}/{notice_id}", releases, datetime.now(UTC))


def _mark_infinite(value):  # noqa: ANN001, ANN202
    if isinstance(value, float) and math.isinf(value):
        return _INF if value > 0 else "-" + _INF
    if isinstance(value, dict):
        return {k: _mark_infinite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mark_infinite(v) for v in value]
    return value


def body(package: dict) -> bytes:
    """Serialised with ", " and ": " separators, as the portal's quirks (`" 000,"`) imply; an infinite number
    (a recorded `Infinity`) goes out as the `1e9999` the portal itself sends."""
    text = json.dumps(_mark_infinite(package), ensure_ascii=False)
    if _INF in text or "\\u0000inf" in text:
        text = text.replace('"-\\u0000inf\\u0000"', "-1e9999").replace('"\\u0000inf\\u0000"', "1e9999")
    return text.encode("utf-8")


def releases_of(items: Iterable[dict], constructed: bool = True) -> list[OcdsRelease]:
    """Plain release dicts as emulation entries, oldest first."""
    from matcher.replay.recordings import fts_release

    out = [fts_release(r, constructed) for r in items]
    return sorted(out, key=lambda r: (r.date, r.release.get("ocid", ""), r.release.get("id") or ""))
