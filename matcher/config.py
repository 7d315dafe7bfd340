"""One validated Config object, loaded from config.toml. Every error names the key."""
from __future__ import annotations

import os
import re
import tomllib
import datetime as dt
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator


class ConfigError(Exception):
    """Raised for a config file that cannot be used; the message names the file and key."""


class _Section(BaseModel):
    # strict: `enabled = "off"` or `port = "25"` is an error naming the key, never quietly converted
    model_config = ConfigDict(extra="forbid", validate_assignment=True, strict=True)


def mask_url(url: str) -> str:
    """The URL with any password replaced by ***, for printing and logs."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return re.sub(r"(//[^/:@]*:)[^@/]*@", r"\1***@", url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = netloc[0].split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[1]}"))


def http_url_problem(v: str) -> str | None:
    """Why `v` is not an absolute http(s) URL with a host, or None."""
    try:
        parts = urlsplit(v)
        parts.port  # noqa: B018 - raises for a port that is not a number
    except ValueError as e:
        return f"is not a URL ({e})"
    if parts.scheme not in ("http", "https"):
        return "must be an absolute http:// or https:// URL"
    if not parts.hostname:
        return "must name a host (e.g. https://matcher.example.org)"
    if any(c.isspace() or ord(c) < 32 for c in v):
        return "must not contain spaces or control characters"
    return None


# sender domains that can never receive mail or pass SPF/DMARC (RFC 2606, RFC 6761, RFC 6762)
RESERVED_MAIL_SUFFIXES = (".invalid", ".test", ".example", ".localhost", ".local", ".internal")


class DatabaseConfig(_Section):
    url: str = "sqlite:///matcher.db"

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, v: str) -> str:
        if not v.startswith(("sqlite:", "postgresql:", "postgresql+psycopg:", "postgres:")):
            raise ValueError("must be a sqlite:/// or postgresql:// URL")
        if v.startswith("postgres:"):
            v = "postgresql:" + v[len("postgres:"):]
        if v.startswith("postgresql:"):
            v = "postgresql+psycopg:" + v[len("postgresql:"):]
        return v


class SourceConfig(_Section):
    enabled: bool = True
    base_url: str
    page_size: int = Field(100, ge=1, le=100)
    window_hours: float = Field(360, gt=0, le=24 * 62, description="length of one polling window")
    overlap_minutes: float = Field(60, ge=0, description="each poll re-reads this much before the watermark")
    lookback_days: float = Field(14, gt=0, description="how far back the first poll starts")
    delay_seconds: float = Field(1.0, ge=0, description="politeness: the gap between two requests to this portal")
    timeout_seconds: float = Field(30, gt=0)
    max_retries: int = Field(5, ge=0, le=20)
    retry_wait_seconds: float = Field(30, ge=0, description="wait after a throttle/5xx answer without Retry-After")
    rate_limit_wait_seconds: float = Field(30, ge=0, description="wait after the portal's rate-limit answer")
    max_wait_seconds: float = Field(600, gt=0, description="cap on any single back-off wait")
    stages: list[str] = Field(default_factory=lambda: ["planning", "tender"])
    notice_types: list[int] = Field(default_factory=list)
    refresh_hours: float = Field(24, gt=0, description="Digital Marketplace: re-read a listed opportunity whose "
                                 "listing entry is unchanged at most this often (its Q&A can grow meanwhile)")
    verify_tls: bool | str = True
    # Find a Tender only (sources.md 2.7): a full first page splits its window in halves down to this floor;
    # gaps in the notice-id sequence are asked for by id, at most audit_max_requests per poll, and an id
    # answered 404 / empty (residue) at most residue_retries times, residue_recheck_hours apart
    split_floor_seconds: float = Field(60, ge=1, description="shortest window a full page is split down to")
    audit_max_requests: int = Field(200, ge=0, description="by-id requests per poll to fill notice-id gaps")
    residue_retries: int = Field(2, ge=1, le=10, description="times an id answered 404/empty is asked for")
    residue_recheck_hours: float = Field(24, ge=0, description="wait before asking for a residue id again")

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        if problem := http_url_problem(v):
            raise ValueError(problem)
        return v.rstrip("/")


class EmbeddingConfig(_Section):
    model: str = Field("all-MiniLM-L6-v2", description="'all-MiniLM-L6-v2' (packaged, offline) or a sentence-transformers path/name")
    batch_size: int = Field(32, ge=1, le=4096)
    device: str = "cpu"
    precision: Literal["fp32", "bf16"] = "fp32"
    progress_min_texts: int = Field(256, ge=1, description="show a progress bar when embedding at least this many texts")


class WeightsConfig(_Section):
    """Relative weights of the four score components; fitted on both dev sets' judgments (`matcher eval --fit`)."""

    dense: float = Field(0.408, ge=0)
    lexical: float = Field(0.387, ge=0)
    keyword: float = Field(0.126, ge=0)
    cpv: float = Field(0.079, ge=0)

    @model_validator(mode="after")
    def _not_all_zero(self) -> "WeightsConfig":
        if sum(self.model_dump().values()) <= 0:
            raise ValueError("at least one weight must be above 0")
        return self


