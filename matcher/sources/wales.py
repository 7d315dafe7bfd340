"""Sell2Wales: the same Proactis notices API at https://api.sell2wales.gov.wales (sources.md §5).

Asked with locale=2057 (en-GB), as the recorded queries were. Since 24 Feb 2025 Welsh buyers publish through
Sell2Wales and their notices must also reach Find a Tender, so most Welsh opportunities arrive twice; the
store keeps one notice with a link to each portal (matcher.ingest.dedupe). Releases carry ids
(`ocds-kuma6s-NNNNNN-release-N`), no SME/VCSE flag, and sometimes placeholder values (0.01 GBP: dropped).
"""
from __future__ import annotations

from typing import Any, ClassVar

from matcher.sources.proactis import ProactisNotices

# noticeType codes: the OJEU-style 1-25 as on PCS, plus the Welsh website types (kingfisher-collect)
OPPORTUNITY_TYPES = (2, 5, 21, 22, 23, 24, 51, 52)  # contract notices; 51 website ITT, 52 website PIN
PIPELINE_TYPES = (1, 4)  # prior information notices: opt in through notice_types
LIFECYCLE_TYPES = (14, 3, 53)  # corrigendum, contract award, website award


class Sell2Wales(ProactisNotices):
    name: ClassVar[str] = "sell2wales"
    default_notice_types: ClassVar[tuple[int, ...]] = OPPORTUNITY_TYPES + LIFECYCLE_TYPES
    extra_params: ClassVar[dict[str, Any]] = {"locale": 2057}
