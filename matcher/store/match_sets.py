"""A period's matches as MatchSets: what the match job chose for each SME, one JSON list per distinct list.

The match job writes one WeekOutcome row per SME and period, naming its MatchSet (`encode` makes the set's key and
text); SMEs that got the same list share one set. The digest build reads the sets (`chosen_items`: each set parsed
once), picks what to list and writes only those items as Match rows, attached to the digest (`attach`).
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import and_
from sqlmodel import Session, col, select

from matcher.store.bulk import id_groups
from matcher.store.models import Match, MatchSet, WeekOutcome, utcnow

# an item of a set, as a JSON object with these keys: the Match columns but the SME, period and digest
ITEM_FIELDS = ("notice_key", "rank", "dense", "lexical", "keyword", "cpv", "raw_score", "score", "explanation")


def encode(items: Sequence[Sequence[Any]]) -> tuple[str, str]:
    """(key, text) for a set of items, each a sequence of values in ITEM_FIELDS order (floats as Python floats)."""
    text = json.dumps([dict(zip(ITEM_FIELDS, item, strict=True)) for item in items], separators=(",", ":"),
                      ensure_ascii=False)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest(), text


def chosen_items(session: Session, week: str, profile_ids: Sequence[str] | None = None) -> dict[str, list[dict]]:
    """Per SME (all with a set this period, or only `profile_ids`), the items the match run chose, in its order.
    SMEs sharing a set share one list of dicts: never change them in place."""
    stmt = select(WeekOutcome.profile_id, WeekOutcome.match_set).where(
        WeekOutcome.week == week, col(WeekOutcome.match_set).is_not(None))
    pairs: list[tuple[str, str]] = []
    if profile_ids is None:
        pairs = list(session.exec(stmt))
    else:
        for group in id_groups(session, list(profile_ids)):
            pairs += session.exec(stmt.where(col(WeekOutcome.profile_id).in_(group)))
    wanted = sorted({key for _, key in pairs})
    sets: dict[str, list[dict]] = {}
    for start in range(0, len(wanted), 500):
        part = wanted[start:start + 500]
        for key, text in session.exec(select(MatchSet.key, MatchSet.items).where(
                MatchSet.week == week, col(MatchSet.key).in_(part))):
            sets[key] = json.loads(text)
    return {pid: sets[key] for pid, key in pairs if key in sets}


def as_match(profile_id: str, week: str, item: Mapping[str, Any], digest_id: int | None = None) -> Match:
    """An item as the Match row attach() writes for it (not added to any session)."""
    return Match(**{f: item[f] for f in ITEM_FIELDS}, profile_id=profile_id, week=week, digest_id=digest_id)


def attached_rows(profile_id: str, week: str, digest_id: int, items: Sequence[Mapping[str, Any]]) -> list[dict]:
    """The Match rows (as dicts for one bulk insert: `attach`) of the items a digest lists."""
    now = utcnow()
    return [{f: item[f] for f in ITEM_FIELDS} | {"profile_id": profile_id, "week": week, "digest_id": digest_id,
                                                 "created_at": now} for item in items]


def attach(session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert attached_rows() (of any number of digests) in one statement."""
    if rows:
        session.execute(Match.__table__.insert(), list(rows))


def store_sets(session: Session, week: str, lists: Mapping[str, Sequence[Mapping[str, Any]]]) -> None:
    """Store each SME's chosen items (dicts with ITEM_FIELDS) for the period, replacing its set, as the match job
    would: for tools, benchmarks and tests that make a period's matches without matching."""
    now = utcnow()
    keys, texts = {}, {}
    for pid, items in lists.items():
        keys[pid], text = encode([[item[f] for f in ITEM_FIELDS] for item in items])
        texts.setdefault(keys[pid], text)
    have = set(session.exec(select(MatchSet.key).where(MatchSet.week == week)))
    if new := [{"week": week, "key": k, "items": t, "created_at": now} for k, t in texts.items() if k not in have]:
        session.execute(MatchSet.__table__.insert(), new)
    stored = {o.profile_id: o for o in session.exec(select(WeekOutcome).where(WeekOutcome.week == week))}
    for pid, items in lists.items():
        outcome = stored.get(pid) or WeekOutcome(profile_id=pid, week=week, created_at=now)
        outcome.match_set, outcome.matched = keys[pid], len(items)
        best = max(items, key=lambda item: item["score"], default=None)
        outcome.best_score, outcome.best_notice_key = (best["score"], best["notice_key"]) if best else (None, None)
        session.add(outcome)
    session.flush()
    session.execute(orphan_sets(week))


def orphan_sets(week: str):  # noqa: ANN201 - a DELETE statement
    """The period's sets no WeekOutcome names any more (a re-run replaced them)."""
    named = select(WeekOutcome.match_set).where(WeekOutcome.week == week, col(WeekOutcome.match_set).is_not(None))
    return MatchSet.__table__.delete().where(and_(MatchSet.week == week, col(MatchSet.key).not_in(named)))
