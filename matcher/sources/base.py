"""Shared bases for portal clients (kingfisher-collect style: each portal is a small class on these).

A source splits the time to poll into windows (`windows`), reads one window as a sequence of pages
(`fetch_window`), and turns one raw record into a NoticeRecord (`parse`, raising MalformedRecord).
The window policy and the pagination style are mixins, so a new portal picks the pair it needs:

- HourlyWindows: fixed windows of cfg.window_hours (Contracts Finder 15 days, Find a Tender 6 hours).
- MonthlyWindows: one window per calendar month (Public Contracts Scotland and Sell2Wales take MM-YYYY).
- SnapshotWindow: one window for the whole span (a listing with no date filter: the Digital Marketplace).
- LinksPaginated: follow `links.next` in each JSON package until it is absent, refusing to loop.
"""
from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import urlencode, urlsplit

from matcher.config import SourceConfig
from matcher.schema import NoticeRecord
from matcher.sources.http import BadBody, FetchError, PoliteClient

log = logging.getLogger(__name__)


class PaginationLoop(FetchError):
    """A `links.next` that points back to a page already read in this window."""


@dataclass(frozen=True)
class Window:
    """A span of publication times to ask a portal for: start inclusive, end exclusive, aware UTC."""

    start: datetime
    end: datetime
    label: str = ""

    def __str__(self) -> str:
        return self.label or f"{self.start:%Y-%m-%dT%H:%M}Z..{self.end:%Y-%m-%dT%H:%M}Z"


@dataclass
class Reject:
    """A record the source could not even turn into a raw record (e.g. an unreadable HTML page)."""

    payload: Any
    reason: str
    key: str | None = None


@dataclass
class Page:
    """One response's worth of raw records; the ingest step stores each page in one transaction."""

    url: str
    records: list[Any] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    # set by a source that reads a window in parts (Find a Tender): once this page is stored, everything
    # published before `complete_until` is held, so the watermark may move there (`window` is that part)
    complete_until: datetime | None = None
    window: Window | None = None
    walked: bool = False  # the part was read by following links.next (checked by the id audit)
    # listing-only portals: {item key: listing fingerprint} of the pages read for this page (stored with it),
    # and the keys of listed items not re-read because their entry is unchanged
    read: dict[str, str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Known:
    """What a listing entry said when its page was last read (ingest passes these to the source)."""

    fingerprint: str
    read_at: datetime


class Source(ABC):
    """One portal. Subclasses set `name`, pick a window mixin, and implement fetch_window and parse."""

    name: ClassVar[str]
    # statuses the portal uses to say "slow down": waited out for cfg.rate_limit_wait_seconds
    throttle_statuses: ClassVar[frozenset[int]] = frozenset({429})

    def __init__(self, cfg: SourceConfig, client: PoliteClient | None = None, **client_options: Any):
        self.cfg = cfg
        self.client = client or PoliteClient(cfg, throttle_statuses=self.throttle_statuses, **client_options)
        self.known: dict[str, Known] = {}  # listing-only portals: the items read before (Page.read)

    # -- to implement ----------------------------------------------------------------------------
    @abstractmethod
    def windows(self, since: datetime, until: datetime) -> list[Window]:
        """The windows covering [since, until), oldest first."""

    @abstractmethod
    def fetch_window(self, window: Window) -> Iterator[Page]:
        """Yield the pages of one window in order. Raises FetchError when the window cannot be read."""

    @abstractmethod
    def parse(self, raw: Any) -> NoticeRecord:
        """One raw record to a NoticeRecord. Raises MalformedRecord saying what is wrong."""

    def record_key(self, raw: Any) -> str | None:
        """The record's key when it can be read, so a quarantined record can be traced."""
        return None

    # -- helpers ---------------------------------------------------------------------------------
    def url(self, path: str) -> str:
        return self.cfg.base_url + path

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> "Source":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.cfg.base_url}>"


