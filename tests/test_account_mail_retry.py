"""Account emails (sign-up confirmations, profile and sign-in links) against a real aiosmtpd relay: a transient
refusal is tried again, a permanent one is not, and what never goes is logged without the address."""
from __future__ import annotations

import logging

from helpers_digest import NOW, make_config
from helpers_smtp import FaultyHandler, faulty_smtp

from matcher.deliver import account_mail
from matcher.digest.render import template_env

SENDER = "digest@matcher.example.org"
TO = "owner@harbour.example"
LINK = {"profiles": [{"name": "Harbour Web", "unsubscribed": False, "url": "https://matcher.example.org/p/x"}]}


def _cfg(tmp_path, port: int):
    return make_config(tmp_path, digest={"from_address": SENDER}, delivery={
        "mode": "smtp", "smtp_host": "127.0.0.1", "smtp_port": port, "timeout_seconds": 2,
        "connect_timeout_seconds": 2, "greeting_timeout_seconds": 2, "data_timeout_seconds": 2})


def _ours(caplog) -> str:
    """What our own code logged (the test relay, aiosmtpd, logs every recipient)."""
    return "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("matcher"))


def _refuse_first(handler: FaultyHandler, times: int, reply: str) -> None:
    original = handler.handle_DATA

    async def handle_DATA(server, session, envelope):  # noqa: ANN001, N802
        if handler.datas < times:
            handler.datas += 1
            return reply
        return await original(server, session, envelope)

    handler.handle_DATA = handle_DATA


def test_a_link_email_refused_with_a_4xx_is_tried_again_and_arrives_once(tmp_path):
    handler = FaultyHandler()
    # the transport's own in-run retry takes two refusals; the third is the account mailer's to ride out
    _refuse_first(handler, 3, "451 4.3.0 try again later")
    with faulty_smtp(handler) as (h, port):
        where = account_mail.mail(_cfg(tmp_path, port), template_env(), "profile_link", TO, NOW,
                                  wait_seconds=0.01, **LINK)
    assert where and where.startswith("smtp")
    assert [m["To"] for m in h.messages] == [TO]
    assert sum(h.copies.values()) == 1


def test_a_link_email_refused_with_a_5xx_is_not_retried_and_the_log_never_names_the_address(tmp_path, caplog):
    handler = FaultyHandler()
    handler.data_reply = "550 5.1.1 no such user"
    with caplog.at_level(logging.INFO), faulty_smtp(handler) as (h, port):
        where = account_mail.mail(_cfg(tmp_path, port), template_env(), "profile_link", TO, NOW,
                                  wait_seconds=0.01, **LINK)
    assert where is None and h.messages == []
    assert h.datas == 1  # one try: a permanent refusal is final
    assert "profile_link email not sent" in _ours(caplog) and "550" in _ours(caplog)
    assert TO not in _ours(caplog)


def test_a_link_email_refused_every_time_gives_up_after_its_tries(tmp_path, caplog):
    handler = FaultyHandler()
    handler.data_reply = "451 4.3.0 try again later"
    with caplog.at_level(logging.INFO), faulty_smtp(handler) as (h, port):
        where = account_mail.mail(_cfg(tmp_path, port), template_env(), "profile_link", TO, NOW, tries=3,
                                  wait_seconds=0.01, **LINK)
    assert where is None and h.messages == []
    assert h.datas == 3 * 2  # three tries, each with the transport's own second attempt
    assert "try 3 of 3" in _ours(caplog) and "not sent" in _ours(caplog) and TO not in _ours(caplog)
