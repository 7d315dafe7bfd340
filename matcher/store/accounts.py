"""An SME's own account: sign-ups waiting for confirmation (double opt-in), profile edits, unsubscribe and
re-subscribe, enable and disable, unpause after hard bounces, further recipients. The web pages and the CLI both call these.

Every change is recorded as a ProfileEvent (the champions' desk counts unsubscribes from them). A sign-up makes
no Profile until its confirmation link is followed, so nothing is matched or sent for it before; unconfirmed
sign-ups expire (purge_expired, run by the weekly job and `matcher signups purge`).
"""
from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import ValidationError
from sqlalchemy import String, cast, delete, func, or_, update
from sqlmodel import Session, col, select

from matcher.schema import ProfileSpec
from matcher.store.engine import as_utc
from matcher.store.models import Profile, ProfileEvent, Signup, utcnow

EDITABLE = ("name", "email", "extra_emails", "capabilities", "keywords", "cpv", "regions", "value_min", "value_max",
            "cadence", "challenges")


class AccountError(ValueError):
    """A change that is refused; the message says why in words the SME can act on."""


class SignupExpired(AccountError):
    pass


def event(session: Session, profile_id: str, kind: str, detail: str | None = None, via: str = "cli",
          now: datetime | None = None) -> None:
    session.add(ProfileEvent(profile_id=profile_id, kind=kind, detail=detail, via=via, created_at=now or utcnow()))


# sign-ups
def create_signup(session: Session, data: dict, now: datetime, hours: int) -> Signup:
    row = Signup(email=data["email"], data=data, created_at=now, expires_at=now + timedelta(hours=hours))
    session.add(row)
    session.flush()
    return row


def open_signup(session: Session, signup_id: int, now: datetime) -> Signup:
    """A sign-up that can still be changed or confirmed; AccountError if it is gone or expired."""
    row = session.get(Signup, signup_id)
    if row is None:
        raise SignupExpired("This sign-up is no longer held: unconfirmed sign-ups are deleted when they expire. "
                            "Please sign up again.")
    if row.confirmed_at is None and as_utc(row.expires_at) <= now:
        raise SignupExpired("This sign-up has expired before it was confirmed. Please sign up again.")
    return row


def update_signup(session: Session, signup_id: int, data: dict, now: datetime) -> Signup:
    row = open_signup(session, signup_id, now)
    if row.confirmed_at is not None:
        raise AccountError("This sign-up is already confirmed: change the profile with the link in your emails.")
    row.data, row.email = dict(data), data["email"]
    session.add(row)
    return row


def new_profile_id(session: Session, name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.casefold()).strip("-")[:40] or "sme"
    while True:
        pid = f"{slug}-{secrets.token_hex(3)}"
        if session.get(Profile, pid) is None:
            return pid


def _spec(profile_id: str, data: dict) -> ProfileSpec:
    try:
        return ProfileSpec.model_validate({**data, "id": profile_id})
    except ValidationError as e:
        raise AccountError("; ".join(f"{'.'.join(map(str, x['loc']))}: {x['msg']}" for x in e.errors())) from None


@dataclass
class Confirmed:
    profile: Profile
    first_time: bool  # False when the link had been followed before (the same profile is returned)


def confirm_signup(session: Session, signup_id: int, now: datetime) -> Confirmed:
    """Follow a confirmation link: make the profile (once; a second click finds the same one)."""
    row = open_signup(session, signup_id, now)
    if row.confirmed_at is not None and row.profile_id:
        profile = session.get(Profile, row.profile_id)
        if profile is not None:
            return Confirmed(profile, False)
    data = dict(row.data)
    extra = data.pop("extra_emails", [])  # each further recipient confirms its own address
    pid = new_profile_id(session, data.get("name") or "sme")
    spec = _spec(pid, {**data, "extra_emails": []})
    profile = Profile(**spec.model_dump(), created_at=now, updated_at=now)
    session.add(profile)
    row.confirmed_at, row.profile_id = now, pid
    row.data = {**row.data, "pending_recipients": extra}
    session.add(row)
    event(session, pid, "confirmed", f"sign-up {row.id}", via="web", now=now)
    session.flush()
    return Confirmed(profile, True)


def purge_expired(session: Session, now: datetime) -> int:
    """Delete unconfirmed sign-ups past their expiry; returns how many."""
    result = session.execute(delete(Signup).where(col(Signup.confirmed_at).is_(None), col(Signup.expires_at) <= now))
    return result.rowcount or 0


# the profile itself
def get_profile(session: Session, profile_id: str) -> Profile:
    row = session.get(Profile, profile_id)
    if row is None:
        raise AccountError(f"no profile {profile_id!r}")
    return row


@dataclass
class Edited:
    profile: Profile
    changed: list[str]  # the fields that changed
    new_recipients: list[str]  # addresses added: each must confirm before it gets email


