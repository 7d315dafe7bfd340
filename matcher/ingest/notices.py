"""Writing source records into the store: notice upserts (one notice per opportunity across portals, a later
release of the same ocid updates), releases already seen, the quarantine, and per-source watermarks."""
from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Literal

from sqlmodel import Session, select

from matcher import __version__
from matcher.ingest import dedupe
from matcher.schema import NoticeRecord, Supplier
from matcher.sources.ocds import AWARDED_RANK, lifecycle_rank
from matcher.store.engine import as_utc
from matcher.store.models import Notice, NoticeAlias, Quarantined, SeenRelease, SourceRelease, Watermark, utcnow

UpsertResult = Literal["inserted", "updated", "merged", "unchanged"]
AMENDMENT_TAG_ENDINGS = ("Update", "Amendment", "Cancellation", "Termination")


def _fields(rec: NoticeRecord) -> dict:
    data = rec.model_dump(mode="python")
    data["suppliers"] = [s.model_dump() for s in rec.suppliers]
    data["links"] = [link.model_dump() for link in rec.links]
    data["lots"] = [lot.model_dump() for lot in rec.lots]
    for k in ("published_at", "closes_at", "updated_at", "engagement_deadline"):
        data[k] = as_utc(data[k])
    data["content_hash"] = rec.content_hash()
    return data


def supersedes(rec: NoticeRecord, row: Notice) -> bool:
    """Whether `rec` (a release of the stored notice `row`, from any of its copies) replaces its content.

    The newer release wins (portals re-serve old releases), except that a notice that reached award or
    beyond (or was cancelled) is never reopened by a tender or planning release, whatever its date. On
    equal dates the release further along wins; between copies on equal terms, the canonical copy does.
    """
    new_rank, old_rank = lifecycle_rank(rec.stage, rec.status), lifecycle_rank(row.stage, row.status)
    if old_rank >= AWARDED_RANK > new_rank:
        return False
    new, old = as_utc(rec.updated_at), as_utc(row.updated_at)
    if new is not None and old is not None and new != old:
        return new > old
    if new_rank != old_rank:
        return new_rank > old_rank
    return rec.key == row.key


def _canonical_of(session: Session, key: str) -> Notice | None:
    """The stored notice `key` names: its own, or the one it was merged into."""
    row = session.exec(select(Notice).where(Notice.key == key)).first()
    if row is not None:
        return row
    alias = session.get(NoticeAlias, key)
    if alias is None:
        return None
    return session.exec(select(Notice).where(Notice.key == alias.canonical_key)).first()


def _candidates(session: Session, rec: NoticeRecord) -> list[dedupe.Candidate]:
    if rec.closes_at is None:
        return []
    low, high = dedupe.closing_span(as_utc(rec.closes_at))
    stmt = select(Notice.key, Notice.source, Notice.title, Notice.buyer, Notice.closes_at, Notice.links).where(
        Notice.closes_at >= low, Notice.closes_at <= high, Notice.source != rec.source)
    return [dedupe.Candidate(key, source, title, buyer, as_utc(closes), dedupe.copy_sources(links or []))
            for key, source, title, buyer, closes, links in session.exec(stmt)]


def find_stored(session: Session, rec: NoticeRecord) -> tuple[Notice | None, str | None]:
    """(the stored notice rec is a release of, why it is a copy) or (None, None) for a new opportunity."""
    row = _canonical_of(session, rec.key)
    if row is not None:
        return row, None
    for key in dedupe.linked_keys(rec):
        row = _canonical_of(session, key)
        if row is not None:
            return row, f"canonical link from {rec.key} ({rec.source}) to {key}"
    found = dedupe.near_duplicate(rec, _candidates(session, rec))
    if found is not None:
        return session.exec(select(Notice).where(Notice.key == found.key)).one(), found.reason
    return None, None


def _note_copy(session: Session, rec: NoticeRecord, row: Notice, reason: str | None, now: datetime) -> tuple[bool, NoticeAlias]:
    """Record rec.key as a copy of row; (True the first time a release of that copy is stored, the alias)."""
    alias = session.get(NoticeAlias, rec.key)
    if alias is None:
        alias = NoticeAlias(key=rec.key, canonical_key=row.key, source=rec.source, reason=reason or f"copy of {row.key}")
    elif alias.first_seen is not None:
        return False, alias
    alias.first_seen, alias.merged_release_at = now, as_utc(rec.updated_at)
    session.add(alias)
    session.flush()
    return True, alias


def _copy_updates(rec: NoticeRecord, row: Notice, alias: NoticeAlias, merged: bool) -> bool:
    """Whether a release of another portal's copy changes the stored notice (given it supersedes it).

    A copy is a republication: its own first release says nothing new and leaves the notice as the
    canonical copy published it. What does change it: a release further along (award, cancellation), an
    amendment (…Update, …Amendment, …Cancellation tags), or any later release of the copy.
    """
    if lifecycle_rank(rec.stage, rec.status) > lifecycle_rank(row.stage, row.status):
        return True
    if rec.stage and rec.stage.endswith(AMENDMENT_TAG_ENDINGS):
        return True
    released, baseline = as_utc(rec.updated_at), as_utc(alias.merged_release_at)
    return not merged and released is not None and baseline is not None and released > baseline


