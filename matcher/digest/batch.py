"""Composing the many digests of one delivery run: the same emails as compose() (matcher.digest.build), with
the work they share done once.

Per run: the award index, the CPV labels, each notice's facts (notice_facts: what an item says that depends on
its notice alone, its calendar link included) and the header lines every digest shares. Per batch of claimed
digests: one query for the digests, one for their profiles, one for their items and notices. Per digest: the
SME's own parts (its links, the why of each item), the two templates, and the wire bytes (matcher.digest.wire).
Nothing here writes to the store.
"""
from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from email import policy as email_policy
from typing import Any

from jinja2 import Environment
from sqlmodel import Session, col, select

from matcher.config import Config
from matcher.deliver.tokens import LinkSigner
from matcher.digest.build import make_view, mail_domain, message_id_for, stored_cpv_labels
from matcher.digest.buyers import buyer_index
from matcher.digest.render import WIRE_POLICY, build_wire, notice_facts, recipients
from matcher.digest.wire import HeaderCache
from matcher.store.models import Digest, Match, Notice, Profile

log = logging.getLogger(__name__)


def why_not_sent(profile: Profile | None) -> str | None:
    """Why a claimed digest must not go out after all (the SME left or is paused), or None."""
    if profile is None:
        return "profile removed"
    if not profile.enabled:
        return "profile disabled"
    if profile.unsubscribed_at is not None:
        return "profile unsubscribed"
    if profile.paused_at is not None:
        return f"profile paused ({profile.paused_reason})"
    return None


@dataclass
class Composed:
    """One claimed digest: its wire bytes, envelope and whether its address was bouncing; or why it is skipped
    (`skip`) or could not be composed (`error`)."""

    digest_id: int
    profile_id: str
    data: bytes = b""
    sender: str = ""
    recipients: tuple[str, ...] = ()
    bouncing: bool = False
    skip: str | None = None
    error: str | None = None


class Composer:
    """Composes claimed digests for one run (one `now`, one config, one signing key)."""

    def __init__(self, cfg: Config, now: datetime, env: Environment, signer: LinkSigner) -> None:
        self.cfg, self.now, self.env, self.signer = cfg, now, env, signer
        self.headers = HeaderCache(WIRE_POLICY)
        self.facts: dict[str, dict[str, Any]] = {}
        self.buyers: Any = None
        self.labels: dict[str, str] | None = None
        self.sender = email_policy.default.header_factory("From", cfg.digest.from_address).addresses[0].addr_spec

    def _rows(self, session: Session, ids: list[int]) -> dict[int, list[tuple[Match, Notice]]]:
        """Each digest's (match, notice) pairs, best first (as build.digest_items), in one query; notices whose
        facts are known already are not read again."""
        matches = list(session.exec(select(Match).where(col(Match.digest_id).in_(ids))))
        keys = {m.notice_key for m in matches} - {k for k, f in self.facts.items() if "notice" in f}
        for n in session.exec(select(Notice).where(col(Notice.key).in_(keys))) if keys else []:
            self.facts[n.key] = {"notice": n}
        out: dict[int, list[tuple[Match, Notice]]] = defaultdict(list)
        for m in matches:
            if m.notice_key in self.facts:  # a match whose notice is not stored is not listed (inner join there)
                out[m.digest_id].append((m, self.facts[m.notice_key]["notice"]))  # type: ignore[index]
        for pairs in out.values():
            pairs.sort(key=lambda mn: (-mn[0].score, mn[0].rank, mn[0].notice_key))
        return out

    def _facts(self, notice: Notice) -> dict[str, Any]:
        entry = self.facts[notice.key]
        if "facts" not in entry:
            entry["facts"] = notice_facts(notice, self.cfg, self.now, self.signer, self.buyers)
        return entry["facts"]

    def compose(self, session: Session, digest_ids: list[int]) -> list[Composed]:
        """The claimed digests in `digest_ids` order (a missing row is left out); reads only."""
        if not digest_ids:
            return []
        if self.buyers is None:
            self.buyers, self.labels = buyer_index(session), stored_cpv_labels(session)
        digests = {d.id: d for d in session.exec(select(Digest).where(col(Digest.id).in_(digest_ids)))}
        pids = {d.profile_id for d in digests.values()}
        profiles = {p.id: p for p in session.exec(select(Profile).where(col(Profile.id).in_(pids)))} if pids else {}
        rows = self._rows(session, [i for i in digest_ids if i in digests])
        out = []
        for digest_id in digest_ids:
            digest = digests.get(digest_id)
            if digest is None:
                continue
            profile = profiles.get(digest.profile_id)
            item = Composed(digest_id, digest.profile_id, skip=why_not_sent(profile))
            out.append(item)
            if item.skip:
                continue
            try:
                item.data = self._one(digest, profile, rows.get(digest_id, []))  # type: ignore[arg-type]
                item.recipients = tuple(a.addr_spec for a in recipients(profile))  # type: ignore[arg-type]
                item.sender, item.bouncing = self.sender, bool(profile.bounces)  # type: ignore[union-attr]
            except Exception as e:  # noqa: BLE001 - one digest that cannot be composed must not stop the others
                item.error = f"could not compose: {type(e).__name__}: {e}"
                log.warning("digest %s for %s: %s", digest_id, digest.profile_id, item.error)
        return out

    def _one(self, digest: Digest, profile: Profile, rows: list[tuple[Match, Notice]]) -> bytes:
        facts = {n.key: self._facts(n) for _, n in rows}
        view = make_view(self.cfg, profile, digest.week, rows, self.now, self.signer, self.buyers, self.labels, facts)
        mid = digest.message_id or message_id_for(digest, mail_domain(self.cfg))
        return build_wire(self.env, self.cfg, view, profile, mid, self.now, self.headers)