class FeedbackConfig(_Section):
    """How an SME's verdicts ('relevant' / 'not relevant' on a match) change its future ranking.

    The dense query moves towards the mean of the liked notices and away from the mean of the rejected ones
    (Rocchio: query_weight*q + relevant_weight*mean(liked) - not_relevant_weight*mean(rejected), renormalised);
    with verdicts of both kinds, a notice also gains neighbour_weight*(closeness to the liked - closeness to the
    rejected), each the mean cosine with its `neighbours` nearest; rejected notices and their near-copies are
    never matched again. `matcher eval --feedback-split` measures the effect.
    """

    query_weight: float = Field(1.0, gt=0, description="Rocchio alpha: weight of the profile's own query vector")
    relevant_weight: float = Field(0.25, ge=0, description="Rocchio beta: pull towards the mean of the liked notices")
    not_relevant_weight: float = Field(0.5, ge=0, description="Rocchio gamma: push away from the mean of the rejected notices")
    not_relevant_ramp: float = Field(30.0, ge=0, le=100, description="with n rejections the push is n/(n+ramp) of gamma, so one "
                                     "'not relevant' stays local (0 = full push from the first)")
    neighbour_weight: float = Field(0.0, ge=0, le=2, description="dense-score shift by closeness to liked minus closeness to rejected notices (0 = off)")
    neighbours: int = Field(3, ge=1, le=50, description="how many nearest liked/rejected notices that closeness averages over")
    near_copy_similarity: float = Field(0.95, gt=0, le=1, description="a notice at least this close (cosine) to a rejected one is a near-copy and is not matched")


