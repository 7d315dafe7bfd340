"""Contracts Finder's OCDS search, emulated over the recorded releases. Pure: query in, package out.

GET /Published/Notices/OCDS/Search?publishedFrom=…&publishedTo=…&stages=…&limit=…[&cursor=…]
- a release is returned when its `date` lies in [publishedFrom, publishedTo], or when it came from a
  recorded search whose own publishedFrom..publishedTo overlaps the asked range (the service returned it
  for that query; this is what lets a poll "as of 2025-01-23" see the 2025-01-20..23 package);
- `stages` filters on the stage of the release's first tag (planning, tender, award, implementation);
- newest first, `limit` (1-100, default 100) a page, and `links.next` carries an opaque base64 cursor
  (query and position, as the service's does); the last page has no `links.next`.
"""
from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from urllib.parse import urlencode

from matcher.replay.query import BadQuery, stages_and_limit
from matcher.replay.recordings import CfRelease, Recordings, parse_time

SEARCH_PATH = "/Published/Notices/OCDS/Search"
STAGES = ("planning", "tender", "award", "implementation")


def _bound(params: dict[str, str], name: str) -> datetime | None:
    value = params.get(name)
    if not value:
        return None
    try:
        return parse_time(value)
    except ValueError:
        raise BadQuery(f"{name}: not an ISO 8601 date: {value!r}") from None


def _cursor_query(params: dict[str, str]) -> str:
    return "|".join(f"{k}={params[k]}" for k in ("publishedFrom", "publishedTo", "stages", "limit") if params.get(k))


def encode_cursor(params: dict[str, str], position: int) -> str:
    return base64.b64encode(f"{_cursor_query(params)}|nextCursor={position}".encode()).decode()


def decode_cursor(cursor: str, params: dict[str, str]) -> int:
    try:
        text = base64.b64decode(cursor, validate=True).decode()
        query, _, position = text.rpartition("|nextCursor=")
        offset = int(position)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadQuery(f"cursor: not a cursor this service issued: {cursor!r}") from None
    if query != _cursor_query(params) or offset < 0:
        raise BadQuery("cursor: belongs to a different query")
    return offset


def _matches(rel: CfRelease, start: datetime | None, end: datetime | None, stages: set[str] | None) -> bool:
    if stages is not None and rel.stage not in stages:
        return False
    if (start is None or rel.date >= start) and (end is None or rel.date <= end):
        return True
    if rel.recorded_query is not None:
        q_start, q_end = rel.recorded_query
        return (start is None or start <= q_end) and (end is None or end >= q_start)
    return False


def search(rec: Recordings, params: dict[str, str], base_url: str) -> dict:
    """The release package for one search request. Raises BadQuery for a request the service would refuse."""
    start, end = _bound(params, "publishedFrom"), _bound(params, "publishedTo")
    stages, limit = stages_and_limit(params, STAGES)
    offset = decode_cursor(params["cursor"], params) if params.get("cursor") else 0

    found = [r for r in rec.cf_releases if _matches(r, start, end, stages)]
    page = found[offset: offset + limit]
    query = {k: params[k] for k in ("publishedFrom", "publishedTo", "stages", "limit") if params.get(k)}
    url = f"{base_url}{SEARCH_PATH}?{urlencode(query)}"
    env = rec.cf_envelope
    package: dict = {"uri": url if offset == 0 else f"{url}&{urlencode({'cursor': params['cursor']})}"}
    package["version"] = env.get("version", "1.1")
    package["extensions"] = env.get("extensions", [])
    package["publishedDate"] = (max(r.date for r in page) if page else (end or start or datetime.now(UTC))).strftime("%Y-%m-%dT%H:%M:%SZ")
    for key in ("publisher", "license", "publicationPolicy"):
        if key in env:
            package[key] = env[key]
    package["releases"] = [r.release for r in page]
    package["links"] = {}
    if offset + limit < len(found):
        package["links"]["next"] = f"{url}&{urlencode({'cursor': encode_cursor(params, offset + limit)})}"
    return package
