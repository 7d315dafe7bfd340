"""Completeness by notice id, for a source whose ids run without gaps within a year (Find a Tender:
`000001-2026`, `000002-2026`, …; sources.md 2.7).

After a poll's windows, every id missing between the lowest and the highest id held in a year is a gap. Each
gap is asked for one id at a time (`source.fetch_notice`, politely: the same client and delay), oldest first,
at most cfg.audit_max_requests per poll:
- a release found is stored like any other (it was lost by the listing): the gap is filled;
- 404 or an empty `releases` list is residue (an id never published): recorded, and asked again only on a
  later poll at least cfg.residue_recheck_hours later (an id may be published late), until it has been
  asked cfg.residue_retries times, then never again;
- ids not asked yet (the budget ran out) or whose request failed stay open gaps: the poll says so, and the
  next poll asks again.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from matcher.sources.find_a_tender import NoticeNotFound
from matcher.sources.http import FetchError
from matcher.store import as_utc, session_scope
from matcher.store.models import NoticeIdProbe, SourceRelease

log = logging.getLogger(__name__)


@dataclass
class SequenceState:
    ids_held: int
    open_ids: list[str]  # missing and not residue, oldest first
    residue: int  # ids answered 404 / empty
    retry: list[str]  # residue ids that may still be asked again

    @property
    def oldest_gap(self) -> str | None:
        return self.open_ids[0] if self.open_ids else None


def _id(year: int, number: int) -> str:
    return f"{number:06d}-{year}"


def sequence_state(session: Session, source: str, residue_retries: int, now: datetime | None = None,
                   recheck: timedelta = timedelta(0)) -> SequenceState:
    """What the store holds of `source`'s id sequence: ids held, gaps still open, residue (and, as of `now`,
    the residue ids due to be asked again)."""
    numbers = session.exec(
        select(SourceRelease.notice_year, SourceRelease.notice_number).distinct()
        .where(SourceRelease.source == source, SourceRelease.notice_year.is_not(None))  # type: ignore[union-attr]
    ).all()
    held: dict[int, set[int]] = {}
    for year, number in numbers:
        held.setdefault(year, set()).add(number)
    probes = {p.notice_id: p for p in session.exec(select(NoticeIdProbe).where(NoticeIdProbe.source == source))}
    open_ids, retry = [], []
    residue = 0
    for year in sorted(held):
        got = held[year]
        for number in range(min(got), max(got) + 1):
            if number in got:
                continue
            nid = _id(year, number)
            probe = probes.get(nid)
            if probe is not None and probe.state == "residue":
                residue += 1
                tried = as_utc(probe.last_tried_at)
                if probe.attempts < residue_retries and (now is None or tried is None or now - tried >= recheck):
                    retry.append(nid)
            else:
                open_ids.append(nid)
    return SequenceState(sum(len(v) for v in held.values()), open_ids, residue, retry)


def _probe(session: Session, source: str, nid: str) -> NoticeIdProbe:
    probe = session.get(NoticeIdProbe, (source, nid))
    return probe or NoticeIdProbe(source=source, notice_id=nid)


def audit_ids(engine: Engine, source, report, now: datetime, store_page: Callable) -> None:  # noqa: ANN001
    """Fill the gaps of source's id sequence by id, within the per-poll budget (a release found is stored
    with `store_page(engine, source, page, report)`); the report gets the counts."""

    cfg = source.cfg
    with session_scope(engine) as session:
        state = sequence_state(session, source.name, cfg.residue_retries, now, timedelta(hours=cfg.residue_recheck_hours))
    budget = cfg.audit_max_requests
    asked = [*state.open_ids, *state.retry]  # never-asked gaps first, then residue due a recheck
    before = source.client.requests_made
    for nid in asked[:budget]:
        try:
            page = source.fetch_notice(nid)
        except NoticeNotFound as e:
            with session_scope(engine) as session:
                probe = _probe(session, source.name, nid)
                probe.state, probe.attempts = "residue", probe.attempts + 1
                probe.last_answer, probe.last_tried_at = e.reason, now
                session.add(probe)
            continue
        except FetchError as e:
            report.error = f"id audit stopped at {nid}: {e}"
            log.warning("%s: %s", source.name, report.error)
            break
        report.pages += 1
        store_page(engine, source, page, report)
        with session_scope(engine) as session:
            probe = _probe(session, source.name, nid)
            probe.state, probe.attempts, probe.last_answer, probe.last_tried_at = "found", probe.attempts + 1, "found", now
            session.add(probe)
        report.gaps_filled += 1
        log.info("%s: notice %s was missing from the listing; fetched by id", source.name, nid)
    report.by_id_requests = source.client.requests_made - before
    with session_scope(engine) as session:
        final = sequence_state(session, source.name, cfg.residue_retries)
    report.ids_held, report.gaps_open, report.residue = final.ids_held, len(final.open_ids), final.residue
    report.oldest_gap = final.oldest_gap
    if final.open_ids:
        log.warning("%s: %d notice id(s) still missing (oldest %s); the next poll asks again", source.name,
                    len(final.open_ids), final.oldest_gap)

