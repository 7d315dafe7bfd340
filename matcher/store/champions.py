"""SME champions and their marks: who they are (config [[champions]] or `matcher champion add`), and their verdicts
on items sent to SMEs, stored with who made them and when. The desk pages and the CLI both call these."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import func
from sqlmodel import Session, col, select

from matcher.store.models import Champion, ChampionMark, Digest, Match, utcnow

MARKS = ("relevant", "not-relevant")
SENT = ("sent",)


class ChampionError(ValueError):
    """A champion or mark that cannot be stored; the message names what is wrong."""


def _address(email: str) -> str:
    try:
        return validate_email(email, check_deliverability=False).normalized
    except EmailNotValidError as e:
        raise ChampionError(f"email {email!r}: {e}") from None


def add_champion(session: Session, name: str, email: str, from_config: bool = False) -> tuple[Champion, bool]:
    """Add a champion, or update the name of the one with this address (and re-activate it); (row, added)."""
    name = " ".join((name or "").split())
    if not name or len(name) > 200:
        raise ChampionError("a champion needs a name of 1 to 200 characters")
    address = _address(email)
    row = find_by_email(session, address)
    added = row is None
    if row is None:
        row = Champion(name=name, email=address, from_config=from_config)
    else:
        row.name, row.active = name, True
        row.from_config = row.from_config or from_config
    session.add(row)
    session.flush()
    return row, added


def sync_config(session: Session, champions: Iterable) -> int:  # noqa: ANN001 - config ChampionConfig items
    """Make sure every champion listed in config is stored (and active); returns how many were added."""
    return sum(add_champion(session, c.name, c.email, from_config=True)[1] for c in champions)


def find_by_email(session: Session, email: str) -> Champion | None:
    return session.exec(select(Champion).where(func.lower(Champion.email) == email.strip().casefold())).first()


def find(session: Session, who: str) -> Champion:
    """A champion by id or email; ChampionError naming it when there is none."""
    row = session.get(Champion, int(who)) if who.isdigit() else find_by_email(session, who)
    if row is None:
        raise ChampionError(f"no champion {who!r} (`matcher champion list` shows them)")
    return row


def signed_in(session: Session, champion_id: int, version: int) -> Champion | None:
    """The champion a sign-in link names, if still active and the link not revoked."""
    row = session.get(Champion, champion_id)
    if row is None or not row.active or row.link_version != version:
        return None
    return row


def revoke(session: Session, champion: Champion, deactivate: bool = False) -> None:
    """End every sign-in link made for this champion so far (and optionally the champion's access)."""
    champion.link_version += 1
    if deactivate:
        champion.active = False
    session.add(champion)


def was_sent(session: Session, profile_id: str, notice_key: str) -> bool:
    stmt = (select(Match.id).join(Digest, col(Digest.id) == Match.digest_id)
            .where(Match.profile_id == profile_id, Match.notice_key == notice_key, col(Digest.state).in_(SENT)))
    return session.exec(stmt).first() is not None


@dataclass
class Marked:
    champion: str
    profile_id: str
    notice_key: str
    verdict: str | None  # None: the mark was taken back
    replaced: str | None


def mark(session: Session, champion: Champion, profile_id: str, notice_key: str, verdict: str | None,
         now: datetime | None = None) -> Marked:
    """Store (or replace, or with verdict None remove) a champion's mark on an item sent to an SME."""
    if verdict is not None and verdict not in MARKS:
        raise ChampionError(f"mark {verdict!r} is not one of: {', '.join(MARKS)}")
    if not was_sent(session, profile_id, notice_key):
        raise ChampionError(f"notice {notice_key!r} was never sent to profile {profile_id!r}: only sent items are marked")
    row = session.exec(select(ChampionMark).where(ChampionMark.champion_id == champion.id,
                                                  ChampionMark.profile_id == profile_id,
                                                  ChampionMark.notice_key == notice_key)).first()
    replaced = row.verdict if row else None
    if verdict is None:
        if row is not None:
            session.delete(row)
    elif row is None:
        session.add(ChampionMark(champion_id=champion.id, profile_id=profile_id, notice_key=notice_key,  # type: ignore[arg-type]
                                 verdict=verdict, created_at=now or utcnow()))
    else:
        row.verdict, row.created_at = verdict, now or utcnow()
        session.add(row)
    session.flush()
    return Marked(champion.name, profile_id, notice_key, verdict, replaced)


def marks_for(session: Session, profile_ids: Iterable[str]) -> dict[tuple[str, str], list[tuple[str, str, datetime]]]:
    """{(profile, notice): [(champion name, verdict, when)...]} newest first."""
    ids = list(profile_ids)
    if not ids:
        return {}
    stmt = (select(ChampionMark, Champion.name).join(Champion, col(Champion.id) == ChampionMark.champion_id)
            .where(col(ChampionMark.profile_id).in_(ids)).order_by(col(ChampionMark.created_at).desc()))
    out: dict[tuple[str, str], list[tuple[str, str, datetime]]] = {}
    for m, name in session.exec(stmt):
        out.setdefault((m.profile_id, m.notice_key), []).append((name, m.verdict, m.created_at))
    return out
