"""Sign-up with double opt-in.

  GET  /signup                   the form
  POST /signup                   checked; held as a Signup (no Profile yet); the confirmation link is mailed;
                                 303 to the browser's own page below. The same page whatever the address.
  GET  /signup/pending/{token}   "check your email", a preview of the last four weeks, and the form to sharpen
  POST /signup/pending/{token}   saves the sharpened text (the emailed link confirms the latest version)
  GET  /signup/confirm/{token}   a page with a button (mail scanners follow links: GET changes nothing)
  POST /signup/confirm/{token}   makes the profile; mails the welcome (profile link) and each further
                                 recipient's own confirmation link
  GET  /recipient/{token}, POST  a further recipient agrees to get the digest
"""
from __future__ import annotations

import logging
import time

from starlette.requests import Request
from starlette.routing import Route

from matcher.deliver.tokens import BadToken
from matcher.store import accounts
from matcher.store import session_scope
from matcher.store.models import Notice, Profile
from matcher.web.forms import CADENCES, REGION_CHOICES, ProfileForm, read_form
from matcher.web.site import Site

log = logging.getLogger(__name__)
CPV_CACHE_SECONDS = 600
CPV_FROM_NOTICES = 5000  # the labels of the latest this-many stored notices
WEEKDAYS = {"mon": "Monday", "tue": "Tuesday", "wed": "Wednesday", "thu": "Thursday", "fri": "Friday",
            "sat": "Saturday", "sun": "Sunday"}


class CpvCatalogue:
    """CPV codes with labels, for the form's pick-by-label list: the labels the latest stored notices carry
    (read again every CPV_CACHE_SECONDS)."""

    def __init__(self, site: Site) -> None:
        self.site, self.options, self.at = site, [], 0.0

    def get(self) -> list[tuple[str, str]]:
        if not self.options or time.monotonic() - self.at > CPV_CACHE_SECONDS:
            from matcher.match.cpv import cpv_labels

            labels: dict[str, str] = {}
            with session_scope(self.site.engine) as s:
                for raw in s.exec(_raw_notices()):
                    for code, label in cpv_labels(raw or {}).items():
                        labels.setdefault(code, label)
                s.rollback()
            self.options, self.at = sorted(labels.items()), time.monotonic()
        return self.options


def _raw_notices():  # noqa: ANN202
    from sqlmodel import col, select

    return select(Notice.raw).order_by(col(Notice.first_seen).desc()).limit(CPV_FROM_NOTICES)


def form_context(catalogue: CpvCatalogue, f: ProfileForm) -> dict:
    return {"f": f, "cpv_options": catalogue.get(), "region_choices": REGION_CHOICES, "cadences": CADENCES}


