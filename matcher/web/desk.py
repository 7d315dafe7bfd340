"""The SME champions' desk, behind each champion's named, time-limited sign-in link.

  GET  /champion/sign-in, POST             ask for a sign-in link by email (the same answer for any address)
  GET  /champion/{token}                   one week (?week=2025-W04): figures, trend, SMEs, who got nothing and why
                                           (100 SMEs a page: &page=N for the SMEs, &quiet=N for those that got nothing)
  GET  /champion/{token}/sme/{profile_id}  what one SME was sent, week by week, and why; mark each item
  POST /champion/{token}/mark              store the champion's mark on a sent item (who and when), then back
  GET  /champion/{token}/buyers            buyers by SME share of their awards (the figures `matcher buyers` prints)
A forged, damaged or revoked token gets a 403 page; an expired one says so.
"""
from __future__ import annotations

import logging
import secrets
from datetime import UTC, datetime
from types import SimpleNamespace
from urllib.parse import quote, urlencode

from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from matcher import clock
from matcher.deliver.tokens import BadToken, ExpiredToken
from matcher.store import session_scope
from matcher.store.champions import ChampionError, find_by_email, mark, signed_in
from matcher.web import champion
from matcher.web import overview as paged
from matcher.web.cache import PageCache
from matcher.web.hardening import SECURITY_HEADERS
from matcher.web.desk_report import attach_marks, delivery_note, totals
from matcher.web.site import Site
from matcher.web.warm import OverviewUnavailable, Warmer

log = logging.getLogger(__name__)
SIGN_IN_SENT = ("If that address belongs to an SME champion, we have sent it a sign-in link. "
                "It may take a few minutes to arrive.")


def _plain_id(value: str, limit: int = 100) -> bool:
    """An id as the store holds them: 1 to `limit` characters, no control characters (a NUL breaks PostgreSQL)."""
    return 0 < len(value) <= limit and not any(ord(c) < 32 or ord(c) == 127 for c in value)


SMES_PER_PAGE = 100
# the overview's rows are rendered once for every champion with links under this stand-in for the champion's link
# (random, so no SME's name or notice's title can hold it; a link is URL-quoted: nothing in it needs HTML escaping)
STAND_IN = f"/champion/{secrets.token_hex(16)}"


def _page_number(request: Request, name: str = "page") -> int:
    value = request.query_params.get(name, "1")
    return int(value) if value.isdigit() and 0 < int(value) < 100_000 else 1


