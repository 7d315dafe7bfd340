"""The tiny web endpoint behind the digest's links (Starlette, served by uvicorn via `matcher serve`).

GET never changes anything (mail scanners follow links): it shows a page with a button. POST does the work.
  POST /unsubscribe/{token}  one-click unsubscribe (RFC 8058); idempotent
  GET  /unsubscribe/{token}  confirmation page with a POST button
  GET  /feedback/{token}     confirmation page;  POST stores the verdict (one per SME and notice)
  GET  /champion/{token}                   SME champions: one week's match quality (?week=2025-W04)
  GET  /champion/{token}/sme/{profile_id}  SME champions: what one SME was sent, week by week, and why
A forged or damaged token gets a 400 page saying so (the champions' time-limited token: 403). Pages come from
templates/web/ and templates/champion/, autoescaped.
"""
from __future__ import annotations

import logging
from urllib.parse import quote, urlencode

from jinja2 import Environment
from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse
from starlette.routing import Route

from matcher import clock
from matcher.web import champion
from matcher.config import Config
from matcher.store.models import Feedback, Notice, Profile, utcnow
from matcher.digest.render import template_env
from matcher.store import session_scope
from matcher.deliver.tokens import BadToken, ExpiredToken, FeedbackClaim, LinkSigner

log = logging.getLogger(__name__)

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'",
    "Referrer-Policy": "no-referrer",  # the path holds a token
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}
VERDICT_TEXT = {"not-relevant": "not relevant", "relevant": "relevant"}


def unsubscribe(session: Session, profile_id: str) -> bool:
    """Set Profile.unsubscribed_at once. True if this call did it, False if it was already set."""
    result = session.execute(
        update(Profile).where(Profile.id == profile_id, col(Profile.unsubscribed_at).is_(None)).values(unsubscribed_at=utcnow())
    )
    return bool(result.rowcount)


def record_feedback(session: Session, claim: FeedbackClaim, via: str = "email") -> None:
    """Upsert: one verdict per (SME, notice); a later click replaces the earlier verdict."""
    dialect = session.get_bind().dialect.name
    insert = {"sqlite": sqlite_insert, "postgresql": pg_insert}[dialect]
    stmt = insert(Feedback).values(
        profile_id=claim.profile_id, notice_key=claim.notice_key, verdict=claim.verdict, via=via, created_at=utcnow()
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["profile_id", "notice_key"], set_={"verdict": claim.verdict, "via": via, "created_at": utcnow()}
    )
    session.execute(stmt)


class _Pages:
    def __init__(self, env: Environment) -> None:
        self.env = env

    def page(self, template: str, status: int = 200, folder: str = "web", **context: object) -> HTMLResponse:
        html = self.env.get_template(f"{folder}/{template}.html").render(**context)
        return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)

    def error(self, status: int, heading: str, message: str) -> HTMLResponse:
        return self.page("error", status, heading=heading, message=message)


