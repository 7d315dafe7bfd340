"""The digests: one Digest row per (SME, period), with the items it lists as Match rows attached: the best of the
period's MatchSet (what the match job chose, store/match_sets.py), after any undelivered earlier items. A weekly SME's
period is its ISO week, a daily SME's its date (matcher.period); a build makes the digests of one cadence.

build_digests() is safe to run any number of times in a period: an existing digest is kept as it is. A notice
already sent to an SME in an earlier digest is not listed again. A daily digest with nothing new is 'empty' (never
sent, whatever digest.send_empty says). compose() turns a digest into its email;
preview() does the same for the current week without writing anything.
"""
from __future__ import annotations

import logging
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import NamedTuple

from jinja2 import Environment
from sqlalchemy import case, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from matcher.config import Config
from matcher.period import Cadence, Period, parse, period_of
from matcher.store import claims
from matcher.store.match_sets import as_match, attach, attached_rows, chosen_items
from matcher.store.models import Digest, Match, Notice, Profile, utcnow
from matcher.store.periods import ended_before, started_before, started_since
from matcher.store.profiles import active_profiles
from matcher.digest.buyers import BuyerIndex, buyer_index
from matcher.digest.render import DigestView, build_message, mail_domain, make_item, quote_once, state_common_capability
from matcher.deliver.tokens import LinkSigner

log = logging.getLogger(__name__)

# only a delivered digest's notices are not listed again ('sending' is not delivered: see the README's guarantee)
DELIVERED_STATES = ("sent",)
PENDING_STATES = ("created", "failed")
# an earlier digest in one of these states never reached the SME: its items come back in the next digest
UNDELIVERED_STATES = ("dead", "bounced")
CARRY_WEEKS = 8  # how far back undelivered items are looked for
# bulk UPDATEs here need not scan the session's loaded objects (none of them are read afterwards)
NO_SYNC = {"synchronize_session": False}
ATTACH_BATCH = 5000  # chosen items' Match rows per insert


@dataclass
class BuildResult:
    week: str
    created: list[int] = field(default_factory=list)  # ids of the digests this run created
    existing: int = 0  # digests for this week that were already there
    superseded: int = 0  # unsent digests of earlier weeks given up (state 'dead')
    orphan_matches: int = 0  # matches whose notice is not in the store (not listed)


def message_id_for(digest: Digest, domain: str) -> str:
    """Stable across retries: derived from the digest row only."""
    profile = re.sub(r"[^A-Za-z0-9_-]+", "-", digest.profile_id).strip("-") or "sme"
    return f"<digest-{digest.id}.{profile}.{digest.week}@{domain}>"


class Candidate(NamedTuple):
    """An item of the SME's MatchSet, with the fields selection sorts by."""

    profile_id: str
    notice_key: str
    score: float
    rank: int
    item: dict  # the set's item (store/match_sets.ITEM_FIELDS), shared by SMEs with the same set: never changed


def choose(candidates: list[Candidate], already_sent: set[str], limit: int) -> list[Candidate]:
    """Best score first (rank, then key, break ties); skip notices sent before; at most `limit`."""
    ranked = sorted(candidates, key=lambda c: (-c.score, c.rank, c.notice_key))
    return [c for c in ranked if c.notice_key not in already_sent][:limit]


def _candidates(session: Session, week: str, profile_ids: list[str] | None) -> tuple[dict[str, list[Candidate]], int]:
    """This period's chosen items by profile; items whose notice is not stored are counted, not listed."""
    sets = chosen_items(session, week, profile_ids)
    keys = sorted({item["notice_key"] for items in {id(v): v for v in sets.values()}.values() for item in items})
    stored: set[str] = set()
    for start in range(0, len(keys), 500):
        stored.update(session.exec(select(Notice.key).where(col(Notice.key).in_(keys[start:start + 500]))))
    found: dict[str, list[Candidate]] = {}
    orphans = 0
    for pid, items in sets.items():
        found[pid] = [Candidate(pid, i["notice_key"], i["score"], i["rank"], i) for i in items if i["notice_key"] in stored]
        orphans += len(items) - len(found[pid])
    return found, orphans


