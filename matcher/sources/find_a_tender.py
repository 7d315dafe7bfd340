"""Find a Tender (FTS): the OCDS release packages API, read so that nothing is silently lost (sources.md 2.7).

GET {base}/api/1.0/ocdsReleasePackages?updatedFrom=YYYY-MM-DDTHH:MM:SS&updatedTo=…&limit=100. What the live
API does that its documentation does not say, and how this client copes:

- `links.next` silently loses releases: its cursor is a hidden per-release key out of step with the listing
  order (newest notice id first), so a follow-up page can come back short with no next link. But a FIRST
  page, fetched without a cursor, was always right. So a window is read by its first page alone: fewer
  than `limit` releases and that page is the whole window; a full page splits the window in halves, asked
  again, down to `split_floor_seconds` (a minute). Only a window at the floor that is still full follows
  `links.next`, and the notice-id audit (matcher.ingest.audit) then checks it;
- `stages` hides every Procurement Act notice, so it is never sent (cfg.stages is ignored here): every
  release is stored, and classified by `tag` and `documents[].noticeType` (ocds.notice_type);
- notice ids (`nnnnnn-yyyy`) run without gaps within a year: a gap between ids held is asked for one id at a
  time with GET {base}/api/1.0/ocdsReleasePackages/{noticeId} (`fetch_notice`), which answers 200 with the
  release(s), 200 with an empty list, or 404: the last two are residue (ids never published);
- the window filter is on the notice's first publication; windows of at most 6 hours (kingfisher-collect's
  finding, sources.md 2.3), refused above that, naming the key;
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

import logging
import math
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import urlencode, urlsplit

from matcher.config import SourceConfig
from matcher.schema import NoticeRecord
from matcher.sources import window_problem
from matcher.sources.base import HourlyWindows, LinksPaginated, Page, PaginationLoop, Source, Window
from matcher.sources.http import FetchError
from matcher.sources.ocds import release_to_notice

log = logging.getLogger(__name__)

PACKAGES_PATH = "/api/1.0/ocdsReleasePackages"
PUBLIC_SITE = "https://www.find-tender.service.gov.uk"
NOTICE_ID = re.compile(r"^(\d{6})-(\d{4})$")  # "Notice IDs are in the form nnnnnn-yyyy"

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


def notice_number(notice_id: Any) -> tuple[int, int] | None:
    """(year, number) of a notice id `nnnnnn-yyyy`; None for anything else."""
    found = NOTICE_ID.match(str(notice_id or "").strip())
    return (int(found.group(2)), int(found.group(1))) if found else None


def notice_id(year: int, number: int) -> str:
    return f"{number:06d}-{year}"


class NoticeNotFound(FetchError):
    """A by-id request answered 404 or with an empty `releases` list: residue, an id never published."""


def halves(window: Window) -> tuple[Window, Window]:
    """The window split at its middle second (the API takes whole seconds)."""
    middle = window.start + timedelta(seconds=int((window.end - window.start).total_seconds() // 2))
    return Window(window.start, middle), Window(middle, window.end)


def check_window(cfg: SourceConfig, name: str = "find_a_tender") -> None:
    if problem := window_problem(name, cfg.window_hours):
        raise WindowTooLong(problem)


class FindATender(HourlyWindows, LinksPaginated, Source):
    name: ClassVar[str] = "find_a_tender"
    throttle_statuses: ClassVar[frozenset[int]] = frozenset({429, 503, 504})
    audits_ids: ClassVar[bool] = True  # ingest checks the notice-id sequence after the windows (fetch_notice)

    def __init__(self, cfg: SourceConfig, client=None, **client_options: Any):  # noqa: ANN001
        check_window(cfg, self.name)
        if "stages" in cfg.model_fields_set and cfg.stages:
            log.warning("sources.%s.stages is ignored: on Find a Tender it hides every Procurement Act notice "
                        "(sources.md 2.7); every release is stored and labelled by its notice type", self.name)
        super().__init__(cfg, client, **client_options)

    def first_request(self, window: Window) -> tuple[str, dict[str, Any]]:
        """Never `stages`: it hides every Procurement Act notice (sources.md 2.7)."""
        params: dict[str, Any] = {"updatedFrom": fts_time(window.start), "updatedTo": fts_time(window.end),
                                  "limit": self.cfg.page_size}
        return self.url(PACKAGES_PATH), params

    def fetch_window(self, window: Window) -> Iterator[Page]:
        """Read one window by first pages only, splitting a full one in halves down to the floor; parts are
        read oldest first, and each page that completes a part says so (Page.complete_until)."""
        floor = timedelta(seconds=self.cfg.split_floor_seconds)
        todo = [window]
        while todo:
            part = todo.pop()
            url, params = self.first_request(part)
            full = f"{url}?{urlencode(params)}"
            package = self.client.get_json(full, repair=self.repair)
            records = self.records_of(package, full)
            if len(records) < self.cfg.page_size:
                yield Page(url=full, records=records, complete_until=part.end, window=part)
            elif part.end - part.start >= 2 * floor:
                yield Page(url=full, records=records)  # right, but maybe not all: ask for each half
                earlier, later = halves(part)
                todo += [later, earlier]
            else:
                log.warning("%s: window %s at the %gs floor is still full: following links.next (the id audit "
                            "checks it)", self.name, part, self.cfg.split_floor_seconds)
                yield from self._walk(part, full, package, records)

    def _walk(self, part: Window, full: str, package: Any, records: list[Any]) -> Iterator[Page]:
        host, seen = urlsplit(full).netloc, {full}
        while True:
            nxt = self.next_url(package) if isinstance(package, dict) else None
            if nxt is None:
                yield Page(url=full, records=records, complete_until=part.end, window=part, walked=True)
                return
            yield Page(url=full, records=records, walked=True)
            if urlsplit(nxt).netloc != host:
                raise FetchError(full, f"links.next leaves {host}: {nxt}")
            if nxt in seen:
                raise PaginationLoop(full, f"links.next points to a page already read in window {part}: {nxt}")
            seen.add(nxt)
            full = nxt
            package = self.client.get_json(full, repair=self.repair)
            records = self.records_of(package, full)

    def notice_url(self, notice: str) -> str:
        return self.url(f"{PACKAGES_PATH}/{notice}")

    def fetch_notice(self, notice: str) -> Page:
        """The release(s) of one notice id. Raises NoticeNotFound for residue (404, or an empty list)."""
        url = self.notice_url(notice)
        try:
            package = self.client.get_json(url, repair=self.repair)
        except FetchError as e:
            if e.status == 404:
                raise NoticeNotFound(url, "HTTP 404 (never published)", 404) from None
            raise
        records = self.records_of(package, url)
        if not records:
            raise NoticeNotFound(url, "an empty releases list (never published)", 200)
        return Page(url=url, records=records)

    def repair(self, text: str) -> str:
        return repair_numbers(text)

    def parse(self, raw: Any) -> NoticeRecord:
        rec = release_to_notice(raw, self.name, url_for=notice_page_url)
        own = notice_page_url(raw)  # the release's own FTS page beats any copied document link
        return rec.model_copy(update={"url": own}) if own and own != rec.url else rec

    def record_key(self, raw: Any) -> str | None:
        return raw.get("ocid") if isinstance(raw, dict) and isinstance(raw.get("ocid"), str) else None