def routes(site: Site) -> list[Route]:
    pages, signer, cfg = site.pages, site.signer, site.cfg
    tz = cfg.digest.timezone

    def refused(e: BadToken | None = None):  # noqa: ANN202
        log.info("rejected champion link: %s", type(e).__name__ if e else "revoked or inactive")
        expired = isinstance(e, ExpiredToken)
        return pages.error(403, "This link has expired" if expired else "This link is not valid",
                           "Champion links work for a limited time. Ask for a new one at /champion/sign-in."
                           if expired else "It may have been damaged, revoked, or not made by this service. "
                           "Ask for a new one at /champion/sign-in.")

    def urls(token: str, quoted: bool = False) -> dict[str, object]:
        home = token if quoted else f"/champion/{quote(token, safe='')}"
        return {
            "home": home,
            "mark": f"{home}/mark",
            "buyers": f"{home}/buyers",
            "week": lambda week: f"{home}?{urlencode({'week': week})}",
            "sme": lambda pid, week=None: f"{home}/sme/{quote(pid, safe='')}" + (f"?{urlencode({'week': week})}" if week else ""),
        }

    def who(request: Request, s):  # noqa: ANN001, ANN202
        """(champion, claim) for the token in the path, or (None, error page)."""
        try:
            claim = signer.read_champion(request.path_params["token"], site.now())
        except BadToken as e:
            return None, refused(e)
        person = signed_in(s, claim.champion_id, claim.version)
        if person is None:
            return None, refused()
        return (person, claim), None

    def chosen_week(request: Request) -> str:
        value = request.query_params.get("week")
        return champion.parse_week(value) if value else clock.week_of(site.now(), tz)

    def overview(request: Request):
        token = request.path_params["token"]
        with session_scope(site.engine) as s:
            found, error = who(request, s)
            if error:
                return error
            try:
                week = chosen_week(request)
            except champion.WeekError as e:
                return pages.error(400, "Unknown week", f"{e}.")
        person, claim = found
        # computed ahead for everyone (matcher.web.warm): the week's index, figures, trend and every page's rows
        try:
            snap, shown, smes, quiet_shown, quiet = warmer.page(week, _page_number(request), _page_number(request, "quiet"),
                                                                  by=person.id)
        except OverviewUnavailable as e:
            log.warning("champion overview: %s", e)
            return pages.error(503, "The overview is not available just now", "Please try again in a minute.")
        index, home = snap.index, str(escape(urls(token)["home"]))  # URL-quoted already: escaping changes nothing
        smes, quiet = (SimpleNamespace(rows=p.rows, html=Markup(p.html.replace(STAND_IN, home))) for p in (smes, quiet))

        def render() -> bytes:  # this champion's page of the week (no form on it holds a CSRF token)
            return bytes(pages.page(
                "overview", folder="champion", request=request, r=index, weeks=snap.weeks, claim=claim, champion=person,
                url=urls(token), trend=snap.trend, total=totals(snap.trend), this_week=snap.trend[0],
                previous=champion.shift_week(week, -1), following=champion.shift_week(week, 1), smes=smes, page=shown,
                pages_total=paged.pages_in(index.smes, SMES_PER_PAGE), per_page=SMES_PER_PAGE, quiet=quiet,
                quiet_page=quiet_shown, quiet_pages=paged.pages_in(index.quiet, SMES_PER_PAGE),
                as_of=datetime.fromtimestamp(snap.as_of, UTC)).body)

        body, _ = rendered.get((token, person.id, week, shown, quiet_shown), snap.serial, render)
        return HTMLResponse(body, headers=SECURITY_HEADERS)

    rows_html = pages.env.get_template("champion/_overview_rows.html").module
    stand_in_urls = urls(STAND_IN, quoted=True)

    def render_rows(kind: str, snap, rows: list) -> str:  # noqa: ANN001 - once per page of a snapshot, for everyone
        return str((rows_html.sme_rows if kind == "smes" else rows_html.quiet_rows)(rows, snap.week, stand_in_urls))

    warmer = Warmer(site.engine, lambda: clock.week_of(site.now(), tz), tz, cfg.matching.threshold, SMES_PER_PAGE,
                    render=render_rows)
    site.services.append(warmer)  # started with the app (matcher serve), or by the first request
    rendered = PageCache(max_keys=256)  # per champion's link, week and pages, for the snapshot it was made from

    def sme_page(request: Request):
        token = request.path_params["token"]
        try:
            back = champion.parse_week(request.query_params["week"]) if request.query_params.get("week") else None
        except champion.WeekError:
            back = None
        with session_scope(site.engine) as s:
            found, error = who(request, s)
            if error:
                return error
            pid = request.path_params["profile_id"]
            history = champion.sme_history(s, pid, tz) if _plain_id(pid) else None
            delivery = None
            if history is not None:
                attach_marks(s, history.weeks)
                delivery = delivery_note(s, pid)
        if history is None:
            return pages.error(404, "SME not found", "There is no SME profile with that id.")
        person, claim = found
        return pages.page("sme", folder="champion", request=request, h=history, back_week=back, delivery=delivery,
                          claim=claim, champion=person, url=urls(token), marked=request.query_params.get("marked"))

    def buyers_page(request: Request):
        """Buyers by SME share of their recent awards, from the stored award notices."""
        from matcher.digest.buyers import LAST_CONTRACTS, buyer_index, short_money

        with session_scope(site.engine) as s:
            found, error = who(request, s)
            if error:
                return error
            ranked = buyer_index(s).ranked()
        person, claim = found
        return pages.page("buyers", folder="champion", request=request, buyers=ranked, last=LAST_CONTRACTS,
                          claim=claim, champion=person, url=urls(request.path_params["token"]), money=short_money)

    async def mark_post(request: Request):
        token = request.path_params["token"]
        form = await request.form()
        pid, key, verdict = (str(form.get(k) or "").strip() for k in ("profile", "notice", "verdict"))
        if not (_plain_id(pid) and _plain_id(key, 200)):
            return pages.error(400, "This mark was not stored", "The form did not name a sent item.")
        with session_scope(site.engine) as s:
            found, error = who(request, s)
            if error:
                return error
            person, _ = found
            try:
                mark(s, person, str(pid), str(key), None if verdict == "clear" else str(verdict), now=site.now())
            except ChampionError as e:
                return pages.error(400, "This mark was not stored", f"{e}.")
        warmer.changed(by=person.id)  # this champion's overview shows the mark at once
        week = form.get("week") or ""
        target = urls(token)["sme"](str(pid))  # type: ignore[operator]
        return pages.redirect(f"{target}?{urlencode({'marked': key, **({'week': week} if week else {})})}#item-{quote(str(key))}")

    async def sign_in(request: Request):
        context = {"heading": "Sign in to the SME champions' desk", "action": "/champion/sign-in",
                   "intro": "Enter your address; if you are an SME champion, we email you a sign-in link."}
        address = await site.link_request_address(request, "champion-link", context)
        if isinstance(address, Response):
            return address
        now = site.now()
        mails = []
        with session_scope(site.engine) as s:
            person = find_by_email(s, address)
            if person is not None and person.active:
                days = cfg.web.champion_link_days
                url = signer.champion_url(person.id, days, now, person.link_version)  # type: ignore[arg-type]
                from datetime import timedelta

                mails.append(("champion_link", person.email, {"name": person.name, "url": url,
                                                              "expires": site.when(now + timedelta(days=days))}))
        return site.mail_later(pages.page("link_request", request=request, sent=SIGN_IN_SENT, **context), mails)

    return [
        Route("/champion/sign-in", sign_in, methods=["GET", "POST"]),
        Route("/champion/{token}", overview, methods=["GET"]),
        Route("/champion/{token}/buyers", buyers_page, methods=["GET"]),
        Route("/champion/{token}/mark", mark_post, methods=["POST"]),
        Route("/champion/{token}/sme/{profile_id:path}", sme_page, methods=["GET"]),
    ]
