"""Digital Marketplace (Digital Outcomes and Specialists): public listing and opportunity pages.

There is no public API (the data API needs a token), so each poll reads the open-opportunities listing
({base}/digital-outcomes-and-specialists/opportunities?statusOpenClosed=open&page=N, following the
"Next" link) and fetches each listed opportunity page, turned into a brief dict in API field names
(dm_html) and then into a notice (dm_brief). `parse` also takes brief JSON in the API shape, as the
data API and digital_marketplace.jsonl hold it.

What to expect today: the Marketplace stopped advertising new opportunities when DOS moved to an
authenticated eSourcing portal, so the live listing has nothing open and a poll costs one request.
Against recorded pages (the replay server) it reads what was open on the recording day.

Re-polls are cheap: the portal answers no conditional request (its pages carry no ETag or Last-Modified, and
vary by session cookie), so each listing entry (title, buyer, location, lot, dates, summary) is fingerprinted
and an opportunity page is read again only when its entry changed, or cfg.refresh_hours after it was last
read (answers to suppliers' questions appear on the page, not in the listing). A re-poll that finds nothing
new reads the listing pages only.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, ClassVar
from urllib.parse import urlencode

from matcher.schema import NoticeRecord
from matcher.sources import dm_html
from matcher.sources.base import Page, PaginationLoop, Reject, SnapshotWindow, Source, Window
from matcher.sources.dm_brief import brief_to_notice
from matcher.sources.http import FetchError
from matcher.sources.ocds import MalformedRecord

log = logging.getLogger(__name__)

LISTING_PATH = "/digital-outcomes-and-specialists/opportunities"
GONE = (404, 410)


@lru_cache(maxsize=4)
def _listing(text: str, url: str) -> dm_html.ListingPage:
    """A listing page read once: the client's check and the poll share the parse."""
    return dm_html.parse_listing(text, url)


def _check_listing(text: str, url: str) -> None:
    _listing(text, url)  # raises BadBody for an error page served with a 200


class DigitalMarketplace(SnapshotWindow, Source):
    name: ClassVar[str] = "digital_marketplace"
    listing_params: ClassVar[dict[str, str]] = {"statusOpenClosed": "open"}

    def fetch_window(self, window: Window) -> Iterator[Page]:
        url: str | None = f"{self.url(LISTING_PATH)}?{urlencode(self.listing_params)}"
        seen: set[str] = set()
        while url:
            seen.add(url)
            text = self.client.get_text(url, expect=_check_listing)
            listing = _listing(text, url)
            page = Page(url=url)
            for brief_id in listing.ids:
                key, entry = f"dm-{brief_id}", listing.entries.get(brief_id)
                if entry is not None and self._still_fresh(key, entry, window.end):
                    page.skipped.append(key)
                    continue
                if self._read_opportunity(brief_id, page) and entry is not None:
                    page.read[key] = entry
            yield page
            if listing.next_url in seen:
                raise PaginationLoop(url, f"the listing's Next link points to a page already read: {listing.next_url}")
            url = listing.next_url

    def _still_fresh(self, key: str, entry: str, now: datetime) -> bool:
        """Whether the page read before still stands: its listing entry is unchanged, and it was read less than
        cfg.refresh_hours ago (questions and answers can grow on the page under an unchanged entry)."""
        known = self.known.get(key)
        return (known is not None and known.fingerprint == entry
                and now - known.read_at < timedelta(hours=self.cfg.refresh_hours))

    def _read_opportunity(self, brief_id: int, page: Page) -> bool:
        """Fetch one opportunity page into `page`; False when it is gone (a trace is kept; read it again later)."""
        url = self.url(f"{LISTING_PATH}/{brief_id}")
        try:
            html = self.client.get_text(url, expect=dm_html.check_opportunity_page)
        except FetchError as e:
            if e.status in GONE:  # listed but gone: keep a trace, read the rest
                page.rejects.append(Reject({"url": url}, f"opportunity page answered HTTP {e.status}", f"dm-{brief_id}"))
                return False
            raise
        try:
            page.records.append(dm_html.parse_opportunity(html, url))
        except MalformedRecord as e:
            page.rejects.append(Reject({"url": url, "html": html}, str(e), f"dm-{brief_id}"))
        return True

    def parse(self, raw: Any) -> NoticeRecord:
        if isinstance(raw, dict) and isinstance(raw.get("briefs"), dict):  # GET /briefs/<id> wraps the brief
            raw = raw["briefs"]
        return brief_to_notice(raw, self.name)

    def record_key(self, raw: Any) -> str | None:
        if isinstance(raw, dict) and str(raw.get("id", "")).strip().isdigit():
            return f"dm-{int(str(raw['id']).strip())}"
        return None