def routes(site: Site) -> list[Route]:
    pages, signer, cfg = site.pages, site.signer, site.cfg
    catalogue = CpvCatalogue(site)
    hours = cfg.web.signup_expiry_hours

    def bad_link(e: BadToken):  # noqa: ANN202
        log.info("rejected sign-up link: %s", type(e).__name__)
        return pages.error(400, "This link is not valid", "It may have expired or been damaged. "
                           "Sign-up links work for a limited time: please sign up again.")

    def signup_form(request: Request):
        return pages.page("signup", request=request, **form_context(catalogue, ProfileForm()))

    async def signup_post(request: Request):
        form = await request.form()
        f, data = read_form(form, form.getlist)
        if data is None:
            return pages.page("signup", 400, request=request, **form_context(catalogue, f))
        if not site.limits.allow("signup", data["email"], _client(request)):
            return pages.too_many()
        now = site.now()
        with session_scope(site.engine) as s:
            accounts.purge_expired(s, now)
            row = accounts.create_signup(s, data, now, hours)
            existing = accounts.profiles_for_address(s, data["email"])
            signup_id, expires = row.id, row.expires_at
        context = {"name": data["name"], "expires": site.when(expires),
                   "confirm_url": signer.signup_url("confirm", signup_id, now),  # type: ignore[arg-type]
                   "existing": [p.name for p in existing], "existing_urls": [signer.profile_url(p.id, now) for p in existing]}
        response = pages.redirect(signer.signup_url("pending", signup_id, now))  # type: ignore[arg-type]
        return site.mail_later(response, [("confirm", data["email"], context)])

    def _pending(request: Request, f: ProfileForm | None = None, status: int = 200, saved: bool = False):  # noqa: ANN202
        token = request.path_params["token"]
        try:
            signup_id = signer.read_signup("pending", token, site.now())
        except BadToken as e:
            return bad_link(e)
        now = site.now()
        with session_scope(site.engine) as s:
            try:
                row = accounts.open_signup(s, signup_id, now)
            except accounts.AccountError as e:
                return pages.error(410, "This sign-up has expired", str(e))
            if row.confirmed_at is not None:
                return pages.page("simple_action", request=request, heading="Already confirmed",
                                  message="This sign-up is confirmed. Change the profile with the link in your emails.",
                                  action=None)
            data, expires = dict(row.data), row.expires_at
            preview = _preview(site, s, data, now)
        return pages.page("signup_pending", status, request=request, action=request.url.path, preview=preview,
                          preview_weeks=cfg.web.preview_weeks,
                          expires=site.when(expires), saved=saved, **form_context(catalogue, f or ProfileForm.of_profile(data)))

    def pending_page(request: Request):
        return _pending(request)

    async def pending_post(request: Request):
        try:
            signup_id = signer.read_signup("pending", request.path_params["token"], site.now())
        except BadToken as e:
            return bad_link(e)
        form = await request.form()
        f, data = read_form(form, form.getlist)
        if data is None:
            return _pending(request, f, 400)
        with session_scope(site.engine) as s:
            try:
                row = accounts.open_signup(s, signup_id, site.now())
                if data["email"].casefold() != row.email.casefold():
                    f.errors["emails"] = (f"The first address must stay {row.email}: it is the one the confirmation "
                                          "link went to. Add others below it.")
                    return _pending(request, f, 400)
                accounts.update_signup(s, signup_id, data, site.now())
            except accounts.AccountError as e:
                return pages.error(410, "This sign-up has expired", str(e))
        return _pending(request, saved=True)

    def confirm(request: Request):
        now = site.now()
        try:
            signup_id = signer.read_signup("confirm", request.path_params["token"], now)
        except BadToken as e:
            return bad_link(e)
        with session_scope(site.engine) as s:
            try:
                row = accounts.open_signup(s, signup_id, now)
            except accounts.AccountError as e:
                return pages.error(410, "This sign-up has expired", str(e))
            if request.method == "GET":
                if row.confirmed_at is not None:
                    return _confirmed_page(request, s.get(Profile, row.profile_id), False)
                return pages.page("confirm", request=request, name=row.data.get("name", ""), action=request.url.path)
            done = accounts.confirm_signup(s, signup_id, now)
            pending = [] if not done.first_time else list(row.data.get("pending_recipients") or [])
            profile = done.profile
        mails = []
        if done.first_time:
            mails.append(("welcome", profile.email, {"name": profile.name, "weekday": WEEKDAYS[cfg.digest.weekday],
                                                     "cadence": profile.cadence,
                                                     "profile_url": signer.profile_url(profile.id, now),
                                                     "unsubscribe_url": signer.unsubscribe_url(profile.id, now)}))
            mails += [recipient_mail(site, profile, address) for address in pending]
        return site.mail_later(_confirmed_page(request, profile, bool(pending)), mails)

    def _confirmed_page(request: Request, profile: Profile | None, pending: bool):  # noqa: ANN202
        if profile is None:
            return pages.error(404, "Profile not found", "The profile this sign-up made no longer exists.")
        return pages.page("confirmed", request=request, name=profile.name, pending=pending,
                          weekday=WEEKDAYS[cfg.digest.weekday], cadence=profile.cadence, profile_url=signer.profile_url(profile.id, site.now()))

    def recipient(request: Request):
        now = site.now()
        try:
            claim = signer.read_recipient(request.path_params["token"], now)
        except BadToken as e:
            return bad_link(e)
        with session_scope(site.engine) as s:
            profile = s.get(Profile, claim.profile_id)
            if profile is None:
                return pages.error(404, "Profile not found", "The profile this link was made for no longer exists.")
            if request.method == "GET":
                return pages.page("simple_action", request=request, heading="Get this digest at this address?",
                                  message=f"{profile.name} asked for its weekly opportunities email to go to "
                                          f"{claim.address} too.", action=request.url.path,
                                  button="Yes, send it to me", button_id="confirm-recipient")
            accounts.add_recipient(s, claim.profile_id, claim.address, via="email", now=now)
        return pages.page("simple_action", request=request, heading="Done",
                          message=f"{claim.address} gets the weekly digest for {profile.name} from the next one on.",
                          action=None)

    return [
        Route("/signup", signup_form, methods=["GET"]),
        Route("/signup", signup_post, methods=["POST"]),
        Route("/signup/pending/{token}", pending_page, methods=["GET"]),
        Route("/signup/pending/{token}", pending_post, methods=["POST"]),
        Route("/signup/confirm/{token}", confirm, methods=["GET", "POST"]),
        Route("/recipient/{token}", recipient, methods=["GET", "POST"]),
    ]


def recipient_mail(site: Site, profile: Profile, address: str) -> tuple[str, str, dict]:
    now = site.now()
    return ("recipient", address, {"name": profile.name, "confirm_url": site.signer.recipient_url(profile.id, address, now),
                                   "expires": site.when(now + site.signer.lifetimes["recipient"])})  # type: ignore[operator]


def _client(request: Request) -> str:
    from matcher.web.security import client_of

    return client_of(request)


def _preview(site: Site, session, data: dict, now):  # noqa: ANN001, ANN202
    """The last weeks ranked for this profile, or None when the preview is switched off (web.preview_weeks = 0)."""
    from matcher.schema import ProfileSpec
    from matcher.web.preview import PastWeeks, past_weeks

    weeks = site.cfg.web.preview_weeks
    if not weeks:
        return None
    spec = ProfileSpec.model_validate({**data, "id": "signup-preview"})
    try:
        return past_weeks(session, site.cfg, spec, now, site.encoder(), weeks)
    except Exception as e:  # noqa: BLE001 - the page still works without its preview
        log.warning("sign-up preview failed: %s: %s", type(e).__name__, e)
        return PastWeeks([], 0, error="The preview is not available just now; your sign-up is not affected.")
