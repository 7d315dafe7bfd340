"""Form protection for the pages: CSRF (asgi-csrf's double-submit cookie) and rate limits (limits).

CSRF: every POST must carry the `csrftoken` form field matching the signed `csrftoken` cookie, cookie or not:
a POST with neither is refused too (asgi-csrf's `always_protect`, here every path). The one exception is the
RFC 8058 one-click unsubscribe, which mail clients POST without cookies or form fields: its signed,
purpose-scoped token is its protection, and the POST is idempotent.

Rate limits: sign-up and link requests are counted per address (what was typed, normalised) and per client
(the peer address), each in a moving window. A refused request gets the same page whatever the address, so
limits reveal nothing about who is registered.
"""
from __future__ import annotations

import hashlib
import re

from asgi_csrf import asgi_csrf
from limits import parse_many
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.requests import Request

CSRF_FIELD = "csrftoken"
ONE_CLICK = re.compile(r"^/(?:reminders/)?unsubscribe/[^/]+$")  # the digest's, and the deadline reminders' own


class _EveryPathBut:
    """asgi-csrf's `always_protect` asks `path in always_protect`: every path is, but the one-click unsubscribe."""

    def __contains__(self, path: object) -> bool:
        return not (isinstance(path, str) and ONE_CLICK.match(path))


def _one_click_unsubscribe(scope: dict) -> bool:
    return bool(ONE_CLICK.match(scope.get("path", "")))


def with_csrf(app, secret: str, secure_cookie: bool = False, failure_page=None):  # noqa: ANN001, ANN201 - ASGI app
    """Wrap an ASGI app: POSTs need the csrftoken field (templates get it from request.scope['csrftoken']()).

    `failure_page()` gives (html, headers) for the 403 a refused POST gets (default: asgi-csrf's plain one)."""

    async def refused(scope, send, message_id) -> None:  # noqa: ANN001
        html, headers = failure_page()
        await send({"type": "http.response.start", "status": 403,
                    "headers": [(b"content-type", b"text/html; charset=utf-8"),
                                *((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items())]})
        await send({"type": "http.response.body", "body": html.encode("utf-8")})

    return asgi_csrf(
        app,
        signing_secret=hashlib.sha256(f"csrf\n{secret}".encode()).hexdigest(),
        always_protect=_EveryPathBut(),
        skip_if_scope=_one_click_unsubscribe,
        cookie_secure=secure_cookie,
        cookie_samesite="Strict",
        send_csrf_failed=refused if failure_page else None,
    )


def csrf_token(request: Request) -> str:
    get = request.scope.get(CSRF_FIELD)
    return get() if callable(get) else ""


class RateLimits:
    """Moving-window limits on one action, per address and per client; limits syntax, e.g. '5/hour;20/day'."""

    def __init__(self, per_address: str, per_client: str, storage: MemoryStorage | None = None) -> None:
        self.per_address = parse_many(per_address)
        self.per_client = parse_many(per_client)
        self.limiter = MovingWindowRateLimiter(storage or MemoryStorage())

    @staticmethod
    def _address_key(address: str) -> str:
        return hashlib.sha256(address.strip().casefold().encode()).hexdigest()[:32]  # no addresses kept in memory

    def allow(self, action: str, address: str | None, client: str | None) -> bool:
        """Count one attempt; False when the address or the client is over its limit."""
        ok = True
        if client:
            ok = all([self.limiter.hit(limit, action, "client", client) for limit in self.per_client]) and ok
        if address:
            key = self._address_key(address)
            ok = all([self.limiter.hit(limit, action, "address", key) for limit in self.per_address]) and ok
        return ok


def client_of(request: Request) -> str:
    return request.client.host if request.client else "unknown"