def edit_profile(session: Session, profile_id: str, data: dict, via: str = "web", now: datetime | None = None) -> Edited:
    """Apply an edit from the next digest on. Refused, with the reason, when it would leave nothing to match on.

    Added recipients are not stored yet: they are returned, to be sent a confirmation link (add_recipient)."""
    row = get_profile(session, profile_id)
    if not (data.get("capabilities") or "").strip():
        raise AccountError("The capability text is what we match on: a profile without it would get nothing. "
                           "Describe what the business does, or unsubscribe instead.")
    if not (data.get("email") or "").strip():
        raise AccountError("A profile needs at least one email address to send the digest to.")
    current = {row.email.casefold(), *(a.casefold() for a in row.extra_emails)}
    wanted = [data["email"], *data.get("extra_emails", [])]
    new = [a for a in wanted if a.casefold() not in current]
    if data["email"].casefold() not in current:
        raise AccountError(f"The first address must be one that already gets the digest ({row.email}); "
                           "add the new one below it, it is sent a confirmation link.")
    keep_extra = [a for a in data.get("extra_emails", []) if a.casefold() in current]
    fields = {**{k: data[k] for k in EDITABLE if k in data}, "extra_emails": keep_extra}
    spec = _spec(profile_id, {**row.model_dump(include={"exclude", "enabled"}), **fields})
    changed = []
    for k in EDITABLE:
        value = getattr(spec, k)
        if getattr(row, k) != value:
            setattr(row, k, value)
            changed.append(k)
    if changed:
        row.updated_at = now or utcnow()
        session.add(row)
        event(session, profile_id, "edited", ", ".join(changed), via=via, now=now)
    return Edited(row, changed, new)


def add_recipient(session: Session, profile_id: str, address: str, via: str = "email", now: datetime | None = None) -> bool:
    """Add a further recipient whose address has confirmed; False if it was there already."""
    row = get_profile(session, profile_id)
    spec = _spec(profile_id, {**row.model_dump(), "extra_emails": [*row.extra_emails, address]})
    address = spec.extra_emails[-1]
    if address.casefold() in {row.email.casefold(), *(a.casefold() for a in row.extra_emails)}:
        return False
    row.extra_emails = [*row.extra_emails, address]
    row.updated_at = now or utcnow()
    session.add(row)
    event(session, profile_id, "recipient-added", address, via=via, now=now)
    return True


def unsubscribe(session: Session, profile_id: str, via: str = "email", now: datetime | None = None) -> bool:
    """Set unsubscribed_at once (idempotent). True if this call did it."""
    result = session.execute(update(Profile).where(Profile.id == profile_id, col(Profile.unsubscribed_at).is_(None))
                             .values(unsubscribed_at=now or utcnow()))
    if result.rowcount:
        event(session, profile_id, "unsubscribed", via=via, now=now)
    return bool(result.rowcount)


def resubscribe(session: Session, profile_id: str, via: str = "web", now: datetime | None = None) -> bool:
    """Clear unsubscribed_at (idempotent). True if this call did it. A disabled profile stays disabled."""
    get_profile(session, profile_id)
    result = session.execute(update(Profile).where(Profile.id == profile_id, col(Profile.unsubscribed_at).is_not(None))
                             .values(unsubscribed_at=None, updated_at=now or utcnow()))
    if result.rowcount:
        event(session, profile_id, "resubscribed", via=via, now=now)
    return bool(result.rowcount)


def set_reminders(session: Session, profile_id: str, on: bool, via: str = "web", now: datetime | None = None) -> bool:
    """Deadline reminders on (clear reminders_unsubscribed_at) or off; True if it changed. The digest is untouched."""
    row = get_profile(session, profile_id)
    if (row.reminders_unsubscribed_at is None) == on:
        return False
    row.reminders_unsubscribed_at = None if on else (now or utcnow())
    session.add(row)
    event(session, profile_id, "reminders-on" if on else "reminders-off", via=via, now=now)
    return True


def set_enabled(session: Session, profile_id: str, enabled: bool, via: str = "cli", now: datetime | None = None) -> bool:
    """Enable or disable matching and sending for a profile; True if it changed."""
    row = get_profile(session, profile_id)
    if row.enabled == enabled:
        return False
    row.enabled, row.updated_at = enabled, now or utcnow()
    session.add(row)
    event(session, profile_id, "enabled" if enabled else "disabled", via=via, now=now)
    return True


def unpause(session: Session, profile_id: str, via: str = "cli", now: datetime | None = None) -> str | None:
    """Send digests again to an SME that delivery paused after hard bounces (its address fixed, or the mailbox back):
    clears the pause and the bounce count, so a new hard bounce counts from one again, and records an 'unpaused'
    event naming the pause it ended. Returns that pause ("paused since ...: why"); None if the SME was not paused
    (nothing changes). A conditional UPDATE, so a bounce recorded meanwhile is never lost silently."""
    row = get_profile(session, profile_id)
    if row.paused_at is None:
        return None
    ended = f"paused since {as_utc(row.paused_at):%Y-%m-%d %H:%M} UTC: {row.paused_reason or 'no reason recorded'}"
    result = session.execute(update(Profile).where(Profile.id == profile_id, Profile.paused_at == row.paused_at)
                             .values(paused_at=None, paused_reason=None, bounces=0, bouncing_since=None,
                                     updated_at=now or utcnow()))
    if not result.rowcount:
        return None
    event(session, profile_id, "unpaused", detail=ended, via=via, now=now)
    return ended


def profiles_for_address(session: Session, address: str) -> list[Profile]:
    """Profiles that send to this address (first or further recipient); for "email me my link"."""
    want = address.strip().casefold()
    stmt = select(Profile).where(or_(func.lower(Profile.email) == want,
                                     func.lower(cast(Profile.extra_emails, String)).contains(want, autoescape=True)))
    rows = session.exec(stmt.order_by(Profile.id))
    return [p for p in rows if want in {p.email.casefold(), *(a.casefold() for a in (p.extra_emails or []))}]
