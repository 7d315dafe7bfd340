"""The deadline reminders' links.

  GET  /reminders/unsubscribe/{token}   a page with a button;  POST: no more deadline reminders (RFC 8058
                                        one-click too), idempotent; the weekly digest carries on
  GET  /calendar/{token}.ics            the item's deadline as an iCalendar event ("add to calendar")
"""
from __future__ import annotations

import logging

from sqlmodel import select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from matcher.deliver.reminders import calendar_ics, leave_reminders
from matcher.deliver.tokens import BadToken
from matcher.store import session_scope
from matcher.store.models import Notice, Profile
from matcher.web.pages import SECURITY_HEADERS
from matcher.web.site import Site

log = logging.getLogger(__name__)


def routes(site: Site) -> list[Route]:
    pages, signer = site.pages, site.signer

    def bad_link(e: BadToken):  # noqa: ANN202
        log.info("rejected link: %s", type(e).__name__)
        return pages.error(400, "This link is not valid",
                           "It may have been damaged, for example cut in two by an email program. "
                           "Please use the link in your most recent email from us.")

    def reminders_page(request: Request):  # sync: Starlette runs it in a worker thread
        try:
            pid = signer.read_reminders_unsubscribe(request.path_params["token"], site.now())
        except BadToken as e:
            return bad_link(e)
        with session_scope(site.engine) as s:
            profile = s.get(Profile, pid)
            if profile is None:
                return pages.error(404, "Profile not found", "The profile this link was made for no longer exists.")
            if request.method == "POST":
                changed = leave_reminders(s, pid)
                log.info("deadline reminders off: %s", "done" if changed else "already off")
                return pages.page("reminders_stopped", request=request, name=profile.name,
                                  profile_url=signer.profile_url(pid, site.now()))
            if profile.reminders_unsubscribed_at is not None:
                return pages.page("reminders_stopped", request=request, name=profile.name,
                                  profile_url=signer.profile_url(pid, site.now()))
            return pages.page("reminders_confirm", request=request, name=profile.name, action=request.url.path)

    def calendar(request: Request):
        try:
            key = signer.read_calendar(request.path_params["token"], site.now())
        except BadToken as e:
            return bad_link(e)
        with session_scope(site.engine) as s:
            notice = s.exec(select(Notice).where(Notice.key == key)).first()
            body = calendar_ics(notice, site.cfg, site.now()) if notice is not None else None
        if body is None:
            return pages.error(404, "No deadline", "This notice is no longer stored, or gives no closing date.")
        headers = {**SECURITY_HEADERS, "Content-Disposition": 'attachment; filename="deadline.ics"'}
        return Response(body, media_type="text/calendar; charset=utf-8", headers=headers)

    return [
        Route("/reminders/unsubscribe/{token}", reminders_page, methods=["GET", "POST"]),
        Route("/calendar/{token}", calendar, methods=["GET"]),
    ]