def _sent_before(session: Session, week: str, profile_ids: list[str] | None) -> dict[str, set[str]]:
    stmt = (
        select(Match.profile_id, Match.notice_key)
        .join(Digest, col(Digest.id) == Match.digest_id)
        .where(col(Digest.state).in_(DELIVERED_STATES), Digest.week != week)
    )
    if profile_ids is not None:
        stmt = stmt.where(col(Match.profile_id).in_(profile_ids))
    out: dict[str, set[str]] = defaultdict(set)
    for pid, key in session.exec(stmt):
        out[pid].add(key)
    return out


def supersede_old(session: Session, week: str | Period, lease: timedelta = timedelta(minutes=15)) -> int:
    """Unsent digests of periods over before this one began (pending, or left in 'sending' past their lease by a
    killed sender; of either cadence) are marked 'dead', saying why; their items come back in the SME's next
    digest (carried_over). A digest a killed sender had handed over counts as an unknown outcome."""
    period = parse(week) if isinstance(week, str) else week
    now = utcnow()
    handed_over = (Digest.state == "sending") & col(Digest.handed_over_at).is_not(None)
    result = session.execute(
        update(Digest)
        .where(ended_before(Digest.week, period), col(Digest.state).in_(PENDING_STATES) | claims.lease_expired(now, lease))
        .values(state="dead", lease_until=None, handed_over_at=None,
                unknown_outcomes=Digest.unknown_outcomes + case((handed_over, 1), else_=0),
                last_error=f"not sent before {period.label} ({period.describe()}) began; its items come back in the next digest")
    )
    return result.rowcount or 0


def carried_over(session: Session, week: str | Period, now: datetime, profile_ids: list[str] | None) -> dict[str, list[Match]]:
    """Per SME, the items of its digests of earlier periods (either cadence, last CARRY_WEEKS weeks) that never
    reached it, whose notice is still open: best first, one per notice."""
    period = parse(week) if isinstance(week, str) else week
    stmt = (
        select(Match)
        .join(Digest, col(Digest.id) == Match.digest_id)
        .join(Notice, Notice.key == Match.notice_key)
        .where(started_before(Digest.week, period), started_since(Digest.week, period.start - timedelta(weeks=CARRY_WEEKS)),
               col(Digest.state).in_(UNDELIVERED_STATES),
               col(Notice.closes_at).is_(None) | (col(Notice.closes_at) > now))
    )
    if profile_ids is not None:
        stmt = stmt.where(col(Match.profile_id).in_(profile_ids))
    out: dict[str, dict[str, Match]] = defaultdict(dict)
    for m in sorted(session.exec(stmt), key=lambda m: (-m.score, m.rank, m.notice_key)):
        out[m.profile_id].setdefault(m.notice_key, m)
    return {pid: list(by_key.values()) for pid, by_key in out.items()}


def _insert_digest(session: Session, profile_id: str, week: str, state: str, items: int) -> int | None:
    """INSERT ... ON CONFLICT DO NOTHING on (profile_id, week): the new id, or None if the row exists."""
    dialect = session.get_bind().dialect.name
    insert = {"sqlite": sqlite_insert, "postgresql": pg_insert}.get(dialect)
    if insert is None:
        raise RuntimeError(f"database dialect {dialect!r} is not supported (sqlite or postgresql)")
    stmt = (
        insert(Digest)
        .values(profile_id=profile_id, week=week, state=state, item_count=items, attempts=0, created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["profile_id", "week"])
        .returning(Digest.id)
    )
    return session.execute(stmt).scalar_one_or_none()


