"""Public Contracts Scotland: the Proactis notices API at https://api.publiccontractsscotland.gov.uk (sources.md §4).

Scotland kept the Public Contracts (Scotland) Regulations 2015, so devolved Scottish buyers still advertise
here; Find a Tender republishes their notices under its own ocid with a canonical link back to
https://api.publiccontractsscotland.gov.uk/v1/Notice?id=ocds-r6ebe6-… (the store merges the two).

Quirks: releases have no `id` and a `date` at midnight UTC (day precision); no SME/VCSE flag is published;
the server sends an incomplete TLS chain: set verify_tls in config to a PEM file holding the missing
Sectigo intermediate (see config.toml).
"""
from __future__ import annotations

from typing import ClassVar

from matcher.sources.proactis import ProactisNotices

# noticeType codes (the API's docs; kingfisher-collect proactis_base.py / united_kingdom_scotland.py)
OPPORTUNITY_TYPES = (2, 5, 21, 22, 23, 24, 102)  # contract notices (utilities, social, concessions, website)
PIPELINE_TYPES = (1, 4, 101)  # prior information notices: opt in through notice_types
LIFECYCLE_TYPES = (14, 3, 103)  # corrigendum, contract award, website award: amend or close a stored notice


class PublicContractsScotland(ProactisNotices):
    name: ClassVar[str] = "public_contracts_scotland"
    default_notice_types: ClassVar[tuple[int, ...]] = OPPORTUNITY_TYPES + LIFECYCLE_TYPES
