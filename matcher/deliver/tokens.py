"""Signed link tokens for one-click unsubscribe and "Not relevant" feedback (itsdangerous, salted per purpose).

A token carries who and what it is for, signed with the key from matcher.deliver.secrets.signing_key. Tokens do not
expire: an unsubscribe link in a months-old email must still work. A token made for one purpose never
verifies for the other (each purpose has its own salt). The SME champions' link is the exception: it opens
every SME's matches, so it is time-limited (itsdangerous timed signature plus the validity it was issued for).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from itsdangerous import BadData, SignatureExpired, TimestampSigner, URLSafeSerializer, URLSafeTimedSerializer

from matcher.config import Config

UNSUBSCRIBE_SALT = "matcher.unsubscribe.v1"
FEEDBACK_SALT = "matcher.store.feedback.v1"
CHAMPION_SALT = "matcher.web.champion.v1"
VERDICTS = ("not-relevant", "relevant")
CHAMPION_DEFAULT_DAYS = 30
CHAMPION_MAX_DAYS = 366


class BadToken(ValueError):
    """A link token that is forged, damaged, or made for another purpose."""


class ExpiredToken(BadToken):
    """A well-signed time-limited token whose validity has run out."""


@dataclass(frozen=True)
class ChampionClaim:
    issued_at: datetime
    expires_at: datetime


class _IssuedAtSigner(TimestampSigner):
    """A TimestampSigner that stamps a given issue time (so `--now` and tests can make links as of a day)."""

    def __init__(self, *args, issued_at: int | None = None, **kwargs) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, **kwargs)
        self._issued_at = issued_at

    def get_timestamp(self) -> int:
        return self._issued_at if self._issued_at is not None else super().get_timestamp()


@dataclass(frozen=True)
class FeedbackClaim:
    profile_id: str
    notice_key: str
    verdict: str


class LinkSigner:
    """Makes and checks the tokens, and the public URLs that carry them."""

    def __init__(self, key: str, public_base_url: str) -> None:
        self._unsubscribe = URLSafeSerializer(key, salt=UNSUBSCRIBE_SALT)
        self._feedback = URLSafeSerializer(key, salt=FEEDBACK_SALT)
        self._key = key
        self.base_url = public_base_url.rstrip("/")

    @classmethod
    def from_config(cls, cfg: Config) -> "LinkSigner":
        from matcher.deliver.secrets import signing_key

        return cls(signing_key(cfg), cfg.digest.public_base_url)

    # unsubscribe
    def unsubscribe_token(self, profile_id: str) -> str:
        return self._unsubscribe.dumps({"p": profile_id})

    def read_unsubscribe(self, token: str) -> str:
        data = _loads(self._unsubscribe, token, "unsubscribe")
        profile_id = data.get("p") if isinstance(data, dict) else None
        if not isinstance(profile_id, str) or not profile_id:
            raise BadToken("unsubscribe link: the token names no profile")
        return profile_id

    def unsubscribe_url(self, profile_id: str) -> str:
        return f"{self.base_url}/unsubscribe/{quote(self.unsubscribe_token(profile_id), safe='')}"

    # feedback
    def feedback_token(self, profile_id: str, notice_key: str, verdict: str = "not-relevant") -> str:
        if verdict not in VERDICTS:
            raise ValueError(f"feedback verdict {verdict!r} is not one of {', '.join(VERDICTS)}")
        return self._feedback.dumps({"p": profile_id, "n": notice_key, "v": verdict})

    def read_feedback(self, token: str) -> FeedbackClaim:
        data = _loads(self._feedback, token, "feedback")
        if not isinstance(data, dict):
            raise BadToken("feedback link: the token holds no feedback")
        p, n, v = data.get("p"), data.get("n"), data.get("v")
        if not (isinstance(p, str) and p and isinstance(n, str) and n):
            raise BadToken("feedback link: the token names no profile or notice")
        if v not in VERDICTS:
            raise BadToken(f"feedback link: unknown verdict {v!r}")
        return FeedbackClaim(profile_id=p, notice_key=n, verdict=v)

    def feedback_url(self, profile_id: str, notice_key: str, verdict: str = "not-relevant") -> str:
        token = self.feedback_token(profile_id, notice_key, verdict)
        return f"{self.base_url}/feedback/{quote(token, safe='')}"

    # SME champions' view (time-limited)
    def champion_token(self, days: int = CHAMPION_DEFAULT_DAYS, now: datetime | None = None) -> str:
        if not 1 <= days <= CHAMPION_MAX_DAYS:
            raise ValueError(f"a champion link lasts 1 to {CHAMPION_MAX_DAYS} days, not {days}")
        issued = int((now or datetime.now(UTC)).timestamp())
        serializer = URLSafeTimedSerializer(self._key, salt=CHAMPION_SALT, signer=_IssuedAtSigner,
                                            signer_kwargs={"issued_at": issued})
        return serializer.dumps({"r": "champion", "d": days})

    def read_champion(self, token: str, now: datetime | None = None) -> ChampionClaim:
        serializer = URLSafeTimedSerializer(self._key, salt=CHAMPION_SALT)
        try:
            data, issued = serializer.loads(token, max_age=CHAMPION_MAX_DAYS * 86400, return_timestamp=True)
        except SignatureExpired:  # signed by us, but older than any champion link can last
            raise ExpiredToken("champion link: it has expired") from None
        except BadData:
            raise BadToken("champion link: the signature does not match (the link is damaged or was not made by us)") from None
        days = data.get("d") if isinstance(data, dict) and data.get("r") == "champion" else None
        if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= CHAMPION_MAX_DAYS:
            raise BadToken("champion link: the token is not a champion link")
        expires = issued + timedelta(days=days)
        if (now or datetime.now(UTC)) >= expires:
            raise ExpiredToken(f"champion link: it expired on {expires:%Y-%m-%d %H:%M} UTC")
        return ChampionClaim(issued_at=issued, expires_at=expires)

    def champion_url(self, days: int = CHAMPION_DEFAULT_DAYS, now: datetime | None = None) -> str:
        return f"{self.base_url}/champion/{quote(self.champion_token(days, now), safe='')}"


def _loads(serializer: URLSafeSerializer, token: str, purpose: str) -> object:
    try:
        return serializer.loads(token)
    except BadData:
        raise BadToken(f"{purpose} link: the signature does not match (the link is damaged or was not made by us)") from None
