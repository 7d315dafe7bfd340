"""Find a Tender (FTS): the OCDS release packages API, read in windows of at most 6 hours, following `links.next`.

GET {base}/api/1.0/ocdsReleasePackages?updatedFrom=YYYY-MM-DDTHH:MM:SS&updatedTo=…&stages=…&limit=100
filters on when a record was last updated, so an amended notice comes back in a later window (the store
keeps one notice per ocid, the newest release winning). Facts from sources.md §2:

- windows: the API silently drops releases from longer windows (kingfisher-collect went 1 day -> 12 h
  -> 6 h), so window_hours above 6 is refused for this source, naming the key;
- politeness: "12 request limit in 2 minute exceeded" -> about 1 request / 10 s (delay_seconds = 10);
  429, 503 and 504 are waited out for Retry-After or, when it is missing (it usually is),
  rate_limit_wait_seconds (30 s);
- bodies: the portal sends numbers Python's strict JSON refuses (`1e9999`, `" 000,"`); `repair` patches
  them the way kingfisher-collect does before parsing;
- the notice page is https://www.find-tender.service.gov.uk/Notice/{release.id} (an ocid URL 404s);
- notices republished from Public Contracts Scotland (and Sell2Wales) carry `links[rel=canonical]` back
  to the originating portal's notice: ocds.release_to_notice turns it into a PortalLink the store uses
  to keep one notice per opportunity (matcher.ingest.dedupe).
"""
from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Any, ClassVar

from matcher.config import SourceConfig
from matcher.schema import NoticeRecord
from matcher.sources import window_problem
from matcher.sources.base import HourlyWindows, LinksPaginated, Source, Window
from matcher.sources.ocds import release_to_notice

PACKAGES_PATH = "/api/1.0/ocdsReleasePackages"
PUBLIC_SITE = "https://www.find-tender.service.gov.uk"
NOTICE_ID = re.compile(r"^\d{6}-\d{4}$")  # "Notice IDs are in the form nnnnnn-yyyy"

# kingfisher-collect's patches (sources.md 2.5) for numbers outside strings: a cheap test, then a scan
# that steps over every string so "£1,000,000" in a description is never touched
_MAYBE_BAD = re.compile(r"1e9999|[:\[,]\s*-?0\d")
_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?')
OUT_OF_RANGE = 9999999  # what kingfisher-collect puts for 1e9999 (maximumLotsBidPerSupplier "unlimited")


class WindowTooLong(ValueError):
    """window_hours above what the portal answers in full."""


def fts_time(when: datetime) -> str:
    """The documented form: YYYY-MM-DDTHH:MM:SS (19 characters), UTC."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _fix_number(match: re.Match) -> str:
    token = match.group(0)
    if token[0] == '"':
        return token
    sign, digits = ("-", token[1:]) if token[0] == "-" else ("", token)
    if math.isinf(float(digits)):
        return f"{sign}{OUT_OF_RANGE}"
    if len(digits) > 1 and digits[0] == "0" and digits[1].isdigit():  # 000, 007: JSON has no leading zeros
        rest = digits.lstrip("0")
        return sign + ("0" + rest if rest[:1] in ("", ".", "e", "E") else rest)
    return token


def repair_numbers(text: str) -> str:
    """`1e9999` -> 9999999 and `000` -> 0 where they stand as JSON numbers; strings are left alone."""
    if not _MAYBE_BAD.search(text):
        return text
    return _JSON_TOKEN.sub(_fix_number, text)


def notice_page_url(release: dict) -> str | None:
    release_id = release.get("id")
    if isinstance(release_id, str) and NOTICE_ID.match(release_id.strip()):
        return f"{PUBLIC_SITE}/Notice/{release_id.strip()}"
    return None


def check_window(cfg: SourceConfig, name: str = "find_a_tender") -> None:
    if problem := window_problem(name, cfg.window_hours):
        raise WindowTooLong(problem)


class FindATender(HourlyWindows, LinksPaginated, Source):
    name: ClassVar[str] = "find_a_tender"
    throttle_statuses: ClassVar[frozenset[int]] = frozenset({429, 503, 504})

    def __init__(self, cfg: SourceConfig, client=None, **client_options: Any):  # noqa: ANN001
        check_window(cfg, self.name)
        super().__init__(cfg, client, **client_options)

    def first_request(self, window: Window) -> tuple[str, dict[str, Any]]:
        params: dict[str, Any] = {"updatedFrom": fts_time(window.start), "updatedTo": fts_time(window.end)}
        if self.cfg.stages:
            params["stages"] = ",".join(self.cfg.stages)
        params["limit"] = self.cfg.page_size
        return self.url(PACKAGES_PATH), params

    def repair(self, text: str) -> str:
        return repair_numbers(text)

    def parse(self, raw: Any) -> NoticeRecord:
        rec = release_to_notice(raw, self.name, url_for=notice_page_url)
        own = notice_page_url(raw)  # the release's own FTS page beats any copied document link
        return rec.model_copy(update={"url": own}) if own and own != rec.url else rec

    def record_key(self, raw: Any) -> str | None:
        return raw.get("ocid") if isinstance(raw, dict) and isinstance(raw.get("ocid"), str) else None