# -- window policies ---------------------------------------------------------------------------------
def _split(since: datetime, until: datetime, step: timedelta) -> list[Window]:
    out, start = [], since
    while start < until:
        end = min(start + step, until)
        out.append(Window(start, end))
        start = end
    return out


class HourlyWindows:
    """Fixed windows of cfg.window_hours; the last one ends at `until`."""

    cfg: SourceConfig

    def windows(self, since: datetime, until: datetime) -> list[Window]:
        return _split(since, until, timedelta(hours=self.cfg.window_hours))


class MonthlyWindows:
    """One window per calendar month touched by [since, until), labelled MM-YYYY as the Proactis APIs
    (Public Contracts Scotland, Sell2Wales) take it. The API returns the whole month; the window's
    start/end are clipped to [since, until) so the watermark still advances by what was asked for."""

    def windows(self, since: datetime, until: datetime) -> list[Window]:
        out = []
        month = since.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        while month < until:
            following = (month + timedelta(days=32)).replace(day=1)
            out.append(Window(max(since, month), min(until, following), label=f"{month:%m-%Y}"))
            month = following
        return out


class SnapshotWindow:
    """A single window: the portal has no date filter, so every poll reads its current listing."""

    def windows(self, since: datetime, until: datetime) -> list[Window]:
        return [Window(since, until, label="current listing")] if since < until else []


# -- pagination ----------------------------------------------------------------------------------
PACKAGE_KEYS = frozenset({"uri", "publishedDate", "publisher", "version", "links"})


def package_records(package: Any, url: str, records_field: str = "releases") -> list[Any]:
    """The records of a JSON release package. A package with no releases array holds none (the Proactis
    APIs answer so for a month with nothing of a notice type); anything else that is not a package is
    BadBody (retried like any transient fault)."""
    if not isinstance(package, dict):
        raise BadBody(url, f"expected a JSON object (a release package), got {type(package).__name__}")
    records = package.get(records_field)
    if records is None:
        if not PACKAGE_KEYS & package.keys():  # e.g. {"Message": "An error has occurred."} with a 200
            raise BadBody(url, f"a JSON object that is not a release package (keys: {', '.join(sorted(package)[:5]) or 'none'})")
        return []
    if not isinstance(records, list):
        raise BadBody(url, f"'{records_field}' is {type(records).__name__}, not a list")
    return records


class LinksPaginated:
    """Read a JSON package, yield its records, follow `links.next` until it is absent.

    Subclasses give `first_request(window) -> (url, params)`. A next link that was already followed in
    this window raises PaginationLoop (the client would otherwise read the same page forever), as does
    one that leaves the portal's host.
    """

    cfg: SourceConfig
    client: PoliteClient
    records_field: ClassVar[str] = "releases"

    def first_request(self, window: Window) -> tuple[str, dict[str, Any]]:
        raise NotImplementedError

    def repair(self, text: str) -> str:
        """Hook for a portal's known body quirks; the default changes nothing."""
        return text

    def records_of(self, package: Any, url: str) -> list[Any]:
        return package_records(package, url, self.records_field)

    def next_url(self, package: dict) -> str | None:
        links = package.get("links")
        nxt = links.get("next") if isinstance(links, dict) else None
        return nxt if isinstance(nxt, str) and nxt.strip() else None

    def fetch_window(self, window: Window) -> Iterator[Page]:
        url, params = self.first_request(window)
        full = f"{url}?{urlencode(params)}" if params else url
        host = urlsplit(full).netloc
        seen: set[str] = set()
        while True:
            seen.add(full)
            package = self.client.get_json(full, repair=self.repair)
            yield Page(url=full, records=self.records_of(package, full))
            nxt = self.next_url(package)
            if nxt is None:
                return
            if urlsplit(nxt).netloc != host:
                raise FetchError(full, f"links.next leaves {host}: {nxt}")
            if nxt in seen:
                raise PaginationLoop(full, f"links.next points to a page already read in window {window}: {nxt}")
            full = nxt