class MatchingConfig(_Section):
    weights: WeightsConfig = Field(default_factory=WeightsConfig)
    feedback: FeedbackConfig = Field(default_factory=FeedbackConfig)
    calibration_slope: float = Field(48.55, gt=0, description="score = 1/(1+exp(-slope*(raw - midpoint)))")
    calibration_midpoint: float = Field(0.222, description="raw (weighted-mean) score at which the calibrated score is 0.5")
    threshold: float = Field(0.5, ge=0, le=1, description="minimum calibrated score (0-1) for a notice to be sent")
    top_k: int = Field(20, ge=1, le=500)
    chunk_size: int = Field(2048, ge=1, le=1_000_000, description="SMEs scored at once against all candidates (memory ~ chunk_size x notices x 40 bytes)")
    min_days_to_close: int = Field(3, ge=0, le=365)
    title_weight: int = Field(2, ge=1, le=10, description="how many times the title counts in the lexical text")
    infer_cpv_top: int = Field(10, ge=0, le=200, description="a profile without CPV codes borrows the commonest CPV groups of its top this-many text matches (0 = off)")
    infer_cpv_digits: int = Field(3, ge=2, le=8, description="CPV digits kept from those matches (3 = CPV group)")
    infer_cpv_codes: int = Field(2, ge=1, le=10, description="at most this many inferred CPV groups")
    closed_statuses: list[str] = Field(
        default_factory=lambda: ["cancelled", "withdrawn", "unsuccessful", "closed", "awarded"],
        description="notice statuses that are no longer open opportunities",
    )
    closed_stages: list[str] = Field(
        default_factory=lambda: ["award", "awardUpdate", "awardCancellation", "contract", "contractUpdate", "contractAmendment", "contractTermination", "implementation", "implementationUpdate", "tenderCancellation"],
        description="notice stages (OCDS release tags) that are no longer open opportunities",
    )
    explain_min_similarity: float = Field(0.35, ge=-1, le=1, description="capability phrases below this cosine with the notice are not listed (the best one always is)")
    explain_max_items: int = Field(3, ge=1, le=10, description="capabilities/terms/CPV codes listed per explanation")
    evidence_max_chars: int = Field(300, ge=40, le=2000, description="longest evidence quote (cut at a word boundary)")


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class DigestConfig(_Section):
    weekday: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] = "mon"
    time: dt.time = Field(dt.time(7, 30), strict=False, description="local time of the weekly run (HH:MM[:SS])")
    timezone: str = "Europe/London"
    max_items: int = Field(10, ge=1, le=100)
    send_empty: bool = False
    closing_soon_days: int = Field(7, ge=0, le=60)
    reminder_days: int = Field(3, ge=0, le=60, description="remind an SME this many days before a listed item closes (0 = no reminders)")
    from_address: str = "SME Opportunity Matcher <alerts@matcher.invalid>"
    subject: str = "Your public-sector opportunities for the week of {week_start}"
    daily_subject: str = Field("Your new public-sector opportunities for {day}", description="daily SMEs' subject")
    public_base_url: str = Field("http://127.0.0.1:8080", description="where the unsubscribe/feedback links point")
    max_attempts: int = Field(5, ge=1, le=50)

    @field_validator("public_base_url")
    @classmethod
    def _public_url(cls, v: str) -> str:
        if problem := http_url_problem(v):
            raise ValueError(problem + "; the unsubscribe and feedback links in every email start with it")
        if urlsplit(v).query or urlsplit(v).fragment:
            raise ValueError("must not have a query string or fragment")
        return v

    @field_validator("from_address")
    @classmethod
    def _sender(cls, v: str) -> str:
        from email.headerregistry import Address
        from email.utils import parseaddr

        from email_validator import EmailNotValidError, validate_email

        if any(c in v for c in "\r\n\0"):
            raise ValueError("must be on one line")
        name, addr = parseaddr(v)
        if not addr or "@" not in addr:
            raise ValueError("must be an email address, e.g. 'SME Opportunity Matcher <alerts@example.org>'")
        local, _, domain = addr.rpartition("@")
        reserved = domain.lower().endswith(RESERVED_MAIL_SUFFIXES) or domain.lower() == "localhost"
        if reserved and not re.fullmatch(r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?", domain):
            raise ValueError(f"{addr!r} is not a valid email address: the domain is not a host name")
        try:  # a reserved domain (fine for the outbox; smtp mode refuses it below) is checked for syntax only
            validate_email(f"{local}@example.org" if reserved else addr, check_deliverability=False,
                           globally_deliverable=False)
            Address(display_name=name, addr_spec=addr)
        except (EmailNotValidError, ValueError) as e:
            raise ValueError(f"{addr!r} is not a valid email address: {e}") from None
        return v

    def sender_domain(self) -> str:
        from email.utils import parseaddr

        return parseaddr(self.from_address)[1].rpartition("@")[2].lower()

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as e:
            raise ValueError(f"unknown time zone {v!r}") from e
        return v


class DeliveryConfig(_Section):
    mode: Literal["outbox", "smtp"] = "outbox"
    outbox_dir: Path = Field(Path("outbox"), strict=False)
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(25, ge=1, le=65535)
    starttls: bool = False
    ssl: bool = False
    username: str | None = None
    password_env: str | None = Field(None, description="name of the environment variable holding the SMTP password")
    timeout_seconds: float = Field(30, gt=0, description="wait for the answer to each SMTP command (MAIL, RCPT, DATA)")
    connect_timeout_seconds: float = Field(10, gt=0, description="wait for the TCP connection to the relay")
    greeting_timeout_seconds: float = Field(30, gt=0, description="wait for the relay's greeting (and EHLO, STARTTLS, AUTH)")
    data_timeout_seconds: float = Field(120, gt=0, description="wait for the answer after the message text; past it the outcome is unknown")
    connections: int = Field(8, ge=1, le=32, description="SMTP connections used at once (max_per_second caps the rate)")
    messages_per_connection: int = Field(100, ge=1, le=100000, description="messages sent on one connection before it is closed and a new one opened")
    max_per_second: float = Field(0, ge=0, description="at most this many messages a second over all connections (0: no limit)")
    breaker_failures: int = Field(5, ge=1, le=1000, description="relay failures in a row (no connection or greeting, timeouts, drops, 421) that stop the run early")
    lease_seconds: float = Field(900, ge=1, le=7 * 86400, description="a digest claimed by a sender that has not finished within this is claimed again by the next run")
    max_hard_bounces: int = Field(3, ge=1, le=100, description="permanent 5xx answers in a row after which the SME is paused")
    helo_hostname: str | None = Field(None, description="the name given in EHLO (default: this machine's FQDN)")
    compose_workers: int = Field(1, ge=0, le=16, description="processes composing digests beside the SMTP sender in a large run (0: it composes them itself)")

    @model_validator(mode="after")
    def _tls_modes(self) -> "DeliveryConfig":
        if self.starttls and self.ssl:
            raise ValueError("starttls and ssl cannot both be true")
        return self

    def password(self) -> str | None:
        if not self.password_env:
            return None
        value = os.environ.get(self.password_env)
        if value is None:
            raise ConfigError(f"delivery.password_env: environment variable {self.password_env} is not set")
        return value


class SecretsConfig(_Section):
    secret_env: str = Field("MATCHER_SECRET_KEY", description="environment variable holding the link-signing key")
    secret_file: Path = Field(Path(".matcher-secret"), strict=False, description="file holding the key when the variable is unset")


class ChampionConfig(_Section):
    """An SME champion listed in config; `matcher champion add` adds others to the store."""

    name: str = Field(min_length=1, max_length=200)
    email: str

    @field_validator("email")
    @classmethod
    def _address(cls, v: str) -> str:
        from email_validator import EmailNotValidError, validate_email

        try:
            return validate_email(v, check_deliverability=False).normalized
        except EmailNotValidError as e:
            raise ValueError(str(e)) from None


class WebConfig(_Section):
    """`matcher serve`: sign-up, the SMEs' profile pages and the champions' desk."""

    signup_expiry_hours: int = Field(48, ge=1, le=24 * 14, description="an unconfirmed sign-up and its links expire after this")
    champion_link_days: int = Field(30, ge=1, le=366, description="how long a champion's emailed sign-in link works")
    rate_per_address: str = Field("3/hour;10/day", description="sign-ups and link requests per address (limits syntax)")
    rate_per_client: str = Field("20/hour;100/day", description="sign-ups and link requests per client address")
    preview_weeks: int = Field(4, ge=0, le=12, description="weeks of stored notices the sign-up preview ranks (0 = off)")
    trusted_proxies: list[str] = Field(default_factory=list, description="addresses of the reverse proxies whose "
                                       "X-Forwarded-For/-Proto are believed (rate limits then see the real client)")

    @field_validator("rate_per_address", "rate_per_client")
    @classmethod
    def _limits(cls, v: str) -> str:
        from limits import parse_many

        try:
            parse_many(v)
        except ValueError:
            raise ValueError(f"{v!r} is not a rate such as '3/hour' or '3/hour;10/day'") from None
        return v


class SchedulerConfig(_Section):
    poll_every_minutes: int = Field(60, ge=1, le=7 * 24 * 60)
    misfire_grace_seconds: int = Field(3600, ge=1)
    leader_check_seconds: float = Field(5, gt=0, le=600, description="a waiting `matcher run` tries to take over "
                                        "this often; the leader checks it still holds the lock this often")


class Config(_Section):
    database: DatabaseConfig = Field(default_factory=DatabaseConfig)
    sources: dict[str, SourceConfig] = Field(default_factory=dict)
    embedding: EmbeddingConfig = Field(default_factory=EmbeddingConfig)
    matching: MatchingConfig = Field(default_factory=MatchingConfig)
    digest: DigestConfig = Field(default_factory=DigestConfig)
    delivery: DeliveryConfig = Field(default_factory=DeliveryConfig)
    secrets: SecretsConfig = Field(default_factory=SecretsConfig)
    scheduler: SchedulerConfig = Field(default_factory=SchedulerConfig)
    web: WebConfig = Field(default_factory=WebConfig)
    champions: list[ChampionConfig] = Field(default_factory=list, description="[[champions]] name, email")

    # where the file was read from; relative paths in it resolve against its folder
    base_dir: Path = Field(default=Path("."), exclude=True, strict=False)

    @field_validator("sources")
    @classmethod
    def _known_sources(cls, v: dict[str, SourceConfig]) -> dict[str, SourceConfig]:
        from matcher.sources import SOURCE_NAMES

        unknown = sorted(set(v) - set(SOURCE_NAMES))
        if unknown:
            raise ValueError(f"unknown source {unknown[0]!r}; known: {', '.join(SOURCE_NAMES)}")
        from matcher.sources import window_problem

        for name, src in v.items():
            if problem := window_problem(name, src.window_hours):
                raise ValueError(problem)
        return v

    @model_validator(mode="after")
    def _smtp_needs_a_real_sender(self) -> "Config":
        if self.delivery.mode == "smtp":
            domain = self.digest.sender_domain()
            if "." not in domain or domain.endswith(RESERVED_MAIL_SUFFIXES) or domain in ("localhost", "invalid"):
                raise ValueError(f"digest.from_address: the sender domain {domain!r} cannot send real mail; "
                                 "delivery.mode = \"smtp\" needs your own domain (with SPF/DKIM set up for the relay)")
        return self

    def path(self, p: Path) -> Path:
        return p if p.is_absolute() else (self.base_dir / p)

    def database_url(self) -> str:
        url = self.database.url
        prefix = "sqlite:///"
        if url.startswith(prefix) and not url.startswith(prefix + "/") and ":memory:" not in url:
            return prefix + str(self.path(Path(url[len(prefix):])).resolve())
        return url


def _format_errors(err: ValidationError, where: str) -> str:
    lines = []
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"]) or "(top level)"
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown key"
        got = e.get("input")
        if isinstance(got, str) and "://" in got:
            got = mask_url(got)  # a database URL's password never reaches the screen
        shown = "" if e["type"] == "extra_forbidden" or isinstance(got, dict) else f" (got {got!r})"
        lines.append(f"{where}: {key}: {msg}{shown}")
    return "\n".join(lines)


def load_config(path: str | Path | None = None, overrides: dict | None = None) -> Config:
    """Read, validate and return the config. Raises ConfigError naming the file and key."""
    p = Path(path) if path else Path("config.toml")
    if p.is_dir():
        raise ConfigError(f"{p}: is a folder, not a config file")
    if not p.exists():
        raise ConfigError(f"{p}: config file not found")
    try:
        raw = p.read_bytes()
    except OSError as e:
        raise ConfigError(f"{p}: cannot be read ({e.strerror or e})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise ConfigError(f"{p}: line {line}: not UTF-8 text (byte 0x{raw[e.start]:02x}); save it as UTF-8") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{p}: not valid TOML: {e}") from None
    if overrides:
        data = _merge(data, overrides)
    return config_from_dict(data, where=str(p), base_dir=p.resolve().parent)


def config_from_dict(data: dict, where: str = "config", base_dir: Path | None = None) -> Config:
    try:
        cfg = Config.model_validate(data)
    except ValidationError as e:
        raise ConfigError(_format_errors(e, where)) from None
    cfg.base_dir = base_dir or Path(".").resolve()
    return cfg


def _merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for k, v in extra.items():
        out[k] = _merge(out.get(k, {}), v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out
