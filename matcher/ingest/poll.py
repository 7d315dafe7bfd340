"""Poll one source into the store, incrementally from its persisted watermark.

The first poll starts cfg.lookback_days before `now`; later ones cfg.overlap_minutes before the watermark
(portals re-date edited notices, and a release may land just behind the clock). Windows are read oldest
first; each page is stored in one transaction: good records upserted (a later release of a notice updates
it, never duplicates; a copy of a notice another portal published joins that notice, see matcher.ingest.dedupe),
malformed ones quarantined with their reason while the rest of the page is kept.
The watermark moves to a window's end only once the whole window was read (or, for a source that reads a
window in parts, to the end of each part read completely, oldest first); on a failure the error is
recorded and the watermark stays, so the next poll reads from there again. A source whose notice ids form a
sequence (Find a Tender) has its releases recorded by (ocid, release id) and the sequence audited for gaps
after the windows (matcher.ingest.audit); ids still missing are reported as open gaps.
"""
from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from matcher.config import Config
from matcher.progress import Progress
from matcher.schema import NoticeRecord
from matcher.sources.base import Known, Page, Source
from matcher.sources.http import FetchError
from matcher.sources.ocds import MalformedRecord
from matcher.sources.registry import enabled_sources, make_source
from matcher.ingest.notices import (
    get_watermark, hold_releases, quarantine, release_fingerprint, remember_release, seen_fingerprints, upsert_notice,
)
from matcher.ingest.audit import audit_ids
from matcher.store import as_utc, session_scope
from matcher.store.models import ListedItem, PollWindow, utcnow

log = logging.getLogger(__name__)


@dataclass
class PollReport:
    source: str
    since: datetime | None = None
    until: datetime | None = None
    windows: int = 0
    windows_done: int = 0
    pages: int = 0
    requests: int = 0
    inserted: int = 0
    updated: int = 0
    merged: int = 0  # first releases of another portal's copy of a stored notice (matcher.ingest.dedupe)
    unchanged: int = 0
    skipped: int = 0  # listed items not read again: their listing entry is unchanged (the Digital Marketplace)
    quarantined: int = 0
    seconds: float = 0.0
    watermark: datetime | None = None
    error: str | None = None
    quarantine_reasons: list[str] = field(default_factory=list)
    # the notice-id audit (sources whose ids form a sequence; None elsewhere)
    ids_held: int | None = None
    gaps_open: int | None = None
    gaps_filled: int = 0
    residue: int | None = None
    oldest_gap: str | None = None
    by_id_requests: int = 0
    parts_walked: int = 0  # window parts at the split floor read by following links.next

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def complete(self) -> bool:
        """Read without error and no notice id known to be missing."""
        return self.ok and not self.gaps_open

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def poll_start(position: datetime | None, source: Source, now: datetime) -> datetime:
    cfg = source.cfg
    if position is None:
        return now - timedelta(days=cfg.lookback_days)
    return min(as_utc(position), now) - timedelta(minutes=cfg.overlap_minutes)


def _parse(source: Source, raw: Any) -> NoticeRecord:
    try:
        return source.parse(raw)
    except MalformedRecord:
        raise
    except Exception as e:  # a parser bug must not lose the record or the rest of the page
        log.exception("%s: parser failed on a record", source.name)
        raise MalformedRecord(f"parser error ({type(e).__name__}: {e})") from e


def store_page(engine: Engine, source: Source, page: Page, report: PollReport, now: datetime | None = None) -> None:
    """One page in one transaction. A release stored before, exactly as it is now (the same JSON), is
    counted unchanged without being normalised again: re-reading a month or an overlap costs little. The
    listing entries of the pages read (Page.read) are remembered in the same transaction as their records."""
    report.skipped += len(page.skipped)
    with session_scope(engine) as session:
        if getattr(source, "audits_ids", False):
            hold_releases(session, source.name, page.records)
        remember_listed(session, source.name, page.read, now or utcnow())
        prints = [release_fingerprint(source.name, raw) for raw in page.records]
        seen = seen_fingerprints(session, prints)
        for raw, fingerprint in zip(page.records, prints):
            if fingerprint in seen:
                report.unchanged += 1
                continue
            try:
                rec = _parse(source, raw)
            except MalformedRecord as e:
                quarantine(session, source.name, raw, f"{e} (in {page.url})", key=source.record_key(raw))
                report.quarantined += 1
                report.quarantine_reasons.append(str(e))
                continue
            result = upsert_notice(session, rec)
            remember_release(session, fingerprint, source.name, rec.key)
            seen.add(fingerprint)
            setattr(report, result, getattr(report, result) + 1)
        for rej in page.rejects:
            quarantine(session, source.name, rej.payload, f"{rej.reason} (in {page.url})", key=rej.key)
            report.quarantined += 1
            report.quarantine_reasons.append(rej.reason)


