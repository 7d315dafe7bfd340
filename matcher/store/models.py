"""The SQLModel tables. Times are aware UTC datetimes (sqlmodel stores and returns them as UTC)."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, LargeBinary, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


def _json(**kw: Any) -> Any:
    return Field(default_factory=kw.pop("default_factory", list), sa_column=Column(JSON, nullable=False), **kw)


class Notice(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(index=True, unique=True, max_length=200)
    source: str = Field(index=True, max_length=40)
    release_id: str | None = Field(default=None, max_length=200)
    title: str = Field(sa_column=Column(Text, nullable=False))
    description: str = Field(default="", sa_column=Column(Text, nullable=False))
    buyer: str | None = Field(default=None, sa_column=Column(Text))
    cpv: list[str] = _json()
    regions: list[str] = _json()
    postcode: str | None = Field(default=None, max_length=20)
    value_min: float | None = None
    value_max: float | None = None
    currency: str | None = Field(default=None, max_length=8)
    published_at: datetime | None = None
    closes_at: datetime | None = Field(default=None, index=True)
    updated_at: datetime | None = None
    url: str | None = Field(default=None, sa_column=Column(Text))
    sme_suitable: bool | None = None
    vcse_suitable: bool | None = None
    stage: str | None = Field(default=None, max_length=40)
    status: str | None = Field(default=None, max_length=40)
    procurement_method: str | None = Field(default=None, sa_column=Column(Text))
    notice_type: str | None = Field(default=None, index=True, max_length=40)
    notice_type_raw: str | None = Field(default=None, max_length=80)
    lots: list[dict] = _json()
    engagement_deadline: datetime | None = None
    reserved: str | None = Field(default=None, max_length=80)
    is_framework: bool | None = None
    value_gross: float | None = None
    sections: dict[str, str] = _json(default_factory=dict)
    suppliers: list[dict] = _json()
    links: list[dict] = _json()
    raw: dict[str, Any] = _json(default_factory=dict)
    content_hash: str = Field(max_length=64)
    first_seen: datetime = Field(default_factory=utcnow, index=True)
    last_seen: datetime = Field(default_factory=utcnow, index=True)  # the desk's data fingerprint reads its max


class NoticeAlias(SQLModel, table=True):
    """Another portal's key for a stored notice: one opportunity, once (see matcher.ingest.dedupe).

    A release whose key is here updates the notice `canonical_key` instead of becoming a second notice.
    """

    key: str = Field(primary_key=True, max_length=200)
    canonical_key: str = Field(index=True, max_length=200)
    source: str = Field(index=True, max_length=40, description="the portal the aliased key belongs to")
    reason: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)
    first_seen: datetime | None = Field(default=None, description="when a release of this copy was first stored; "
                                        "None while it is only known from another copy's canonical link")
    merged_release_at: datetime | None = Field(default=None, description="release date of the copy's first release "
                                               "stored: later releases of the copy are its amendments")


class SeenRelease(SQLModel, table=True):
    """A release already stored (or found unchanged), by a hash of its JSON: a re-poll skips normalising it."""

    fingerprint: str = Field(primary_key=True, max_length=64)
    source: str = Field(max_length=40)
    key: str | None = Field(default=None, max_length=200)
    seen_at: datetime = Field(default_factory=utcnow)


class Profile(SQLModel, table=True):
    id: str = Field(primary_key=True, max_length=100)
    name: str
    email: str
    capabilities: str = Field(sa_column=Column(Text, nullable=False))
    keywords: list[str] = _json()
    cpv: list[str] = _json()
    regions: list[str] = _json()
    exclude: list[str] = _json()
    value_min: float | None = None
    value_max: float | None = None
    enabled: bool = True
    unsubscribed_at: datetime | None = None
    # delivery: a permanent 5xx marks the address bouncing at once; max_hard_bounces in a row pause the SME
    bounces: int = Field(default=0, description="hard bounces in a row (reset by a delivered digest)")
    bouncing_since: datetime | None = None
    last_bounce: str | None = Field(default=None, sa_column=Column(Text))
    paused_at: datetime | None = Field(default=None, description="no digests while set (too many hard bounces)")
    paused_reason: str | None = Field(default=None, sa_column=Column(Text))
    extra_emails: list[str] = _json()  # further recipients, each added once its own address confirmed
    cadence: str = Field(default="weekly", max_length=10)  # weekly, daily (new notices only): matcher.period
    challenges: bool = False  # also send challenge notices in any sector
    reminders_unsubscribed_at: datetime | None = Field(default=None, description="left deadline reminders (digest kept)")
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class Embedding(SQLModel, table=True):
    """A float32 vector for one text under one model, keyed by the text's hash."""

    text_hash: str = Field(primary_key=True, max_length=64)
    model: str = Field(primary_key=True, max_length=200)
    dim: int
    vector: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)


