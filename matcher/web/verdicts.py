"""Verdicts both ways, from the "Relevant" and "Not relevant" links on each digest item.

  GET  /feedback/{token}          asks to confirm (mail scanners follow links: GET changes nothing); for "not
                                  relevant" it offers the optional "what was wrong?"
  POST /feedback/{token}          stores the verdict (one per SME and notice; it feeds the SME's later rankings
                                  through matcher.store.feedback) and offers undo
  POST /feedback/{token}/undo     puts back what was there before (the earlier verdict, or none)
  POST /feedback/{token}/reason   stores the optional "what was wrong?"
"""
from __future__ import annotations

import logging

from sqlmodel import select
from starlette.requests import Request
from starlette.routing import Route

from matcher.deliver.tokens import VERDICTS, BadToken
from matcher.store import session_scope
from matcher.store.feedback import FeedbackError, clear_verdict, current_verdict, record_verdict, set_reason
from matcher.store.models import Notice, Profile
from matcher.web.forms import clean
from matcher.web.site import Site

log = logging.getLogger(__name__)
VERDICT_TEXT = {"not-relevant": "not relevant", "relevant": "relevant"}
REASONS = (
    ("wrong-work", "Not the kind of work we do"),
    ("wrong-place", "In a place we do not serve"),
    ("wrong-size", "Too big or too small for us"),
    ("not-open", "Closed, or not open to firms like us"),
    ("known", "We knew about it already"),
    ("other", "Something else"),
)
MAX_REASON = 500


def reason_of(form) -> str | None:  # noqa: ANN001
    """'wrong-work' or 'wrong-work: in the SME's words' or the words alone; None when nothing was given."""
    choice = clean(form.get("reason"))
    words = " ".join(clean(form.get("reason_text")).split())[:MAX_REASON]
    choice = choice if choice in dict(REASONS) else ""
    text = ": ".join(x for x in (choice, words) if x)
    return text or None


def routes(site: Site) -> list[Route]:
    pages, signer = site.pages, site.signer

    def bad_link(e: BadToken):  # noqa: ANN202
        log.info("rejected feedback link: %s", type(e).__name__)
        return pages.error(400, "This link is not valid",
                           "It may have expired or been damaged, for example cut in two by an email program. "
                           "Please use the link in your most recent digest email.")

    async def feedback(request: Request):
        token = request.path_params["token"]
        try:
            claim = signer.read_feedback(token, site.now())
        except BadToken as e:
            return bad_link(e)
        action = request.path_params.get("action")
        form = await request.form() if request.method == "POST" else {}
        with session_scope(site.engine) as s:
            profile = s.get(Profile, claim.profile_id)
            if profile is None:
                return pages.error(404, "Profile not found", "The profile this link was made for no longer exists.")
            title = s.exec(select(Notice.title).where(Notice.key == claim.notice_key)).first() or claim.notice_key
            base = f"/feedback/{token}"
            context = {"name": profile.name, "title": title, "verdict": claim.verdict,
                       "verdict_text": VERDICT_TEXT[claim.verdict], "reasons": REASONS, "chosen_reason": "",
                       "undo_action": f"{base}/undo", "reason_action": f"{base}/reason", "redo_action": base,
                       "profile_url": signer.profile_url(profile.id, site.now()), "undone": False,
                       "reason_saved": False, "previous": None}
            current = current_verdict(s, claim.profile_id, claim.notice_key)
            if request.method == "GET":
                return pages.page("feedback_confirm", request=request, action=base, current=current not in (None, claim.verdict),
                                  current_text=VERDICT_TEXT.get(current or "", ""), **context)
            try:
                if action is None:
                    done = record_verdict(s, claim.profile_id, claim.notice_key, claim.verdict, via="email",
                                          reason=reason_of(form) if claim.verdict == "not-relevant" else None)
                    previous = done.replaced if done.replaced != claim.verdict else form.get("previous") or None
                    context.update(previous=previous if previous in VERDICTS else None,
                                   reason_saved=bool(claim.verdict == "not-relevant" and reason_of(form)))
                elif action == "undo":
                    previous = form.get("previous")
                    if current == claim.verdict:  # undo only what this link did; a later other click stands
                        if previous in VERDICTS:
                            record_verdict(s, claim.profile_id, claim.notice_key, previous, via="email")
                        else:
                            clear_verdict(s, claim.profile_id, claim.notice_key)
                    restored = previous if previous in VERDICTS else None
                    context.update(undone=True, restored=restored, restored_text=VERDICT_TEXT.get(restored or "", ""))
                elif action == "reason":
                    reason = reason_of(form)
                    if reason and current == "not-relevant":
                        set_reason(s, claim.profile_id, claim.notice_key, reason)
                    context.update(reason_saved=bool(reason), previous=form.get("previous") or None)
                else:
                    return pages.error(404, "Page not found", "There is no such page.")
            except FeedbackError as e:
                return pages.error(404, "Notice not found", f"{e}.")
        return pages.page("feedback_saved", request=request, **context)

    return [
        Route("/feedback/{token}", feedback, methods=["GET", "POST"]),
        Route("/feedback/{token}/{action}", feedback, methods=["POST"]),
    ]
