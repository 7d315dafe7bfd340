"""What every page module shares: config, store, pages, link signer, rate limits, the clock, and sending the
service's own emails after the response has gone (so how long a page takes says nothing about an address)."""
from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from sqlalchemy.engine import Engine
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response

from matcher import clock
from matcher.config import Config
from matcher.deliver import account_mail
from matcher.deliver.tokens import LinkSigner
from matcher.web.forms import clean
from matcher.web.pages import Pages
from matcher.web.security import RateLimits, client_of


@dataclass
class Site:
    cfg: Config
    engine: Engine
    pages: Pages
    signer: LinkSigner
    limits: RateLimits
    now: Callable[[], datetime] = clock.utc_now
    encode: Callable[[list[str]], np.ndarray] | None = None  # for the sign-up preview; made on first use
    services: list = field(default_factory=list)  # background work with start() and stop(), run with the app
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def encoder(self) -> Callable[[list[str]], np.ndarray]:
        """The embedding function (the configured model through the store's vector cache), loaded once."""
        with self._lock:
            if self.encode is None:
                from matcher.embed import Embedder, cached_embed
                from matcher.store import session_scope

                embedder = Embedder(self.cfg.embedding)

                def encode(texts: list[str]) -> np.ndarray:
                    with session_scope(self.engine) as s:
                        return cached_embed(s, embedder, texts)[0]

                self.encode = encode
            return self.encode

    async def link_request_address(self, request: Request, purpose: str, context: dict) -> str | Response:
        """The address a "send me my link" form was posted with, or the page to answer with instead: the form
        itself on a GET, a 400 for what cannot be an address, 429 past the rate limit for `purpose`."""
        if request.method == "GET":
            return self.pages.page("link_request", request=request, **context)
        address = clean((await request.form()).get("email"))
        if "@" not in address or len(address) > 320:
            return self.pages.page("link_request", 400, request=request, error="Enter an email address", **context)
        if not self.limits.allow(purpose, address, client_of(request)):
            return self.pages.too_many()
        return address

    def mail_later(self, response: Response, mails: list[tuple[str, str, dict]]) -> Response:
        """Send (kind, address, context) emails once the response is out."""
        if mails:
            now, cfg, env = self.now(), self.cfg, self.pages.env

            def send_all() -> None:
                for kind, to, context in mails:
                    account_mail.mail(cfg, env, kind, to, now, **context)

            response.background = BackgroundTask(send_all)
        return response

    def when(self, moment: datetime) -> str:
        from matcher.digest.render import format_when

        return format_when(moment, self.cfg.digest.timezone)