def build_digests(session: Session, cfg: Config, now: datetime, cadence: Cadence = "weekly") -> BuildResult:
    """This period's digests for the active SMEs of `cadence`."""
    period = period_of(now, cadence, cfg.digest.timezone)
    week = period.label
    result = BuildResult(week=week, superseded=supersede_old(session, period, timedelta(seconds=cfg.delivery.lease_seconds)))
    if result.superseded:
        log.warning("%d unsent digest(s) of earlier periods marked dead; their items come back in the next digest",
                    result.superseded)
    profiles = [p for p in active_profiles(session)  # paused: too many hard bounces
                if p.paused_at is None and (p.cadence or "weekly") == cadence]
    have = set(session.exec(select(Digest.profile_id).where(Digest.week == week)))
    todo = [p.id for p in profiles if p.id not in have]
    result.existing = len(profiles) - len(todo)
    if not todo:
        return result
    scope = todo if len(todo) < 500 else None  # a long IN list costs more than reading the week's rows
    candidates, result.orphan_matches = _candidates(session, week, scope)
    sent = _sent_before(session, week, scope)
    back = carried_over(session, period, now, scope)
    if result.orphan_matches:
        log.warning("%d match(es) for %s name a notice that is not stored; they are not listed", result.orphan_matches, week)
    domain = mail_domain(cfg)
    listed: list[dict] = []  # the chosen items' Match rows, inserted in batches
    for pid in todo:
        # items of an earlier digest that never reached the SME come first, then this week's best
        returning = [m for m in back.get(pid, []) if m.notice_key not in sent.get(pid, set())][: cfg.digest.max_items]
        mine = {c.notice_key: c for c in candidates.get(pid, [])}
        keys = {m.notice_key for m in returning}
        chosen = [mine[k] for k in keys if k in mine] + choose(
            [c for c in mine.values() if c.notice_key not in keys], sent.get(pid, set()), cfg.digest.max_items - len(returning))
        copies = [m for m in returning if m.notice_key not in mine]
        state = "created" if chosen or copies or (cfg.digest.send_empty and cadence == "weekly") else "empty"
        digest_id = _insert_digest(session, pid, week, state, len(chosen) + len(copies))
        if digest_id is None:  # another worker made this week's digest a moment ago: keep theirs
            result.existing += 1
            continue
        mid = message_id_for(Digest(id=digest_id, profile_id=pid, week=week), domain)
        session.execute(update(Digest).where(Digest.id == digest_id).values(message_id=mid), execution_options=NO_SYNC)
        listed += attached_rows(pid, week, digest_id, [c.item for c in chosen])
        if len(listed) >= ATTACH_BATCH:
            attach(session, listed)
            listed = []
        for m in copies:
            session.add(Match(**m.model_dump(exclude={"id", "week", "digest_id", "created_at"}), week=week, digest_id=digest_id))
        result.created.append(digest_id)
    attach(session, listed)
    return result


def _rows(session: Session, condition) -> list[tuple[Match, Notice]]:  # noqa: ANN001
    stmt = select(Match, Notice).join(Notice, Notice.key == Match.notice_key).where(condition)
    return sorted(session.exec(stmt), key=lambda mn: (-mn[0].score, mn[0].rank, mn[0].notice_key))


def digest_items(session: Session, digest_id: int) -> list[tuple[Match, Notice]]:
    """The matches attached to a digest, with their notices, best first."""
    return _rows(session, Match.digest_id == digest_id)

CPV_LABEL_NOTICES = 5000  # CPV labels are read from the latest this-many stored notices
_label_cache: dict[tuple, dict[str, str]] = {}