def _expect_copies(session: Session, rec: NoticeRecord, now: datetime) -> None:
    """Register the notices rec's canonical links name as aliases of it, so they join it when they arrive."""
    for link in rec.links:
        if link.key and link.key != rec.key and _canonical_of(session, link.key) is None:
            session.add(NoticeAlias(key=link.key, canonical_key=rec.key, source=link.source,
                                    reason=f"named by the canonical link of {rec.key} ({rec.source})", created_at=now))
    session.flush()


def _as_copy_of(rec: NoticeRecord, row: Notice) -> NoticeRecord:
    """rec's content under the stored notice's identity; what rec lacks (suppliers, SME/VCSE flags) is kept."""
    update: dict = {"key": row.key, "source": row.source}
    if rec.key != row.key:  # the canonical copy's page, and when the opportunity was first published
        update["url"] = row.url or rec.url
        update["published_at"] = as_utc(row.published_at) or rec.published_at
    if not rec.suppliers and row.suppliers:
        update["suppliers"] = [Supplier(**s) for s in row.suppliers]
    for flag in ("sme_suitable", "vcse_suitable"):
        if getattr(rec, flag) is None and getattr(row, flag) is not None:
            update[flag] = getattr(row, flag)
    return rec.model_copy(update=update)


def upsert_notice(session: Session, rec: NoticeRecord) -> UpsertResult:
    """Store one release: a new notice, an update of the stored one (a newer release of it, from any of its
    copies: see supersedes), or nothing when it is not newer or nothing a user sees changed.

    "merged" means rec is the first release seen of another portal's copy of a stored notice (dedupe).
    """
    now = utcnow()
    row, reason = find_stored(session, rec)
    referenced = [link.model_dump() for link in rec.links]
    if row is None:
        links = dedupe.merge_links([], [dedupe.own_link(rec), *referenced])
        session.add(Notice(**{**_fields(rec), "links": links}, first_seen=now, last_seen=now))
        session.flush()
        _expect_copies(session, rec, now)
        return "inserted"
    merged = False
    current = supersedes(rec, row)
    if rec.key != row.key:
        merged, alias = _note_copy(session, rec, row, reason, now)
        current = current and _copy_updates(rec, row, alias, merged)
    # the copy's own page URL replaces what another portal's link said of it, and an older release's URL
    links = dedupe.merge_links(row.links, [dedupe.own_link(rec, current or merged), *referenced])
    changed = False
    if current:
        fields = _fields(_as_copy_of(rec, row))
        fields.pop("links")
        if fields["content_hash"] != row.content_hash:
            for k, v in fields.items():
                setattr(row, k, v)
            changed = True
    if links != row.links:
        row.links, changed = links, True
    row.last_seen = now
    session.add(row)
    return "merged" if merged else "updated" if changed else "unchanged"


def release_fingerprint(source: str, raw: object) -> str:
    """A release's identity for "seen before": its JSON (keys sorted) under this normaliser's version, so
    an upgrade normalises everything once more."""
    text = json.dumps(raw, ensure_ascii=False, sort_keys=True, default=str)
    return hashlib.sha256(f"{__version__}\n{source}\n{text}".encode()).hexdigest()


def seen_fingerprints(session: Session, fingerprints: list[str]) -> set[str]:
    if not fingerprints:
        return set()
    stmt = select(SeenRelease.fingerprint).where(SeenRelease.fingerprint.in_(fingerprints))  # type: ignore[attr-defined]
    return set(session.exec(stmt))


def remember_release(session: Session, fingerprint: str, source: str, key: str | None) -> None:
    if session.get(SeenRelease, fingerprint) is None:
        session.add(SeenRelease(fingerprint=fingerprint, source=source, key=key))


def hold_releases(session: Session, source: str, records: list) -> int:
    """Record each release received by (source, ocid, release id), readable or not (a quarantined release was
    received too): what the notice-id audit counts as held. Returns how many were new."""
    from matcher.sources.find_a_tender import notice_number

    keys = {}
    for raw in records:
        if isinstance(raw, dict) and isinstance(raw.get("ocid"), str) and raw.get("id") not in (None, ""):
            keys[(raw["ocid"].strip()[:200], str(raw["id"]).strip()[:200])] = notice_number(raw["id"])
    if not keys:
        return 0
    held = set(session.exec(select(SourceRelease.ocid, SourceRelease.release_id).where(
        SourceRelease.source == source, SourceRelease.release_id.in_({r for _, r in keys}))).all())  # type: ignore[attr-defined]
    new = [(k, n) for k, n in keys.items() if k not in held]
    for (ocid, release_id), year_number in new:
        session.add(SourceRelease(source=source, ocid=ocid, release_id=release_id,
                                  notice_year=year_number[0] if year_number else None,
                                  notice_number=year_number[1] if year_number else None))
    session.flush()
    return len(new)


def quarantine(session: Session, source: str, payload: object, reason: str, key: str | None = None) -> bool:
    """Keep a record that could not be used, with why. Returns False if the same payload is already held."""
    text = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False, sort_keys=True)
    digest = hashlib.sha256(f"{source}\n{text}".encode()).hexdigest()
    exists = session.exec(select(Quarantined.id).where(Quarantined.payload_hash == digest)).first()
    if exists:
        return False
    session.add(Quarantined(source=source, key=key, reason=reason, payload=text, payload_hash=digest))
    return True


def get_watermark(session: Session, source: str) -> Watermark:
    wm = session.get(Watermark, source)
    if wm is None:
        wm = Watermark(source=source)
        session.add(wm)
        session.flush()
    return wm
