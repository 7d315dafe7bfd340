"""Source name -> class. The names are the [sources.<name>] keys of config.toml."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from matcher.config import Config, SourceConfig
from matcher.sources import SOURCE_NAMES
from matcher.sources.base import Source
from matcher.sources.contracts_finder import ContractsFinder
from matcher.sources.digital_marketplace import DigitalMarketplace
from matcher.sources.find_a_tender import FindATender
from matcher.sources.scotland import PublicContractsScotland
from matcher.sources.wales import Sell2Wales

SOURCES: dict[str, type[Source]] = {
    cls.name: cls for cls in (ContractsFinder, DigitalMarketplace, FindATender, PublicContractsScotland, Sell2Wales)
}
# Polling order: the portals notices originate on before those that republish them, so that when both
# copies are new in one run the originating portal's copy is stored first and becomes the canonical notice
# (the store keeps the first copy stored; see matcher.ingest.dedupe). Find a Tender republishes Scottish and Welsh
# notices; Contracts Finder carries copies of English notices first advertised on Find a Tender.
POLL_ORDER = ("public_contracts_scotland", "sell2wales", "find_a_tender", "contracts_finder", "digital_marketplace")


class UnknownSource(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


def source_class(name: str) -> type[Source]:
    if name in SOURCES:
        return SOURCES[name]
    if name in SOURCE_NAMES:
        raise UnknownSource(f"source {name!r} is recognised but has no client yet; implemented: {', '.join(SOURCES)}")
    raise UnknownSource(f"unknown source {name!r}; known: {', '.join(SOURCES)}")


def make_source(name: str, cfg: SourceConfig, **client_options: Any) -> Source:
    """A ready client for one portal; `client_options` go to PoliteClient (e.g. sleep, transport)."""
    return source_class(name)(cfg, **client_options)


def _resolved(config: Config, cfg: SourceConfig) -> SourceConfig:
    """verify_tls given as a relative path is relative to the config file's folder."""
    if isinstance(cfg.verify_tls, str):
        return cfg.model_copy(update={"verify_tls": str(config.path(Path(cfg.verify_tls)).resolve())})
    return cfg


def _poll_rank(name: str) -> int:
    return POLL_ORDER.index(name) if name in POLL_ORDER else len(POLL_ORDER)


def enabled_sources(config: Config, only: list[str] | None = None) -> list[tuple[str, SourceConfig]]:
    """(name, config) for each source to poll, in POLL_ORDER: the enabled ones, or exactly those named in `only`."""
    if only:
        missing = [n for n in only if n not in config.sources]
        if missing:
            raise UnknownSource(f"source {missing[0]!r} is not configured; configured: {', '.join(config.sources) or 'none'}")
        names = list(dict.fromkeys(only))
    else:
        names = [n for n, c in config.sources.items() if c.enabled]
    return [(n, _resolved(config, config.sources[n])) for n in sorted(names, key=_poll_rank)]
