"""Find a Tender's OCDS release packages API, emulated over the constructed FTS releases. Pure.

GET /api/1.0/ocdsReleasePackages?updatedFrom=…&updatedTo=…&stages=…&limit=…[&cursor=…] (sources.md 2.2):
- updatedFrom / updatedTo: YYYY-MM-DDTHH:MM:SS (a trailing Z, as kingfisher-collect sends, is accepted);
  a release is served when its `date` (when the record was last updated) lies in [updatedFrom, updatedTo];
- stages: planning, tender, award (the stage of the release's first tag);
- limit 1-100 (default 100); `links.next` carries a cursor token of [A-Za-z0-9=] (base32), up to 300
  characters as documented; oldest first (the real order is not documented);
- the body is serialised with ", " and ": " separators, as the portal's quirks (`" 000,"`) imply.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from datetime import UTC, datetime
from urllib.parse import urlencode

from matcher.replay.query import BadQuery, stages_and_limit
from matcher.replay.recordings import OcdsRelease, Recordings

PACKAGES_PATH = "/api/1.0/ocdsReleasePackages"
STAGES = ("planning", "tender", "award")
_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z?$")
QUERY_KEYS = ("updatedFrom", "updatedTo", "stages", "limit")


def _bound(params: dict[str, str], name: str) -> datetime | None:
    value = params.get(name)
    if not value:
        return None
    if not _TIME.match(value):
        raise BadQuery(f"{name}: expected YYYY-MM-DDTHH:MM:SS, got {value!r}")
    return datetime.fromisoformat(value.rstrip("Z")).replace(tzinfo=UTC)


def _query_digest(params: dict[str, str]) -> str:
    query = "|".join(f"{k}={params.get(k, '')}" for k in QUERY_KEYS)
    return hashlib.sha256(query.encode()).hexdigest()[:12]


def encode_cursor(params: dict[str, str], offset: int) -> str:
    return base64.b32encode(f"{offset}:{_query_digest(params)}".encode()).decode()


def decode_cursor(cursor: str, params: dict[str, str]) -> int:
    try:
        offset, _, digest = base64.b32decode(cursor).decode().partition(":")
        position = int(offset)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadQuery(f"cursor: not a token this service issued: {cursor!r}") from None
    if digest != _query_digest(params) or position < 0:
        raise BadQuery("cursor: belongs to a different query")
    return position


def _selected(rel: OcdsRelease, start: datetime | None, end: datetime | None, stages: set[str] | None) -> bool:
    if stages is not None and rel.stage not in stages:
        return False
    return (start is None or rel.date >= start) and (end is None or rel.date <= end)


def search(rec: Recordings, params: dict[str, str], base_url: str) -> dict:
    """The release package for one request. Raises BadQuery for a request the service would refuse."""
    start, end = _bound(params, "updatedFrom"), _bound(params, "updatedTo")
    stages, limit = stages_and_limit(params, STAGES)
    offset = decode_cursor(params["cursor"], params) if params.get("cursor") else 0

    found = [r for r in rec.ocds.get("find_a_tender", []) if _selected(r, start, end, stages)]
    page = found[offset: offset + limit]
    query = {k: params[k] for k in QUERY_KEYS if params.get(k)}
    url = f"{base_url}{PACKAGES_PATH}?{urlencode(query)}"
    env = rec.fts_envelope
    package: dict = {"uri": url if offset == 0 else f"{url}&{urlencode({'cursor': params['cursor']})}",
                     "version": env.get("version", "1.1"), "extensions": env.get("extensions", [])}
    package["publishedDate"] = (max(r.date for r in page) if page else (end or start or datetime.now(UTC))).strftime("%Y-%m-%dT%H:%M:%SZ")
    for key in ("publisher", "license", "publicationPolicy"):
        if key in env:
            package[key] = env[key]
    package["releases"] = [r.release for r in page]
    package["links"] = {}
    if offset + limit < len(found):
        package["links"]["next"] = f"{url}&{urlencode({'cursor': encode_cursor(params, offset + limit)})}"
    return package


def body(package: dict) -> bytes:
    return json.dumps(package, ensure_ascii=False).encode("utf-8")
