"""The Proactis notices API of Public Contracts Scotland and Sell2Wales, emulated over their recorded releases.

GET {prefix}/v1/Notices?dateFrom=MM-YYYY&noticeType=N&outputType=0[&locale=…] (sources.md §4, §5):
- the releases published (release `date`) in that month, of that notice type. Every recorded release is a
  contract notice (noticeType 2); other types have nothing recorded;
- a (month, type) with nothing comes back as a package with no `releases` array, as the portals answer;
- outputType other than 0 (OCDS) is refused with 400: the portals' own format was never recorded;
- no pagination.

The recordings are single releases cut from packages (no whole package was ever recorded), so the envelope
(uri, version, publishedDate, publisher) is built here; each release's recorded JSON text is served
verbatim inside it, backslash-free as its recorder left it.
"""
from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from urllib.parse import urlencode

from matcher.replay.query import BadQuery
from matcher.replay.recordings import Recordings

NOTICES_PATH = "/v1/Notices"
PREFIXES = {"public_contracts_scotland": "/pcs", "sell2wales": "/s2w"}  # one replay host serves both
PUBLISHERS = {"public_contracts_scotland": "Public Contracts Scotland", "sell2wales": "Sell2Wales"}
RECORDED_NOTICE_TYPE = 2  # contract notices
_MONTH = re.compile(r"^(0[1-9]|1[0-2])-(\d{4})$")


def source_of(path: str) -> str | None:
    for source, prefix in PREFIXES.items():
        if path == prefix + NOTICES_PATH:
            return source
    return None


def notices(rec: Recordings, source: str, params: dict[str, str], base_url: str) -> bytes:
    """The JSON body for one request. Raises BadQuery for a request the emulation refuses."""
    month = _MONTH.match(params.get("dateFrom", ""))
    if not month:
        raise BadQuery(f"dateFrom: expected MM-YYYY, got {params.get('dateFrom', '')!r}")
    try:
        notice_type = int(params.get("noticeType") or 2)
    except ValueError:
        raise BadQuery(f"noticeType: not a number: {params['noticeType']!r}") from None
    if params.get("outputType", "0") != "0":
        raise BadQuery("outputType: only 0 (OCDS) is emulated")
    wanted = (int(month.group(2)), int(month.group(1)))
    found = [r for r in rec.ocds.get(source, [])
             if notice_type == RECORDED_NOTICE_TYPE and (r.date.year, r.date.month) == wanted]
    found.sort(key=lambda r: r.date, reverse=True)
    query = {k: params[k] for k in ("dateFrom", "noticeType", "outputType", "locale") if k in params}
    published = max((r.date for r in found), default=datetime(wanted[0], wanted[1], 1, tzinfo=UTC))
    envelope = {"uri": f"{base_url}{PREFIXES[source]}{NOTICES_PATH}?{urlencode(query)}", "version": "1.1",
                "publishedDate": published.strftime("%Y-%m-%dT%H:%M:%SZ"), "publisher": {"name": PUBLISHERS[source]}}
    text = json.dumps(envelope, ensure_ascii=False)
    if found:
        text = text[:-1] + ', "releases": [' + ",\n".join(r.text.strip() for r in found) + "]}"
    return text.encode("utf-8")