def stored_cpv_labels(session) -> dict[str, str]:  # noqa: ANN001
    """{code: label} from the CPV classifications the latest stored notices carry (for codes a notice lists
    bare); rebuilt only when the store's notices changed."""
    from sqlalchemy import func
    from sqlmodel import col, select

    from matcher.match.cpv import cpv_labels
    from matcher.store.models import Notice

    count, latest = session.exec(select(func.count(), func.max(Notice.last_seen))).one()
    url = str(session.get_bind().url)
    stamp = (url, count, str(latest))
    if stamp not in _label_cache:
        labels: dict[str, str] = {}
        rows = session.exec(select(Notice.raw).order_by(col(Notice.first_seen).desc()).limit(CPV_LABEL_NOTICES))
        for raw in rows:
            for code, label in cpv_labels(raw or {}).items():
                labels.setdefault(code, label)
        for old in [k for k in _label_cache if k[0] == url]:
            del _label_cache[old]
        _label_cache[stamp] = labels
    return _label_cache[stamp]



def make_view(cfg: Config, profile: Profile, week: str, rows: list[tuple[Match, Notice]], now: datetime,
              signer: LinkSigner, buyers: BuyerIndex | None = None, cpv_labels: dict[str, str] | None = None,
              facts: dict[str, dict] | None = None) -> DigestView:
    """The digest as the templates see it: open for bids first, then coming up, each best first. `facts`:
    render.notice_facts by notice key, when the caller keeps them for many digests."""
    period = parse(week)
    start = period.start
    facts = facts or {}
    items = quote_once([make_item(m, n, cfg, now, signer, buyers, cpv_labels, facts.get(n.key)) for m, n in rows])
    items.sort(key=lambda i: i.group != "open")  # stable: each group keeps its best-first order
    return DigestView(
        profile_id=profile.id,
        profile_name=profile.name,
        week=week,
        week_start=f"{start.day} {start:%B %Y}",
        items=items,
        unsubscribe_url=signer.unsubscribe_url(profile.id),
        profile_url=signer.profile_url(profile.id),
        common_capability=state_common_capability(items),
        cadence=period.cadence,
    )


def compose(session: Session, cfg: Config, digest: Digest, profile: Profile, now: datetime, env: Environment,
            signer: LinkSigner) -> EmailMessage:
    """The email for a stored digest, from the matches attached to it."""
    view = make_view(cfg, profile, digest.week, digest_items(session, digest.id), now, signer,  # type: ignore[arg-type]
                     buyer_index(session), stored_cpv_labels(session))
    mid = digest.message_id or message_id_for(digest, mail_domain(cfg))
    return build_message(env, cfg, view, profile, mid, now)


def preview(session: Session, cfg: Config, profile_id: str, now: datetime, env: Environment,
            signer: LinkSigner) -> tuple[EmailMessage, DigestView]:
    """This period's digest for one SME (its week, or its day if it takes daily digests) as it is or would be
    sent; reads only, never changes state."""
    profile = session.get(Profile, profile_id)
    if profile is None:
        raise LookupError(f"no profile {profile_id!r}")
    week = period_of(now, "daily" if profile.cadence == "daily" else "weekly", cfg.digest.timezone).label
    digest = session.exec(select(Digest).where(Digest.profile_id == profile_id, Digest.week == week)).first()
    if digest is not None:
        rows = digest_items(session, digest.id)  # type: ignore[arg-type]
        mid = digest.message_id or message_id_for(digest, mail_domain(cfg))
    else:
        candidates, _ = _candidates(session, week, [profile_id])
        sent = _sent_before(session, week, [profile_id])
        chosen = choose(candidates.get(profile_id, []), sent.get(profile_id, set()), cfg.digest.max_items)
        notices = {n.key: n for n in session.exec(select(Notice).where(col(Notice.key).in_([c.notice_key for c in chosen])))}
        rows = [(as_match(profile_id, week, c.item), notices[c.notice_key]) for c in chosen if c.notice_key in notices]
        mid = f"<preview.{re.sub(r'[^A-Za-z0-9_-]+', '-', profile_id)}.{week}@{mail_domain(cfg)}>"
    view = make_view(cfg, profile, week, rows, now, signer, buyer_index(session), stored_cpv_labels(session))
    return build_message(env, cfg, view, profile, mid, now), view
