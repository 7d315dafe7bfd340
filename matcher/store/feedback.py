"""SMEs' verdicts on matches in the store: recording one (`matcher feedback`, and the email's "Relevant" / "Not
relevant" links through matcher.web.verdicts), taking one back (undo), and reading them back for ranking (matcher.match.feedback turns them into vectors).

One verdict per SME and notice: a later one replaces the earlier.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlmodel import Session, col, select

from matcher.match.feedback import VERDICTS
from matcher.store.models import Feedback, Notice, NoticeAlias, Profile, utcnow
from matcher.store.bulk import id_groups


class FeedbackError(ValueError):
    """A verdict that cannot be stored; the message names the profile, notice or verdict that is wrong."""


@dataclass(frozen=True)
class Recorded:
    profile_id: str
    notice_key: str  # the stored notice's key (an alias given on the command line is resolved)
    verdict: str
    replaced: str | None  # the verdict this one replaced, if any


def _stored_key(session: Session, key: str) -> str | None:
    """The stored notice's key for `key`, which may be another portal's key for the same notice."""
    if session.exec(select(Notice.key).where(Notice.key == key)).first():
        return key
    alias = session.get(NoticeAlias, key)
    if alias and session.exec(select(Notice.key).where(Notice.key == alias.canonical_key)).first():
        return alias.canonical_key
    return None


def record_verdict(session: Session, profile_id: str, notice_key: str, verdict: str, via: str = "cli",
                   reason: str | None = None) -> Recorded:
    """Store (or replace) one SME's verdict on one notice, with its optional "what was wrong?". Raises
    FeedbackError naming what is unknown."""
    if verdict not in VERDICTS:
        raise FeedbackError(f"verdict {verdict!r} is not one of: {', '.join(VERDICTS)}")
    if session.get(Profile, profile_id) is None:
        raise FeedbackError(f"profile {profile_id!r} not found in the store (`matcher profiles list` shows them)")
    key = _stored_key(session, notice_key)
    if key is None:
        raise FeedbackError(f"notice {notice_key!r} not found in the store (`matcher notices list` shows them)")
    row = session.exec(select(Feedback).where(Feedback.profile_id == profile_id, Feedback.notice_key == key)).first()
    replaced = row.verdict if row else None
    if row is None:
        row = Feedback(profile_id=profile_id, notice_key=key, verdict=verdict, via=via, reason=reason)
    else:
        row.verdict, row.via, row.created_at, row.reason = verdict, via, utcnow(), reason
    session.add(row)
    session.flush()
    return Recorded(profile_id, key, verdict, replaced)


def _row(session: Session, profile_id: str, notice_key: str) -> Feedback | None:
    key = _stored_key(session, notice_key) or notice_key
    return session.exec(select(Feedback).where(Feedback.profile_id == profile_id, Feedback.notice_key == key)).first()


def current_verdict(session: Session, profile_id: str, notice_key: str) -> str | None:
    row = _row(session, profile_id, notice_key)
    return row.verdict if row else None


def clear_verdict(session: Session, profile_id: str, notice_key: str) -> str | None:
    """Take an SME's verdict on a notice back (undo); returns the verdict removed, if any."""
    row = _row(session, profile_id, notice_key)
    if row is None:
        return None
    session.delete(row)
    session.flush()
    return row.verdict


def set_reason(session: Session, profile_id: str, notice_key: str, reason: str | None) -> bool:
    """Store the optional "what was wrong?" on an existing verdict; False if there is no verdict."""
    row = _row(session, profile_id, notice_key)
    if row is None:
        return False
    row.reason = reason
    session.add(row)
    return True


def verdicts_for(session: Session, profile_ids: Sequence[str]) -> dict[str, list[tuple[str, str]]]:
    """{profile id: [(notice key, verdict)...]} oldest first, for the given SMEs (those with none are left out).

    A verdict stored under a key that has since become another notice's alias counts for that notice."""
    if not profile_ids:
        return {}
    rows = []
    for group in id_groups(session, list(profile_ids)):  # on SQLite one group, bound as one value
        rows += session.exec(select(Feedback.profile_id, Feedback.notice_key, Feedback.verdict, Feedback.created_at,
                                    Feedback.id).where(col(Feedback.profile_id).in_(group)))
    rows = [r[:3] for r in sorted(rows, key=lambda r: (r[3], r[4]))]  # oldest first, over every group
    aliases = dict(session.exec(select(NoticeAlias.key, NoticeAlias.canonical_key)
                                .where(col(NoticeAlias.key).in_({k for _, k, _ in rows}))).all()) if rows else {}
    out: dict[str, dict[str, str]] = {}
    for pid, key, verdict in rows:
        if verdict in VERDICTS:
            out.setdefault(pid, {})[aliases.get(key, key)] = verdict  # a later verdict on the same notice wins
    return {pid: list(found.items()) for pid, found in out.items()}
