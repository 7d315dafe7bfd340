"""The web side of `matcher serve` (Starlette under uvicorn): the digest's links, the SMEs' sign-up and profile
pages, and the champions' desk. Each page module owns its routes:

  signup.py    /signup, /signup/pending/{t}, /signup/confirm/{t}, /recipient/{t}   sign-up with double opt-in
  profile.py   /profile/{t}, /profile/link, /unsubscribe/{t}, /resubscribe/{t}      the profile an SME owns
  verdicts.py  /feedback/{t}[/undo|/reason]                                          "Relevant" / "Not relevant"
  desk.py      /champion/sign-in, /champion/{t}[/sme/{id}|/mark|/buyers]             the champions' desk
  reminders.py /reminders/unsubscribe/{t}, /calendar/{t}.ics                          deadline reminders' links

GET never changes anything (mail scanners follow links): it shows a page with a button; POST does the work.
Every POST carries a CSRF token (security.py; the RFC 8058 one-click unsubscribe aside), sign-up and link
requests are rate-limited, every token is scoped to one purpose and expires (deliver/tokens.py), and every page
is autoescaped (templates/web/, templates/champion/).
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import asynccontextmanager
from datetime import datetime

from sqlalchemy.engine import Engine
from sqlalchemy.exc import DataError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from matcher import clock
from matcher.config import Config
from matcher.deliver.tokens import LinkSigner
from matcher.digest.render import template_env
from matcher.store import session_scope
from matcher.store.champions import sync_config
from matcher.web import desk, hardening, metrics, profile, reminders, signup, verdicts
from matcher.web.pages import SECURITY_HEADERS, Pages
from matcher.web.security import RateLimits, with_csrf
from matcher.web.site import Site

log = logging.getLogger(__name__)


def create_site(cfg: Config, engine: Engine, now: Callable[[], datetime] = clock.utc_now) -> Site:
    with session_scope(engine) as s:
        sync_config(s, cfg.champions)
    env = template_env()
    env.auto_reload = False  # templates are read once: no file check on every page (the desk renders many)
    return Site(cfg=cfg, engine=engine, pages=Pages(env), signer=LinkSigner.from_config(cfg),
                limits=RateLimits(cfg.web.rate_per_address, cfg.web.rate_per_client), now=now)


def _services(site: Site):  # noqa: ANN202 - the app's lifespan: its background services run while it serves
    @asynccontextmanager
    async def lifespan(_app):  # noqa: ANN001, ANN202
        for service in site.services:
            service.start()
        try:
            yield
        finally:
            for service in site.services:
                await run_in_threadpool(service.stop)

    return lifespan


def create_app(cfg: Config, engine: Engine, now: Callable[[], datetime] = clock.utc_now):  # noqa: ANN201 - ASGI app
    """The ASGI app; `now` is the clock the pages use (tests and `--now` move it)."""
    site = create_site(cfg, engine, now)

    def health(_: Request):
        status, body = hardening.health(cfg, engine, site.now())
        return Response(body, status_code=status, media_type="application/json")

    def refused_input(_: Request, exc: Exception):  # the store refused a value (e.g. a NUL byte on PostgreSQL)
        log.info("request refused by the store: %s", type(exc).__name__)
        return site.pages.error(400, "This request could not be read",
                                "Something in it (an address, a link or a form field) holds characters we cannot "
                                "store. Please check it and try again.")

    app = Starlette(routes=[
        *signup.routes(site),
        *profile.routes(site),
        *verdicts.routes(site),
        *desk.routes(site),
        *reminders.routes(site),
        Route("/healthz", health, methods=["GET"]),
        *metrics.routes(cfg, engine, site.now),
    ], exception_handlers={DataError: refused_input}, lifespan=_services(site))
    from matcher.deliver.secrets import signing_key

    def refused() -> tuple[str, dict[str, str]]:
        page = site.pages.error(403, "This form has expired",
                                "For your safety, forms only work from the page they came from. Go back, reload the "
                                "page, and send it again.")
        return bytes(page.body).decode("utf-8"), dict(SECURITY_HEADERS)

    return hardening.harden(with_csrf(app, signing_key(cfg), secure_cookie=cfg.digest.public_base_url.startswith("https://"),
                                      failure_page=refused))


def serve(cfg: Config, engine: Engine, host: str, port: int) -> None:
    import uvicorn

    # the access log shows paths with their link tokens cut out (hardening.RedactTokens)
    # behind a reverse proxy: believe its X-Forwarded-For/-Proto only when it is named in web.trusted_proxies
    trusted = cfg.web.trusted_proxies
    uvicorn.run(create_app(cfg, engine), host=host, port=port, log_level="info", proxy_headers=bool(trusted),
                forwarded_allow_ips=",".join(trusted) if trusted else None, log_config=hardening.access_log_config())
