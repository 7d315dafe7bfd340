"""Source name -> class. The names are the [sources.<name>] keys of config.toml."""
from __future__ import annotations

from typing import Any

from matcher.config import Config, SourceConfig
from matcher.sources import SOURCE_NAMES
from matcher.sources.base import Source
from matcher.sources.contracts_finder import ContractsFinder
from matcher.sources.digital_marketplace import DigitalMarketplace

SOURCES: dict[str, type[Source]] = {cls.name: cls for cls in (ContractsFinder, DigitalMarketplace)}


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


def enabled_sources(config: Config, only: list[str] | None = None) -> list[tuple[str, SourceConfig]]:
    """(name, config) for each source to poll: the enabled ones, or exactly those named in `only`."""
    if only:
        missing = [n for n in only if n not in config.sources]
        if missing:
            raise UnknownSource(f"source {missing[0]!r} is not configured; configured: {', '.join(config.sources) or 'none'}")
        return [(n, config.sources[n]) for n in only]
    return [(n, c) for n, c in config.sources.items() if c.enabled]
