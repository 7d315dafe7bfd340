"""The shared polite HTTP client: timeouts, retries with backoff, Retry-After, one request in flight per portal."""
from __future__ import annotations

import json
import logging
import math
import random
import ssl
import threading
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from matcher import __version__
from matcher.config import SourceConfig

log = logging.getLogger(__name__)

USER_AGENT = f"sme-opportunity-matcher/{__version__} (tender alerts for SMEs; polite poller)"

_host_locks: dict[str, threading.Lock] = {}
_host_last: dict[str, float] = {}
_registry_lock = threading.Lock()


class FetchError(Exception):
    """A request that failed for good (after retries). Says which URL and why."""

    def __init__(self, url: str, reason: str, status: int | None = None, retry_after: float | None = None):
        super().__init__(f"{url}: {reason}")
        self.url, self.reason, self.status, self.retry_after = url, reason, status, retry_after


class Throttled(FetchError):
    """The portal said slow down (Contracts Finder's 403, a 429), or was briefly unavailable (5xx)."""


class BadBody(FetchError):
    """A 200 whose body is not what the API sends: an HTML error page, truncated or invalid JSON."""


class TlsSetupError(ValueError):
    """`verify_tls` names a CA file that cannot be used; the message says which and why."""


def tls_verify(verify: bool | str) -> ssl.SSLContext | bool:
    """What httpx should verify with. A path adds the certificates in that PEM file to the usual trusted
    roots (certifi, or SSL_CERT_FILE): for a server that sends an incomplete chain, put the missing
    intermediate there (Public Contracts Scotland's Sectigo intermediate, say)."""
    if isinstance(verify, bool):
        return verify
    try:
        ctx = httpx.create_ssl_context(verify=True)
        ctx.load_verify_locations(cafile=verify)
    except (OSError, ssl.SSLError) as e:
        raise TlsSetupError(f"verify_tls: cannot load CA certificates from {verify!r}: {e}") from None
    return ctx


def _host_lock(url: str) -> tuple[str, threading.Lock]:
    host = urlsplit(url).netloc
    with _registry_lock:
        return host, _host_locks.setdefault(host, threading.Lock())