class Digest(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("profile_id", "week"),)

    id: int | None = Field(default=None, primary_key=True)
    profile_id: str = Field(index=True, max_length=100)
    week: str = Field(index=True, max_length=10, description="the period: ISO week (2025-W04) or, for a daily SME, "
                      "ISO date (2025-01-23); matcher.period")
    # created, sending, sent, failed, dead, bounced, empty, skipped (matcher.store.claims has the life cycle)
    state: str = Field(default="created", index=True, max_length=20)
    message_id: str | None = Field(default=None, max_length=300)
    item_count: int = 0
    attempts: int = 0
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    claimed_at: datetime | None = None
    claim_token: str | None = Field(default=None, max_length=40, description="the run holding the claim")
    lease_until: datetime | None = Field(default=None, description="a 'sending' claim past this is claimed again")
    handed_over_at: datetime | None = Field(default=None, description="the message text went to the relay "
                                            "(under the current claim): if the sender dies now, the outcome is unknown")
    unknown_outcomes: int = Field(default=0, description="sends whose outcome was unknown (each may be a duplicate)")
    created_at: datetime = Field(default_factory=utcnow)
    sent_at: datetime | None = None


class Reminder(SQLModel, table=True):
    """One deadline reminder: at most one per (SME, notice), sent once like a digest (created -> sending -> sent)."""

    __table_args__ = (UniqueConstraint("profile_id", "notice_key"),)

    id: int | None = Field(default=None, primary_key=True)
    profile_id: str = Field(index=True, max_length=100)
    notice_key: str = Field(max_length=200)
    deadline: datetime = Field(description="the closing (or engagement) date the reminder is about")
    state: str = Field(default="created", index=True, max_length=20)  # created, sending, sent, failed, dead, skipped
    message_id: str | None = Field(default=None, max_length=300)
    attempts: int = 0
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    claimed_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    sent_at: datetime | None = None


class Match(SQLModel, table=True):
    """A notice in a digest: the digest build writes one row per item it lists (match_sets.attach), from the
    period's MatchSet or an undelivered earlier digest. The match job itself writes no rows here."""
    # an SME's rows by the unique key's prefix (profile_id, notice_key); a period's by week; a digest's items by
    # (digest, SME, notice) from the index alone (the desk counts sent items and their verdicts). Rows written
    # before 0012 that no digest took were moved to MatchSets by that migration.
    __table_args__ = (UniqueConstraint("profile_id", "notice_key", "week"),
                      Index("ix_match_digest_items", "digest_id", "profile_id", "notice_key",
                            sqlite_where=text("digest_id IS NOT NULL"), postgresql_where=text("digest_id IS NOT NULL")))

    id: int | None = Field(default=None, primary_key=True)
    profile_id: str = Field(max_length=100)
    notice_key: str = Field(max_length=200)
    week: str = Field(index=True, max_length=10)
    rank: int = 0
    dense: float = 0.0
    lexical: float = 0.0
    keyword: float = 0.0
    cpv: float = 0.0
    raw_score: float = 0.0
    score: float = Field(0.0, description="calibrated 0-1 score compared with matching.threshold")
    explanation: dict[str, Any] = _json(default_factory=dict)
    digest_id: int | None = Field(default=None)  # indexed by ix_match_digest_items
    created_at: datetime = Field(default_factory=utcnow)


class Watermark(SQLModel, table=True):
    source: str = Field(primary_key=True, max_length=40)
    position: datetime | None = Field(default=None, description="everything published before this is stored")
    cursor: str | None = Field(default=None, sa_column=Column(Text), description="resume point inside a window")
    last_success_at: datetime | None = None
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    last_error_at: datetime | None = None
    last_poll_seconds: float | None = Field(default=None, description="how long the last poll took")
    last_poll_at: datetime | None = None


