"""What every web response gets, whatever made it: a page, a 404/405 from routing, a 403 from the CSRF check, a 500
from a bug. And what the access log may say.

- `harden(app)` wraps the whole ASGI app (outside Starlette's error middleware, so a 500 is covered too): every
  HTTP response gets SECURITY_HEADERS (a header the app set itself wins), and a path holding a control
  character (`/champion/{t}/sme/%00`) gets a plain 404 before any database sees it.
- `ACCESS_LOG_CONFIG` is uvicorn's logging config with a filter that cuts link tokens out of the access log:
  a path segment after the first that is long enough to be a token becomes `<token>`, and the query string goes.
- `health(cfg, engine, now)` is /healthz: the database answers, and each enabled source had a successful poll
  within twice the poll interval.
"""
from __future__ import annotations

import copy
import json
import logging
import re
from datetime import datetime, timedelta

from sqlalchemy import select, text
from sqlalchemy.engine import Engine

from matcher.config import Config

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'",
    "Referrer-Policy": "no-referrer",  # paths hold tokens
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
    "Cache-Control": "no-store",
}
_RAW = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in SECURITY_HEADERS.items()]
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_PATH = 4096
TOKEN_MIN_CHARS = 16  # itsdangerous tokens are longer; route names (sign-in, sme, mark, ...) are shorter


def _headers(existing: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    have = {name.lower() for name, _ in existing}
    return [*existing, *((k, v) for k, v in _RAW if k not in have)]


async def _plain(send, status: int, body: str) -> None:  # noqa: ANN001
    await send({"type": "http.response.start", "status": status,
                "headers": _headers([(b"content-type", b"text/plain; charset=utf-8")])})
    await send({"type": "http.response.body", "body": body.encode()})


def harden(app):  # noqa: ANN001, ANN201 - ASGI in, ASGI out
    """Security headers on every response, and no request with a control character in its path reaches the app."""

    async def hardened(scope, receive, send) -> None:  # noqa: ANN001
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        path = scope.get("path", "")
        if len(path) > MAX_PATH:
            await _plain(send, 414, "Path too long.")
            return
        if _CONTROL.search(path) or _CONTROL.search(scope.get("query_string", b"").decode("latin-1")):
            await _plain(send, 404, "Not found.")
            return

        async def send_with_headers(message) -> None:  # noqa: ANN001
            if message["type"] == "http.response.start":
                message = {**message, "headers": _headers(list(message.get("headers", [])))}
            await send(message)

        await app(scope, receive, send_with_headers)

    return hardened


def redact_path(path: str) -> str:
    """The path with token-like segments (after the first) replaced by '<token>', and no query string."""
    parts = path.split("?", 1)[0].split("/")
    return "/".join(p if i < 2 or len(p) < TOKEN_MIN_CHARS else "<token>" for i, p in enumerate(parts))


class RedactTokens(logging.Filter):
    """On uvicorn's access log (args: client, method, path, HTTP version, status): the path without its tokens."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], redact_path(args[2]), *args[3:])
        return True


def access_log_config() -> dict:
    """uvicorn's default logging config, with RedactTokens on the access log handler."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["redact_tokens"] = {"()": "matcher.web.hardening.RedactTokens"}
    config["handlers"]["access"]["filters"] = ["redact_tokens"]
    return config


def health(cfg: Config, engine: Engine, now: datetime) -> tuple[int, str]:
    """(HTTP status, JSON body) for /healthz: 200 when the database answers and every enabled source polled
    successfully within twice scheduler.poll_every_minutes; 503 saying what is wrong otherwise."""
    from matcher.store.engine import as_utc
    from matcher.store.models import Watermark

    checks: dict[str, object] = {}
    ok = True
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            rows = conn.execute(select(Watermark.source, Watermark.last_success_at)).all()
        marks = {source: as_utc(last) for source, last in rows}
        checks["database"] = "ok"
    except Exception as e:  # noqa: BLE001 - any failure to reach the store is "unhealthy", said in one line
        checks["database"] = f"unreachable: {type(e).__name__}"
        return 503, json.dumps({"status": "unhealthy", **checks})
    allowed = timedelta(minutes=2 * cfg.scheduler.poll_every_minutes)
    sources: dict[str, str] = {}
    for name, src in sorted(cfg.sources.items()):
        if not src.enabled:
            continue
        last = marks.get(name)
        if last is None:
            sources[name] = "unhealthy: no successful poll yet"
        elif now - last > allowed:
            sources[name] = f"unhealthy: last successful poll {last:%Y-%m-%d %H:%M} UTC, over {allowed} ago"
        else:
            sources[name] = "ok"
        ok = ok and sources[name] == "ok"
    checks["sources"] = sources
    return (200 if ok else 503), json.dumps({"status": "ok" if ok else "unhealthy", **checks})
