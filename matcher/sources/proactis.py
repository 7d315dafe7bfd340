"""The Proactis notices API that Public Contracts Scotland and Sell2Wales share (sources.md §4, §5).

GET {base}/v1/Notices?dateFrom=MM-YYYY&noticeType=N&outputType=0 returns one OCDS release package: every
notice of that type published in that month. There is no pagination and no finer date filter, so:

- a window is a calendar month (MonthlyWindows), read as one request per configured notice type;
- each poll starts overlap_minutes before the watermark, which lies in the current month, so the current
  month is read again every poll; upsert_notice makes an unchanged release a no-op, so only what is new
  (or amended) is stored;
- a month with nothing of a type may come back as a package with no `releases` array: no records;
- the key is the ocid (Scottish releases carry no release id).

Subclasses set `name` and `default_notice_types` (used when the config's notice_types is empty).
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar
from urllib.parse import urlencode

from matcher.schema import NoticeRecord
from matcher.sources.base import MonthlyWindows, Page, Source, Window, package_records
from matcher.sources.ocds import release_to_notice

NOTICES_PATH = "/v1/Notices"
OCDS_OUTPUT = 0  # outputType 0 = OCDS; 1 is the portals' own (TED-like) format


class ProactisNotices(MonthlyWindows, Source):
    default_notice_types: ClassVar[tuple[int, ...]] = (2,)
    extra_params: ClassVar[dict[str, Any]] = {}

    def notice_types(self) -> list[int]:
        return list(self.cfg.notice_types or self.default_notice_types)

    def request_url(self, window: Window, notice_type: int) -> str:
        params = {"dateFrom": window.label, "noticeType": notice_type, "outputType": OCDS_OUTPUT, **self.extra_params}
        return f"{self.url(NOTICES_PATH)}?{urlencode(params)}"

    def fetch_window(self, window: Window) -> Iterator[Page]:
        """One page per notice type; the window is done only when every type was read."""
        for notice_type in self.notice_types():
            url = self.request_url(window, notice_type)
            package = self.client.get_json(url)
            yield Page(url=url, records=package_records(package, url))

    def parse(self, raw: Any) -> NoticeRecord:
        return release_to_notice(raw, self.name)

    def record_key(self, raw: Any) -> str | None:
        return raw.get("ocid") if isinstance(raw, dict) and isinstance(raw.get("ocid"), str) else None