def known_listed(session: Session, source: str) -> dict[str, Known]:
    """The items of `source` read before, with what their listing entry said then."""
    rows = session.exec(select(ListedItem).where(ListedItem.source == source))
    return {r.key: Known(r.fingerprint, as_utc(r.read_at)) for r in rows}


def remember_listed(session: Session, source: str, read: dict[str, str], now: datetime) -> None:
    for key, fingerprint in read.items():
        row = session.get(ListedItem, (source, key)) or ListedItem(source=source, key=key, fingerprint=fingerprint)
        row.fingerprint, row.read_at = fingerprint, now
        session.add(row)


def record_failure(engine: Engine, name: str, message: str, now: datetime) -> None:
    """Note a failed poll on the source's watermark (which itself does not move)."""
    with session_scope(engine) as session:
        wm = get_watermark(session, name)
        wm.last_error, wm.last_error_at = message, now
        session.add(wm)


def _advance(engine: Engine, name: str, until: datetime, report: PollReport, page: Page | None = None,
             releases: int = 0) -> None:
    """Everything published before `until` is held: move the watermark there (never back); a part of a
    window read completely is logged (the last complete window `matcher sources status` shows)."""
    with session_scope(engine) as session:
        wm = get_watermark(session, name)
        current = as_utc(wm.position)
        wm.position = until if current is None else max(current, until)
        report.watermark = wm.position
        session.add(wm)
        if page is not None and page.window is not None:
            session.add(PollWindow(source=name, start=page.window.start, end=page.window.end, releases=releases,
                                   walked=page.walked))


def poll_source(engine: Engine, source: Source, now: datetime) -> PollReport:
    """Read everything the source published since its watermark up to `now` (aware UTC)."""
    if not isinstance(now, datetime):
        raise TypeError(f"poll_source: now must be an aware datetime, got {type(now).__name__} {now!r}")
    now = as_utc(now)
    report = PollReport(source=source.name, until=now)
    with session_scope(engine) as session:
        position = get_watermark(session, source.name).position
        source.known = known_listed(session, source.name)
    report.watermark = as_utc(position)
    report.since = poll_start(position, source, now)
    windows = source.windows(report.since, now)
    report.windows = len(windows)
    requests_before = source.client.requests_made
    started = time.monotonic()
    progress = Progress(source.name, total=len(windows), unit="window")
    try:
        for window in windows:
            part_releases = 0
            for page in source.fetch_window(window):
                report.pages += 1
                part_releases += len(page.records)
                store_page(engine, source, page, report, now)
                report.parts_walked += bool(page.walked and page.complete_until)
                if page.complete_until is not None:
                    _advance(engine, source.name, page.complete_until, report, page, part_releases)
                    part_releases = 0
            _advance(engine, source.name, window.end, report)
            report.windows_done += 1
            log.info("%s: window %s done (%d pages so far)", source.name, window, report.pages)
            progress.step(note=f"{window}: {report.pages} pages, {report.inserted} new, {report.updated} updated")
        if getattr(source, "audits_ids", False):
            audit_ids(engine, source, report, now, store_page)
    except FetchError as e:
        report.error = str(e)
        record_failure(engine, source.name, report.error, now)
        log.warning("%s: poll stopped: %s", source.name, e)
    except Exception as e:
        record_failure(engine, source.name, f"{type(e).__name__}: {e}", now)
        raise
    else:
        with session_scope(engine) as session:
            wm = get_watermark(session, source.name)
            wm.last_success_at = now
            session.add(wm)
    finally:
        progress.close()
        report.requests = source.client.requests_made - requests_before
        report.seconds = time.monotonic() - started
        _note_duration(engine, source.name, report.seconds, now)
    return report


def _note_duration(engine: Engine, name: str, seconds: float, now: datetime) -> None:
    """How long the last poll took (the metrics read it); a store that fails here already failed the poll."""
    try:
        with session_scope(engine) as session:
            wm = get_watermark(session, name)
            wm.last_poll_seconds, wm.last_poll_at = seconds, now
            session.add(wm)
    except Exception:  # noqa: BLE001 - the poll's own error is what the report says
        log.exception("could not record how long the poll of %s took", name)


def poll_sources(cfg: Config, engine: Engine, now: datetime, sources: list[str] | None = None) -> list[PollReport]:
    """Poll each enabled source (or those named) up to `now`. Failures are recorded on the source's
    watermark and returned in its report; they are not raised."""
    reports = []
    for name, source_cfg in enabled_sources(cfg, sources):
        try:
            with make_source(name, source_cfg) as source:
                report = poll_source(engine, source, now)
        except Exception as e:  # a bug or a store failure in one source must not stop the others
            log.exception("poll of %s failed", name)
            report = PollReport(source=name, until=now, error=f"{type(e).__name__}: {e}")
            try:
                record_failure(engine, name, report.error, now)
            except Exception:  # the store itself may be what failed; the report still says why
                log.exception("could not record the failure of %s", name)
        if report.error:
            log.warning("poll of %s: %s", name, report.error)
        reports.append(report)
    return reports