def retry_after_seconds(value: str | None) -> float | None:
    """Parse a Retry-After header: delta-seconds or an HTTP-date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class PoliteClient:
    """One per portal. Retries transient failures; never has two requests in flight to one host."""

    def __init__(
        self,
        cfg: SourceConfig,
        throttle_statuses: frozenset[int] = frozenset({429}),
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ):
        self.cfg = cfg
        self.throttle_statuses = throttle_statuses | {429}
        self.sleep = sleep
        self.requests_made = 0
        self._http = httpx.Client(
            timeout=httpx.Timeout(cfg.timeout_seconds),
            headers={"User-Agent": USER_AGENT, "Accept": "application/json, text/html;q=0.9, */*;q=0.5"},
            follow_redirects=True,
            verify=tls_verify(cfg.verify_tls),
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "PoliteClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- waiting -------------------------------------------------------------------------------
    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        base = self.cfg.retry_wait_seconds
        if isinstance(exc, Throttled) and exc.retry_after is not None:
            return min(exc.retry_after, self.cfg.max_wait_seconds)
        if isinstance(exc, Throttled) and exc.status in self.throttle_statuses:
            return min(self.cfg.rate_limit_wait_seconds, self.cfg.max_wait_seconds)
        backoff = base * (2 ** max(0, state.attempt_number - 1)) if base else 0.0
        return min(backoff * (0.8 + 0.4 * random.random()), self.cfg.max_wait_seconds)

    def _polite_gap(self, host: str) -> None:
        last = _host_last.get(host)
        if last is not None:
            gap = self.cfg.delay_seconds - (time.monotonic() - last)
            if gap > 0:
                self.sleep(gap)

    # -- requests ------------------------------------------------------------------------------
    def _once(self, url: str, params: dict[str, Any] | None) -> httpx.Response:
        host, lock = _host_lock(url)
        with lock:
            self._polite_gap(host)
            try:
                self.requests_made += 1
                resp = self._http.get(url, params=params)
                resp.read()
            except httpx.TimeoutException as e:
                raise FetchError(url, f"timed out ({type(e).__name__})") from e
            except httpx.TransportError as e:
                hint = ""
                if "CERTIFICATE_VERIFY_FAILED" in str(e):
                    hint = " (if the server sends an incomplete chain, set verify_tls to a PEM file with its intermediate)"
                raise FetchError(url, f"connection failed ({type(e).__name__}: {e}){hint}") from e
            finally:
                _host_last[host] = time.monotonic()
        status = resp.status_code
        retry_after = retry_after_seconds(resp.headers.get("Retry-After"))
        # a 403 that says when to come back is a rate limit too (load balancers and WAFs answer so)
        if status in self.throttle_statuses or status >= 500 or (status == 403 and retry_after is not None):
            raise Throttled(str(resp.url), f"HTTP {status}", status, retry_after)
        if status >= 400:
            raise FetchError(str(resp.url), f"HTTP {status}", status)
        return resp

    def _retrying(self) -> Retrying:
        return Retrying(
            retry=retry_if_exception(lambda e: isinstance(e, FetchError) and (e.status is None or isinstance(e, Throttled))),
            stop=stop_after_attempt(self.cfg.max_retries + 1),
            wait=self._wait,
            sleep=self.sleep,
            reraise=True,
            before_sleep=lambda s: log.warning("retrying after %s (attempt %d)", s.outcome.exception(), s.attempt_number),
        )

    def get(self, url: str, params: dict[str, Any] | None = None) -> httpx.Response:
        return self._retrying()(self._once, url, params)

    def get_text(self, url: str, params: dict[str, Any] | None = None, expect: Callable[[str, str], None] | None = None) -> str:
        """GET and decode the body. `expect(text, url)` may raise BadBody (an error page served with
        a 200, say), which is retried like any transient fault."""

        def attempt() -> str:
            resp = self._once(url, params)
            text = decode_body(resp)
            if expect:
                expect(text, str(resp.url))
            return text

        return self._retrying()(attempt)

    def get_json(self, url: str, params: dict[str, Any] | None = None, repair: Callable[[str], str] | None = None) -> Any:
        """GET and parse JSON, retrying bodies that are not JSON (error pages, truncation) like any transient fault."""

        def attempt() -> Any:
            resp = self._once(url, params)
            text = decode_body(resp)
            if repair:
                text = repair(text)
            return parse_json(text, str(resp.url), resp.status_code)

        return self._retrying()(attempt)


def _finite_float(literal: str) -> float:
    value = float(literal)
    if math.isinf(value):
        raise _NumberOutOfRange(literal)
    return value


class _NumberOutOfRange(ValueError):
    pass


def _no_constants(name: str) -> float:
    raise _NumberOutOfRange(name)  # NaN / Infinity: Python reads them, JSON has no such numbers


def parse_json(text: str, url: str, status: int = 200) -> Any:
    """Strict JSON: an HTML page, a syntax error or a number too big for a float (`1e9999`) is BadBody."""
    if text.lstrip()[:1] == "<":
        raise BadBody(url, f"HTTP {status} with an HTML body, not JSON")
    try:
        return json.loads(text, parse_float=_finite_float, parse_constant=_no_constants)
    except json.JSONDecodeError as e:
        raise BadBody(url, f"invalid JSON at line {e.lineno} column {e.colno}: {e.msg}") from None
    except _NumberOutOfRange as e:
        raise BadBody(url, f"invalid JSON: number {e} is out of range or not a JSON number") from None


def decode_body(resp: httpx.Response) -> str:
    """Decode as UTF-8; bytes that are not UTF-8 are read as Windows-1252 rather than dropped."""
    raw = resp.content
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")