class Quarantined(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(index=True, max_length=40)
    key: str | None = Field(default=None, max_length=200)
    reason: str = Field(sa_column=Column(Text, nullable=False))
    payload: str = Field(sa_column=Column(Text, nullable=False))
    payload_hash: str = Field(index=True, max_length=64)
    created_at: datetime = Field(default_factory=utcnow)


class Feedback(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("profile_id", "notice_key"),)

    id: int | None = Field(default=None, primary_key=True)
    profile_id: str = Field(index=True, max_length=100)
    notice_key: str = Field(max_length=200)
    verdict: str = Field(max_length=20)  # relevant, not-relevant
    via: str = Field(default="cli", max_length=20)
    reason: str | None = Field(default=None, sa_column=Column(Text))  # the optional "what was wrong?"
    created_at: datetime = Field(default_factory=utcnow)


class Signup(SQLModel, table=True):
    """A sign-up from the web form, waiting for its confirmation link (double opt-in). Nothing is matched or sent
    for it: the Profile is made only when the link is followed. Unconfirmed ones expire (store.signups.purge)."""

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(index=True, max_length=320)
    data: dict[str, Any] = _json(default_factory=dict)  # the ProfileSpec fields as entered (id left out)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime = Field(index=True)
    confirmed_at: datetime | None = None
    profile_id: str | None = Field(default=None, max_length=100, description="the profile the confirmation made")


class ProfileEvent(SQLModel, table=True):
    """What happened to a profile and when: signed-up, confirmed, edited, unsubscribed, resubscribed, enabled,
    disabled, unpaused (after hard bounces; detail: the pause it ended), recipient-added. The champions' desk counts unsubscribes per week from these."""

    id: int | None = Field(default=None, primary_key=True)
    profile_id: str = Field(index=True, max_length=100)
    kind: str = Field(index=True, max_length=30)
    detail: str | None = Field(default=None, sa_column=Column(Text))
    via: str = Field(default="cli", max_length=20)  # web, email, cli
    created_at: datetime = Field(default_factory=utcnow, index=True)


class Champion(SQLModel, table=True):
    """An SME champion: named in config ([[champions]]) or added with `matcher champion add`."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    email: str = Field(index=True, unique=True, max_length=320)
    active: bool = True
    link_version: int = Field(0, description="sign-in links carry it; `matcher champion revoke` adds one")
    from_config: bool = False
    created_at: datetime = Field(default_factory=utcnow)


class ChampionMark(SQLModel, table=True):
    """A champion's verdict on an item sent to an SME: one per champion, SME and notice (a later one replaces it)."""

    __table_args__ = (UniqueConstraint("champion_id", "profile_id", "notice_key"),)

    id: int | None = Field(default=None, primary_key=True)
    champion_id: int = Field(index=True)
    profile_id: str = Field(index=True, max_length=100)
    notice_key: str = Field(max_length=200)
    verdict: str = Field(max_length=20)  # relevant, not-relevant
    created_at: datetime = Field(default_factory=utcnow)


class WeekOutcome(SQLModel, table=True):
    """What the match run found for one active SME in one week, kept so the desk can say why an SME got nothing:
    its best score (even below the threshold), how many passed, or the profile error that stopped it."""

    profile_id: str = Field(primary_key=True, max_length=100)
    week: str = Field(primary_key=True, max_length=10)
    matched: int = 0  # items at or above the threshold
    best_score: float | None = None
    best_notice_key: str | None = Field(default=None, max_length=200)
    error: str | None = Field(default=None, sa_column=Column(Text))
    seen_until: datetime | None = Field(default=None, description="the run's `now`: notices first seen up to then "
                                        "were matched (a daily SME's next digest takes only those seen after)")
    match_set: str | None = Field(default=None, max_length=32, description="the MatchSet (its key, this week) of the "
                                  "matches the run chose for the SME; None when it chose none")
    created_at: datetime = Field(default_factory=utcnow)


class MatchSet(SQLModel, table=True):
    """What the match run chose for an SME in a period, as one JSON list of items (store/match_sets.py ITEM_FIELDS:
    the notice, rank, score components, score and explanation), keyed by the hash of that text: SMEs that got the
    same list share one row, and each SME's WeekOutcome names it. One small row per SME and period, instead of one
    row per SME and notice, is what lets a 100,000-SME week be written in well under a second."""

    week: str = Field(primary_key=True, max_length=10)
    key: str = Field(primary_key=True, max_length=32)  # blake2b-128 of `items`, hex
    items: str = Field(sa_column=Column(Text, nullable=False))  # the JSON text as hashed (read once per set)
    created_at: datetime = Field(default_factory=utcnow)


class SourceRelease(SQLModel, table=True):
    """A release held, keyed by (source, ocid, release id): one notice id can come as two releases under two
    ocids, and a notice (one ocid) has many releases. Find a Tender's id audit reads the ids held from here."""

    source: str = Field(primary_key=True, max_length=40)
    ocid: str = Field(primary_key=True, max_length=200)
    release_id: str = Field(primary_key=True, max_length=200)
    notice_year: int | None = Field(default=None, index=True, description="nnnnnn-yyyy ids: yyyy")
    notice_number: int | None = Field(default=None, index=True, description="nnnnnn-yyyy ids: nnnnnn")
    first_seen: datetime = Field(default_factory=utcnow)


class NoticeIdProbe(SQLModel, table=True):
    """A notice id missing from the sequence, asked for by id: residue (404 / empty, `attempts` times, never
    again once attempts reach residue_retries) or found (its release is then a SourceRelease)."""

    source: str = Field(primary_key=True, max_length=40)
    notice_id: str = Field(primary_key=True, max_length=20)
    state: str = Field(default="open", max_length=20)  # open, residue, found
    attempts: int = 0
    last_answer: str | None = Field(default=None, sa_column=Column(Text))
    last_tried_at: datetime | None = None


class PollWindow(SQLModel, table=True):
    """A window (or part of one) read completely; the newest per source is its last complete window."""

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(index=True, max_length=40)
    start: datetime
    end: datetime
    releases: int = 0
    walked: bool = Field(default=False, description="read by following links.next (a full window at the floor)")
    completed_at: datetime = Field(default_factory=utcnow)


class ListedItem(SQLModel, table=True):
    """An item of a listing-only portal (the Digital Marketplace) whose page was read: what its listing entry said
    then. A re-poll skips a page whose entry is unchanged (the portal sends no ETag or Last-Modified)."""

    source: str = Field(primary_key=True, max_length=40)
    key: str = Field(primary_key=True, max_length=200)
    fingerprint: str = Field(max_length=64, description="sha256 of the listing entry's text when the page was read")
    read_at: datetime = Field(default_factory=utcnow)
