"""Signed link tokens (itsdangerous): each scoped to one purpose and one profile, sign-up or champion, and each
expiring.

A token is a URL-safe timed signature over a small JSON claim, salted per purpose, so a token made for one
purpose never verifies for another (an unsubscribe token is no feedback token, a profile link opens no champion
page). Every purpose has a lifetime (PURPOSES); a champion's sign-in link carries its own, up to a year, and the
champion's link version, so `matcher champion revoke` ends every link made before. Issue times can be given
(`--now`, tests): the expiry is checked against the `now` passed in, not the wall clock.

  purpose      claim                          lifetime
  unsubscribe  profile                        400 days (an old email's unsubscribe link must still work)
  resubscribe  profile                        400 days
  feedback     profile, notice, verdict       120 days
  profile      profile                        120 days (the "view and edit your profile" link in every email)
  confirm      sign-up                        web.signup_expiry_hours (the double opt-in email)
  pending      sign-up                        web.signup_expiry_hours (the browser's preview-and-sharpen page)
  recipient    profile, address               web.signup_expiry_hours (a further recipient confirms its address)
  champion     champion, version, days        as issued, 1 to 366 days
  reminders-unsubscribe  profile              400 days (a deadline reminder's own one-click unsubscribe)
  calendar     notice                         400 days (an item's "add to calendar" .ics link)
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from itsdangerous import BadData, TimestampSigner, URLSafeTimedSerializer

from matcher.config import Config

VERDICTS = ("not-relevant", "relevant")
CHAMPION_DEFAULT_DAYS = 30
CHAMPION_MAX_DAYS = 366
DEFAULT_SIGNUP_HOURS = 48
PURPOSES: dict[str, timedelta | None] = {
    "unsubscribe": timedelta(days=400),
    "resubscribe": timedelta(days=400),
    "feedback": timedelta(days=120),
    "profile": timedelta(days=120),
    "confirm": timedelta(hours=DEFAULT_SIGNUP_HOURS),
    "pending": timedelta(hours=DEFAULT_SIGNUP_HOURS),
    "recipient": timedelta(hours=DEFAULT_SIGNUP_HOURS),
    "champion": None,  # carried in the token
    "reminders-unsubscribe": timedelta(days=400),  # its own: leaving deadline reminders keeps the digest
    "calendar": timedelta(days=400),
}


class BadToken(ValueError):
    """A link token that is forged, damaged, or made for another purpose."""


class ExpiredToken(BadToken):
    """A well-signed token whose lifetime has run out."""


@dataclass(frozen=True)
class FeedbackClaim:
    profile_id: str
    notice_key: str
    verdict: str


@dataclass(frozen=True)
class ChampionClaim:
    champion_id: int
    version: int
    issued_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class RecipientClaim:
    profile_id: str
    address: str


class _IssuedAtSigner(TimestampSigner):
    """A TimestampSigner that stamps a given issue time (so `--now` and tests can make links as of a day)."""

    def __init__(self, *args, issued_at: int | None = None, **kwargs) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, **kwargs)
        self._issued_at = issued_at

    def get_timestamp(self) -> int:
        return self._issued_at if self._issued_at is not None else super().get_timestamp()

    def derive_key(self, secret_key: str | bytes | None = None) -> bytes:
        """The signer's derived key, worked out once per (key, salt) rather than for every token."""
        if secret_key is not None:
            return super().derive_key(secret_key)
        cache_key = (self.secret_keys[-1], self.salt, self.key_derivation, self.digest_method)
        derived = _DERIVED.get(cache_key)
        if derived is None:
            if len(_DERIVED) > 256:
                _DERIVED.clear()
            derived = _DERIVED[cache_key] = super().derive_key()
        return derived


_DERIVED: dict[tuple, bytes] = {}


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(UTC)


