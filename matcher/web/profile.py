"""The profile an SME owns, behind the signed link every email carries.

  GET  /profile/{token}        view and edit (and re-subscribe, when unsubscribed)
  POST /profile/{token}        save: from the next digest on; an edit that empties the profile is refused
  GET  /profile/link, POST     "email me my profile link": the same answer whether or not the address is known
  GET  /unsubscribe/{token}    a page with a button;  POST: unsubscribe (RFC 8058 one-click too), idempotent
  GET  /resubscribe/{token}    a page with a button;  POST: re-subscribe, idempotent
"""
from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from matcher.deliver.tokens import BadToken
from matcher.store import accounts, session_scope
from matcher.store.models import Profile
from matcher.web.forms import ProfileForm, read_form
from matcher.web.signup import CpvCatalogue, form_context, recipient_mail
from matcher.web.site import Site

log = logging.getLogger(__name__)
LINK_SENT = ("If that address gets our digest, we have sent it a link to each of its profiles. "
             "It may take a few minutes to arrive.")


def routes(site: Site) -> list[Route]:
    pages, signer = site.pages, site.signer
    catalogue = CpvCatalogue(site)

    def bad_link(e: BadToken):  # noqa: ANN202
        log.info("rejected link: %s", type(e).__name__)
        return pages.error(400, "This link is not valid",
                           "It may have expired or been damaged, for example cut in two by an email program. "
                           "Please use the link in your most recent email, or ask for a new one at /profile/link.")

    def gone():  # noqa: ANN202
        return pages.error(404, "Profile not found", "The profile this link was made for no longer exists.")

    def _page(request: Request, profile: Profile, f: ProfileForm | None = None, status: int = 200, **extra):  # noqa: ANN003, ANN202
        now = site.now()
        return pages.page("profile", status, request=request, action=request.url.path,
                          reminders_on=getattr(profile, "reminders_unsubscribed_at", None) is None,
                          reminders_action=f"{request.url.path.removesuffix('/reminders')}/reminders",
                          unsubscribed=profile.unsubscribed_at is not None, enabled=profile.enabled,
                          resubscribe_action=_path(signer.resubscribe_url(profile.id, now)),
                          unsubscribe_action=_path(signer.unsubscribe_url(profile.id, now)),
                          saved=extra.pop("saved", False), refused=extra.pop("refused", None),
                          new_recipients=extra.pop("new_recipients", []),
                          **form_context(catalogue, f or ProfileForm.of_profile(profile.model_dump())))

    async def profile_page(request: Request):
        try:
            pid = signer.read_profile(request.path_params["token"], site.now())
        except BadToken as e:
            return bad_link(e)
        if request.method == "GET":
            with session_scope(site.engine) as s:
                profile = s.get(Profile, pid)
                return gone() if profile is None else _page(request, profile)
        form = await request.form()
        f, data = read_form(form, form.getlist)
        with session_scope(site.engine) as s:
            profile = s.get(Profile, pid)
            if profile is None:
                return gone()
            if data is None:
                refused = None
                if "capabilities" in f.errors and not f.capabilities:
                    refused = ("An edit that empties the profile is not saved: the capability text is what we match "
                               "on. Describe what the business does, or unsubscribe instead.")
                return _page(request, profile, f, 400, refused=refused)
            try:
                edited = accounts.edit_profile(s, pid, data, via="web", now=site.now())
            except accounts.AccountError as e:
                return _page(request, profile, f, 400, refused=str(e))
            response = _page(request, edited.profile, saved=True, new_recipients=edited.new_recipients)
            mails = [recipient_mail(site, edited.profile, a) for a in edited.new_recipients]
        return site.mail_later(response, mails)

    async def reminders_switch(request: Request):
        """POST /profile/{token}/reminders: deadline reminders on or off (their own unsubscribe, and coming back)."""
        try:
            pid = signer.read_profile(request.path_params["token"], site.now())
        except BadToken as e:
            return bad_link(e)
        form = await request.form()
        with session_scope(site.engine) as s:
            if s.get(Profile, pid) is None:
                return gone()
            accounts.set_reminders(s, pid, form.get("reminders") == "on", via="web", now=site.now())
            return _page(request, s.get(Profile, pid), saved=True)

    async def link_request(request: Request):
        context = {"heading": "Get your profile link", "action": "/profile/link",
                   "intro": "Enter the address that gets your digest; we email it the link to view and change "
                            "your profile, or to re-subscribe."}
        address = await site.link_request_address(request, "profile-link", context)
        if isinstance(address, Response):
            return address
        now = site.now()
        with session_scope(site.engine) as s:
            found = accounts.profiles_for_address(s, address)
            profiles = [{"name": p.name, "url": signer.profile_url(p.id, now), "unsubscribed": p.unsubscribed_at is not None}
                        for p in found]
        response = pages.page("link_request", request=request, sent=LINK_SENT, **context)
        return site.mail_later(response, [("profile_link", address, {"profiles": profiles})] if profiles else [])

    def unsubscribe_page(request: Request):  # sync: Starlette runs it in a worker thread
        try:
            pid = signer.read_unsubscribe(request.path_params["token"], site.now())
        except BadToken as e:
            return bad_link(e)
        with session_scope(site.engine) as s:
            profile = s.get(Profile, pid)
            if profile is None:
                return gone()
            again = _path(signer.resubscribe_url(pid, site.now()))
            if request.method == "POST":
                changed = accounts.unsubscribe(s, pid, via="email", now=site.now())
                log.info("unsubscribe: %s", "done" if changed else "already unsubscribed")
                return pages.page("unsubscribed", request=request, name=profile.name, resubscribe_action=again)
            if profile.unsubscribed_at is not None:
                return pages.page("unsubscribed", request=request, name=profile.name, resubscribe_action=again)
            return pages.page("unsubscribe_confirm", request=request, name=profile.name, action=request.url.path)

    def resubscribe_page(request: Request):
        try:
            pid = signer.read_resubscribe(request.path_params["token"], site.now())
        except BadToken as e:
            return bad_link(e)
        with session_scope(site.engine) as s:
            profile = s.get(Profile, pid)
            if profile is None:
                return gone()
            link, link_text = signer.profile_url(pid, site.now()), "View or change your profile"
            if request.method == "POST":
                accounts.resubscribe(s, pid, via="web", now=site.now())
                return pages.page("simple_action", request=request, heading="You are subscribed again",
                                  message=f"{profile.name} gets the weekly digest again from the next one on.",
                                  action=None, link=link, link_text=link_text)
            if profile.unsubscribed_at is None:
                return pages.page("simple_action", request=request, heading="You are subscribed",
                                  message=f"{profile.name} gets the weekly digest.", action=None, link=link,
                                  link_text=link_text)
            return pages.page("simple_action", request=request, heading="Re-subscribe to the weekly digest?",
                              message=f"Press the button to start the weekly opportunities email for {profile.name} again.",
                              action=request.url.path, button="Re-subscribe", button_id="resubscribe",
                              link=None, link_text="")

    return [
        Route("/profile/link", link_request, methods=["GET", "POST"]),
        Route("/profile/{token}", profile_page, methods=["GET", "POST"]),
        Route("/profile/{token}/reminders", reminders_switch, methods=["POST"]),
        Route("/unsubscribe/{token}", unsubscribe_page, methods=["GET", "POST"]),
        Route("/resubscribe/{token}", resubscribe_page, methods=["GET", "POST"]),
    ]


def _path(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url).path
