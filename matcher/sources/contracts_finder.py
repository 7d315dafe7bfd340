"""Contracts Finder: the OCDS search API, read in 15-day windows, following `links.next`.

GET {base}/Published/Notices/OCDS/Search?publishedFrom=…&publishedTo=…&stages=…&limit=100 returns a
release package; `links.next` holds the next page (an opaque base64 cursor). The service answers 403 with
an HTML "rate limit may have been exceeded" page when it wants 5 minutes' silence: 403 is this source's
throttle status, waited out for cfg.rate_limit_wait_seconds unless a Retry-After says otherwise.
Mojibake in the text (`Â£`) is repaired by text.clean_text; bodies that are not UTF-8 by http.decode_body.
"""
from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, ClassVar

from matcher.schema import NoticeRecord
from matcher.sources.base import HourlyWindows, LinksPaginated, Source, Window
from matcher.sources.ocds import release_to_notice

SEARCH_PATH = "/Published/Notices/OCDS/Search"
PUBLIC_SITE = "https://www.contractsfinder.service.gov.uk"
_RELEASE_SEQUENCE = re.compile(r"-\d+$")


def cf_time(when: datetime) -> str:
    """The service's own form (as in its recorded queries): ISO 8601 without an offset, in UTC."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def notice_page_url(release: dict) -> str | None:
    """https://www.contractsfinder.service.gov.uk/Notice/<GUID>, the GUID being the release id minus its
    last -NNNNNN (sources.md 1.5). Used when the release carries no tenderNotice/awardNotice document."""
    release_id = release.get("id")
    if not isinstance(release_id, str) or not _RELEASE_SEQUENCE.search(release_id):
        return None
    return f"{PUBLIC_SITE}/Notice/{_RELEASE_SEQUENCE.sub('', release_id)}"


class ContractsFinder(HourlyWindows, LinksPaginated, Source):
    name: ClassVar[str] = "contracts_finder"
    throttle_statuses: ClassVar[frozenset[int]] = frozenset({403, 429})

    def first_request(self, window: Window) -> tuple[str, dict[str, Any]]:
        params: dict[str, Any] = {"publishedFrom": cf_time(window.start), "publishedTo": cf_time(window.end)}
        if self.cfg.stages:
            params["stages"] = ",".join(self.cfg.stages)
        params["limit"] = self.cfg.page_size
        return self.url(SEARCH_PATH), params

    def parse(self, raw: Any) -> NoticeRecord:
        return release_to_notice(raw, self.name, url_for=notice_page_url)

    def record_key(self, raw: Any) -> str | None:
        return raw.get("ocid") if isinstance(raw, dict) and isinstance(raw.get("ocid"), str) else None