def create_app(cfg: Config, engine: Engine) -> Starlette:
    pages = _Pages(template_env())
    signer = LinkSigner.from_config(cfg)

    def bad_link(e: BadToken) -> HTMLResponse:
        log.info("rejected link: %s", e)
        return pages.error(400, "This link is not valid",
                           "It may have been damaged, for example cut in two by an email program. "
                           "Please use the link in your most recent digest email.")

    def gone() -> HTMLResponse:
        return pages.error(404, "Profile not found", "The profile this link was made for no longer exists.")

    def unsubscribe_page(request: Request):  # sync: Starlette runs it in a worker thread
        try:
            profile_id = signer.read_unsubscribe(request.path_params["token"])
        except BadToken as e:
            return bad_link(e)
        with session_scope(engine) as s:
            profile = s.get(Profile, profile_id)
            if profile is None:
                return gone()
            if request.method == "POST":
                changed = unsubscribe(s, profile_id)
                log.info("unsubscribe %s: %s", profile_id, "done" if changed else "already unsubscribed")
                return pages.page("unsubscribed", name=profile.name)
            if profile.unsubscribed_at is not None:
                return pages.page("unsubscribed", name=profile.name)
            return pages.page("unsubscribe_confirm", name=profile.name, action=request.url.path)

    def feedback_page(request: Request):
        try:
            claim = signer.read_feedback(request.path_params["token"])
        except BadToken as e:
            return bad_link(e)
        with session_scope(engine) as s:
            profile = s.get(Profile, claim.profile_id)
            if profile is None:
                return gone()
            title = s.exec(select(Notice.title).where(Notice.key == claim.notice_key)).first() or claim.notice_key
            context = {"name": profile.name, "title": title, "verdict_text": VERDICT_TEXT[claim.verdict]}
            if request.method == "POST":
                record_feedback(s, claim)
                return pages.page("feedback_saved", **context)
            return pages.page("feedback_confirm", action=request.url.path, **context)

    def health(_: Request):
        return PlainTextResponse("ok")

    return Starlette(routes=[
        Route("/unsubscribe/{token}", unsubscribe_page, methods=["GET", "POST"]),
        Route("/feedback/{token}", feedback_page, methods=["GET", "POST"]),
        Route("/healthz", health, methods=["GET"]),
        *champion_routes(cfg, engine, pages, signer),
    ])


def champion_routes(cfg: Config, engine: Engine, pages: _Pages, signer: LinkSigner) -> list[Route]:
    """The SME champions' read-only pages (GET only), behind a signed, time-limited token."""
    tz = cfg.digest.timezone

    def refused(e: BadToken) -> HTMLResponse:
        log.info("rejected champion link: %s", e)
        expired = isinstance(e, ExpiredToken)
        return pages.error(403, "This link has expired" if expired else "This link is not valid",
                           "Champion links work for a limited time. Ask the service team for a new one "
                           "(they make it with `matcher champion link`)." if expired else
                           "It may have been damaged or was not made by this service. Please ask for a new link.")

    def urls(token: str) -> dict[str, object]:
        home = f"/champion/{quote(token, safe='')}"
        return {
            "home": home,
            "week": lambda week: f"{home}?{urlencode({'week': week})}",
            "sme": lambda pid, week=None: f"{home}/sme/{quote(pid, safe='')}" + (f"?{urlencode({'week': week})}" if week else ""),
        }

    def chosen_week(request: Request) -> str:
        value = request.query_params.get("week")
        return champion.parse_week(value) if value else clock.week_of(clock.utc_now(), tz)

    def overview(request: Request):
        token = request.path_params["token"]
        try:
            claim = signer.read_champion(token)
        except BadToken as e:
            return refused(e)
        try:
            week = chosen_week(request)
        except champion.WeekError as e:
            return pages.error(400, "Unknown week", f"{e}.")
        with session_scope(engine) as s:
            report = champion.week_report(s, week, tz)
            weeks = champion.recent_weeks(s)
            s.rollback()
        return pages.page("overview", folder="champion", r=report, weeks=weeks, claim=claim, url=urls(token),
                          previous=champion.shift_week(week, -1), following=champion.shift_week(week, 1))

    def sme_page(request: Request):
        token = request.path_params["token"]
        try:
            claim = signer.read_champion(token)
        except BadToken as e:
            return refused(e)
        try:
            back = champion.parse_week(request.query_params["week"]) if request.query_params.get("week") else None
        except champion.WeekError:
            back = None
        with session_scope(engine) as s:
            history = champion.sme_history(s, request.path_params["profile_id"], tz)
            s.rollback()
        if history is None:
            return pages.error(404, "SME not found", "There is no SME profile with that id.")
        return pages.page("sme", folder="champion", h=history, back_week=back, claim=claim, url=urls(token))

    return [
        Route("/champion/{token}", overview, methods=["GET"]),
        Route("/champion/{token}/sme/{profile_id:path}", sme_page, methods=["GET"]),
    ]


def serve(cfg: Config, engine: Engine, host: str, port: int) -> None:
    import uvicorn

    uvicorn.run(create_app(cfg, engine), host=host, port=port, log_level="info", proxy_headers=False)