class LinkSigner:
    """Makes and checks the tokens, and the public URLs that carry them."""

    def __init__(self, key: str, public_base_url: str, signup_hours: int = DEFAULT_SIGNUP_HOURS) -> None:
        self._key = key
        self._serializers: dict[tuple[str, int], URLSafeTimedSerializer] = {}
        self.base_url = public_base_url.rstrip("/")
        self.lifetimes = dict(PURPOSES)
        for purpose in ("confirm", "pending", "recipient"):
            self.lifetimes[purpose] = timedelta(hours=signup_hours)

    def __getstate__(self) -> dict:  # handed to composing workers: the key and settings, not the cache
        return {**self.__dict__, "_serializers": {}}

    @classmethod
    def from_config(cls, cfg: Config) -> "LinkSigner":
        from matcher.deliver.secrets import signing_key

        web = getattr(cfg, "web", None)
        return cls(signing_key(cfg), cfg.digest.public_base_url, getattr(web, "signup_expiry_hours", DEFAULT_SIGNUP_HOURS))

    # the generic pair: every purpose goes through these
    def make(self, purpose: str, claim: dict, now: datetime | None = None) -> str:
        if purpose not in PURPOSES:
            raise ValueError(f"unknown token purpose {purpose!r}")
        issued_at = int(_now(now).timestamp())
        serializer = self._serializers.get((purpose, issued_at))
        if serializer is None:  # one per purpose and second: a digest run makes thousands of tokens
            if len(self._serializers) > 64:
                self._serializers.clear()
            serializer = self._serializers[(purpose, issued_at)] = URLSafeTimedSerializer(
                self._key, salt=f"matcher.{purpose}.v2", signer=_IssuedAtSigner, signer_kwargs={"issued_at": issued_at})
        return serializer.dumps(claim)

    def read(self, purpose: str, token: str, now: datetime | None = None) -> tuple[dict, datetime]:
        """(claim, issue time) of a token made for `purpose`; BadToken if it is not one, ExpiredToken if too old."""
        serializer = URLSafeTimedSerializer(self._key, salt=f"matcher.{purpose}.v2")
        try:
            claim, issued = serializer.loads(token, return_timestamp=True)
        except BadData:
            raise BadToken(f"{purpose} link: the signature does not match (the link is damaged, "
                           "was not made by us, or was made for something else)") from None
        if not isinstance(claim, dict):
            raise BadToken(f"{purpose} link: the token holds no claim")
        lifetime = self.lifetimes.get(purpose)
        if lifetime is not None and _now(now) >= issued + lifetime:
            raise ExpiredToken(f"{purpose} link: it expired on {issued + lifetime:%Y-%m-%d %H:%M} UTC")
        return claim, issued

    def url(self, path: str, purpose: str, claim: dict, now: datetime | None = None) -> str:
        return f"{self.base_url}/{path.strip('/')}/{quote(self.make(purpose, claim, now), safe='')}"

    def _profile_of(self, purpose: str, token: str, now: datetime | None) -> str:
        claim, _ = self.read(purpose, token, now)
        profile_id = claim.get("p")
        if not isinstance(profile_id, str) or not profile_id:
            raise BadToken(f"{purpose} link: the token names no profile")
        return profile_id

    # unsubscribe, resubscribe and the profile page: one profile each
    def unsubscribe_token(self, profile_id: str, now: datetime | None = None) -> str:
        return self.make("unsubscribe", {"p": profile_id}, now)

    def read_unsubscribe(self, token: str, now: datetime | None = None) -> str:
        return self._profile_of("unsubscribe", token, now)

    def unsubscribe_url(self, profile_id: str, now: datetime | None = None) -> str:
        return self.url("unsubscribe", "unsubscribe", {"p": profile_id}, now)

    def resubscribe_url(self, profile_id: str, now: datetime | None = None) -> str:
        return self.url("resubscribe", "resubscribe", {"p": profile_id}, now)

    def read_resubscribe(self, token: str, now: datetime | None = None) -> str:
        return self._profile_of("resubscribe", token, now)

    def profile_url(self, profile_id: str, now: datetime | None = None) -> str:
        return self.url("profile", "profile", {"p": profile_id}, now)

    def read_profile(self, token: str, now: datetime | None = None) -> str:
        return self._profile_of("profile", token, now)

    # deadline reminders: their own one-click unsubscribe, and "add to calendar" links
    def reminders_unsubscribe_url(self, profile_id: str, now: datetime | None = None) -> str:
        return self.url("reminders/unsubscribe", "reminders-unsubscribe", {"p": profile_id}, now)

    def read_reminders_unsubscribe(self, token: str, now: datetime | None = None) -> str:
        return self._profile_of("reminders-unsubscribe", token, now)

    def calendar_url(self, notice_key: str, now: datetime | None = None) -> str:
        return self.url("calendar", "calendar", {"n": notice_key}, now) + ".ics"

    def read_calendar(self, token: str, now: datetime | None = None) -> str:
        claim, _ = self.read("calendar", token.removesuffix(".ics"), now)
        key = claim.get("n")
        if not isinstance(key, str) or not key:
            raise BadToken("calendar link: the token names no notice")
        return key

    # feedback: one profile, one notice, one verdict
    def feedback_token(self, profile_id: str, notice_key: str, verdict: str = "not-relevant",
                       now: datetime | None = None) -> str:
        if verdict not in VERDICTS:
            raise ValueError(f"feedback verdict {verdict!r} is not one of {', '.join(VERDICTS)}")
        return self.make("feedback", {"p": profile_id, "n": notice_key, "v": verdict}, now)

    def read_feedback(self, token: str, now: datetime | None = None) -> FeedbackClaim:
        claim, _ = self.read("feedback", token, now)
        p, n, v = claim.get("p"), claim.get("n"), claim.get("v")
        if not (isinstance(p, str) and p and isinstance(n, str) and n):
            raise BadToken("feedback link: the token names no profile or notice")
        if v not in VERDICTS:
            raise BadToken(f"feedback link: unknown verdict {v!r}")
        return FeedbackClaim(profile_id=p, notice_key=n, verdict=v)

    def feedback_url(self, profile_id: str, notice_key: str, verdict: str = "not-relevant",
                     now: datetime | None = None) -> str:
        return f"{self.base_url}/feedback/{quote(self.feedback_token(profile_id, notice_key, verdict, now), safe='')}"

    # sign-ups: the confirmation email's link and the browser's own page
    def signup_url(self, purpose: str, signup_id: int, now: datetime | None = None) -> str:
        if purpose not in ("confirm", "pending"):
            raise ValueError(f"a sign-up link is for confirm or pending, not {purpose!r}")
        path = "signup/confirm" if purpose == "confirm" else "signup/pending"
        return self.url(path, purpose, {"s": signup_id}, now)

    def read_signup(self, purpose: str, token: str, now: datetime | None = None) -> int:
        claim, _ = self.read(purpose, token, now)
        sid = claim.get("s")
        if not isinstance(sid, int) or isinstance(sid, bool):
            raise BadToken(f"{purpose} link: the token names no sign-up")
        return sid

    # a further recipient of a profile confirms its own address
    def recipient_url(self, profile_id: str, address: str, now: datetime | None = None) -> str:
        return self.url("recipient", "recipient", {"p": profile_id, "a": address}, now)

    def read_recipient(self, token: str, now: datetime | None = None) -> RecipientClaim:
        claim, _ = self.read("recipient", token, now)
        p, a = claim.get("p"), claim.get("a")
        if not (isinstance(p, str) and p and isinstance(a, str) and "@" in a):
            raise BadToken("recipient link: the token names no profile or address")
        return RecipientClaim(p, a)

    # SME champions: a named, time-limited sign-in link
    def champion_token(self, champion_id: int, days: int = CHAMPION_DEFAULT_DAYS, now: datetime | None = None,
                       version: int = 0) -> str:
        if not 1 <= days <= CHAMPION_MAX_DAYS:
            raise ValueError(f"a champion link lasts 1 to {CHAMPION_MAX_DAYS} days, not {days}")
        return self.make("champion", {"c": champion_id, "v": version, "d": days}, now)

    def read_champion(self, token: str, now: datetime | None = None) -> ChampionClaim:
        claim, issued = self.read("champion", token, now)
        cid, version, days = claim.get("c"), claim.get("v"), claim.get("d")
        if not all(isinstance(x, int) and not isinstance(x, bool) for x in (cid, version, days)) \
                or not 1 <= days <= CHAMPION_MAX_DAYS:  # type: ignore[operator]
            raise BadToken("champion link: the token is not a champion link")
        expires = issued + timedelta(days=days)  # type: ignore[arg-type]
        if _now(now) >= expires:
            raise ExpiredToken(f"champion link: it expired on {expires:%Y-%m-%d %H:%M} UTC")
        return ChampionClaim(cid, version, issued, expires)  # type: ignore[arg-type]

    def champion_url(self, champion_id: int, days: int = CHAMPION_DEFAULT_DAYS, now: datetime | None = None,
                     version: int = 0) -> str:
        return f"{self.base_url}/champion/{quote(self.champion_token(champion_id, days, now, version), safe='')}"
