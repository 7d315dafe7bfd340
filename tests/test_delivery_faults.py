"""Relays that misbehave, on real servers on 127.0.0.1: a late reply, a silent relay, a 550, a 421, a dropped
connection after the message; and what a 'sending' or undelivered digest means for the SME's next digest."""
from __future__ import annotations

import time
from datetime import timedelta

from helpers_digest import NOW, WEEK, add_match, add_notice, add_profile, make_config, store_for
from helpers_smtp import FaultyHandler, faulty_smtp, silent_relay
from sqlmodel import select

from jobs.digest import digest_job
from matcher.deliver.send import SmtpTransport
from matcher.store import session_scope
from matcher.store.models import Digest, Match, Profile
from matcher.web.champion import week_report

NEXT_WEEK = NOW + timedelta(days=7)
SENDER = "Matcher <alerts@matcher.example.org>"


def _cfg(tmp_path, port: int, **delivery):
    values = {"mode": "smtp", "smtp_host": "127.0.0.1", "smtp_port": port, "timeout_seconds": 2,
              "connect_timeout_seconds": 2, "greeting_timeout_seconds": 2, "data_timeout_seconds": 2,
              "connections": 2, "lease_seconds": 60}
    values.update(delivery)
    return make_config(tmp_path, delivery=values, digest={"from_address": SENDER})


def _seed(engine, n: int, week_now=NOW) -> list[str]:
    pids = [f"sme{i:02d}" for i in range(n)]
    for i, pid in enumerate(pids):
        add_profile(engine, pid)
        add_notice(engine, f"n{i}", title=f"Tender {i}", closes_at=week_now + timedelta(days=30))
        add_match(engine, pid, f"n{i}", 0.9)
    return pids


def _digests(engine, week: str = WEEK) -> dict[str, Digest]:
    with session_scope(engine) as s:
        return {d.profile_id: d for d in s.exec(select(Digest).where(Digest.week == week))}


def _fast(cfg):
    return SmtpTransport(cfg.delivery, tries=2, wait_seconds=0.01)


def test_a_late_reply_is_an_unknown_outcome_counted_and_resent_next_run_with_the_same_message_id(tmp_path):
    handler = FaultyHandler()
    handler.data_delay = 3.0  # answers 250, but after the 2 s data timeout
    with faulty_smtp(handler) as (server, port):
        cfg = _cfg(tmp_path, port, connections=1)
        engine = store_for(cfg)
        _seed(engine, 1)
        first = digest_job(cfg, engine, NOW, transport=_fast(cfg))
        d = _digests(engine)["sme00"]
        assert first.delivery.outcomes == {"unknown": 1} and first.delivery.unknown == 1
        assert d.state == "failed" and d.unknown_outcomes == 1 and d.last_error.startswith("outcome unknown")
        assert len(server.messages) == 1  # not sent again within the run: the relay may have it
        server.data_delay = 0
        second = digest_job(cfg, engine, NOW + timedelta(hours=1), transport=_fast(cfg))
    assert second.delivery.outcomes == {"sent": 1}
    ids = [m["Message-ID"] for m in server.messages]
    assert len(ids) == 2 and ids[0] == ids[1] == d.message_id  # the one duplicate keeps its Message-ID
    assert _digests(engine)["sme00"].state == "sent"


def test_a_silent_relay_trips_the_breaker_and_leaves_the_rest_created_saying_why(tmp_path):
    with silent_relay() as (accepted, port):
        cfg = _cfg(tmp_path, port, greeting_timeout_seconds=0.3, breaker_failures=3, connections=2)
        engine = store_for(cfg)
        _seed(engine, 20)
        report = digest_job(cfg, engine, NOW, transport=_fast(cfg))
    states = [d.state for d in _digests(engine).values()]
    assert report.delivery.stopped and "no greeting within 0.3 s" in report.delivery.stopped
    assert "3 times in a row" in report.delivery.stopped
    assert len(accepted) <= 3 + 2  # it gave up after the breaker's 3 (plus what the other connection had begun)
    assert states.count("created") >= 15 and "sent" not in states and "sending" not in states
    assert "stopped early" in str(report)


def test_a_relay_that_refuses_tcp_also_trips_the_breaker(tmp_path):
    from helpers_digest import free_port

    cfg = _cfg(tmp_path, free_port(), breaker_failures=2, connections=1)
    engine = store_for(cfg)
    _seed(engine, 10)
    report = digest_job(cfg, engine, NOW, transport=_fast(cfg))
    assert report.delivery.stopped and "cannot connect" in report.delivery.stopped
    assert [d.state for d in _digests(engine).values()].count("created") >= 8


def test_a_550_to_rcpt_bounces_at_once_and_n_hard_bounces_pause_the_sme_visibly_to_champions(tmp_path):
    handler = FaultyHandler()
    handler.rcpt_reply = "550 5.1.1 <sme00@example.org>: no such user"
    with faulty_smtp(handler) as (server, port):
        cfg = _cfg(tmp_path, port, max_hard_bounces=2)
        engine = store_for(cfg)
        _seed(engine, 1)
        first = digest_job(cfg, engine, NOW, transport=_fast(cfg))
        with session_scope(engine) as s:
            p = s.get(Profile, "sme00")
            assert p.bounces == 1 and p.bouncing_since is not None and p.paused_at is None
        assert first.delivery.outcomes == {"bounced": 1} and server.rcpts == 1  # not retried
        add_notice(engine, "n-next", closes_at=NEXT_WEEK + timedelta(days=30))
        add_match(engine, "sme00", "n-next", 0.9, week=_week(NEXT_WEEK))
        digest_job(cfg, engine, NEXT_WEEK, transport=_fast(cfg))
        with session_scope(engine) as s:
            p = s.get(Profile, "sme00")
            assert p.bounces == 2 and p.paused_at is not None and "2 hard bounces" in p.paused_reason
        later = digest_job(cfg, engine, NEXT_WEEK + timedelta(days=7), transport=_fast(cfg))
        assert server.rcpts == 2 and later.delivery.outcomes == {}  # paused: nothing more is tried
    with session_scope(engine) as s:
        report = week_report(s, _week(NEXT_WEEK + timedelta(days=7)))
    quiet = {q.profile_id: q for q in report.got_nothing}
    assert "paused" in quiet["sme00"].reason and "hard bounces" in quiet["sme00"].reason


def test_a_delivered_digest_clears_the_bouncing_mark(tmp_path):
    handler = FaultyHandler()
    handler.data_reply = "554 5.7.1 message refused"
    with faulty_smtp(handler) as (server, port):
        cfg = _cfg(tmp_path, port)
        engine = store_for(cfg)
        _seed(engine, 1)
        digest_job(cfg, engine, NOW, transport=_fast(cfg))
        server.data_reply = None
        add_notice(engine, "n-next", closes_at=NEXT_WEEK + timedelta(days=30))
        add_match(engine, "sme00", "n-next", 0.9, week=_week(NEXT_WEEK))
        report = digest_job(cfg, engine, NEXT_WEEK, transport=_fast(cfg))
    assert report.delivery.outcomes == {"sent": 1}
    with session_scope(engine) as s:
        p = s.get(Profile, "sme00")
        assert p.bounces == 0 and p.bouncing_since is None


def test_a_421_is_a_failure_tried_again_next_run_and_never_a_bounce(tmp_path):
    handler = FaultyHandler()
    handler.data_reply = "421 4.3.2 service shutting down"
    with faulty_smtp(handler) as (server, port):
        cfg = _cfg(tmp_path, port, connections=1, breaker_failures=50)
        engine = store_for(cfg)
        _seed(engine, 3)
        first = digest_job(cfg, engine, NOW, transport=_fast(cfg))
        assert first.delivery.outcomes == {"failed": 3} and server.messages == []
        server.data_reply = None
        second = digest_job(cfg, engine, NOW + timedelta(hours=1), transport=_fast(cfg))
    assert second.delivery.outcomes == {"sent": 3}
    assert sorted(m["To"].addresses[0].addr_spec for m in server.messages) == [f"sme0{i}@example.org" for i in range(3)]
    with session_scope(engine) as s:
        assert all(p.bounces == 0 for p in s.exec(select(Profile)))


def test_421s_in_a_row_trip_the_breaker(tmp_path):
    handler = FaultyHandler()
    handler.data_reply = "421 4.3.2 service shutting down"
    with faulty_smtp(handler) as (server, port):
        cfg = _cfg(tmp_path, port, connections=1, breaker_failures=2)
        engine = store_for(cfg)
        _seed(engine, 10)
        report = digest_job(cfg, engine, NOW, transport=_fast(cfg))
    assert report.delivery.stopped and "421" in report.delivery.stopped
    assert [d.state for d in _digests(engine).values()].count("created") == 8


def test_a_connection_dropped_after_the_message_is_unknown_but_one_dropped_before_it_is_retried_at_once(tmp_path):
    handler = FaultyHandler()
    handler.drop = lambda step, n: (step, n) in {("rcpt", 1), ("after-data", 2)}
    with faulty_smtp(handler) as (server, port):
        cfg = _cfg(tmp_path, port, connections=1)
        engine = store_for(cfg)
        _seed(engine, 3)
        report = digest_job(cfg, engine, NOW, transport=_fast(cfg))
    digests = _digests(engine)
    unknown = [pid for pid, d in digests.items() if d.unknown_outcomes]
    assert report.delivery.outcomes == {"sent": 2, "unknown": 1} and len(unknown) == 1
    assert digests[unknown[0]].state == "failed"
    # the drop at RCPT cost nothing: that digest went on the next connection
    assert sum(1 for d in digests.values() if d.state == "sent") == 2


def test_a_digest_left_sending_is_not_delivered_and_its_items_come_back_next_week(tmp_path):
    with faulty_smtp() as (server, port):
        cfg = _cfg(tmp_path, port, lease_seconds=1)
        engine = store_for(cfg)
        _seed(engine, 2)
        digest_job(cfg, engine, NOW, transport=_fast(cfg))
        with session_scope(engine) as s:  # as a sender killed mid-send leaves it
            d = s.exec(select(Digest).where(Digest.profile_id == "sme00")).one()
            d.state, d.claim_token, d.handed_over_at = "sending", "killed-run", None
            d.lease_until = d.claimed_at = NOW
            s.add(d)
            s.add(Digest(profile_id="sme01", week="2025-W04", state="sending", claim_token="killed", item_count=1,
                         claimed_at=NOW - timedelta(days=7), lease_until=NOW - timedelta(days=7)))
        add_notice(engine, "old", title="Tender from last week", closes_at=NOW + timedelta(days=30))
        with session_scope(engine) as s:
            old_id = s.exec(select(Digest.id).where(Digest.week == "2025-W04")).one()
            s.add(Match(profile_id="sme01", notice_key="old", week="2025-W04", score=0.7, digest_id=old_id))
        server.messages.clear()
        report = digest_job(cfg, engine, NEXT_WEEK, transport=_fast(cfg))
    assert report.build.superseded == 2  # both weeks' stuck digests: not delivered
    texts = {m["To"].addresses[0].addr_spec: m.get_body(("plain",)).get_content() for m in server.messages}
    assert "Tender 0" in texts["sme00@example.org"]  # W05's undelivered item, back in W06
    assert "Tender from last week" in texts["sme01@example.org"]
    assert "Tender 1" not in texts.get("sme01@example.org", "")  # W05's digest to sme01 was sent: not listed again


def test_a_stop_request_leaves_the_untried_digests_created(tmp_path):
    import threading

    stop = threading.Event()
    handler = FaultyHandler()
    handler.on_data = lambda n: stop.set() if n == 3 else None
    with faulty_smtp(handler) as (server, port):
        cfg = _cfg(tmp_path, port, connections=1)
        engine = store_for(cfg)
        _seed(engine, 10)
        report = digest_job(cfg, engine, NOW, transport=_fast(cfg), stop=stop)
    states = [d.state for d in _digests(engine).values()]
    assert report.delivery.stopped == "a stop was asked for"
    assert states.count("sent") == 3 and states.count("created") == 7


def _week(when) -> str:  # noqa: ANN001
    from matcher import clock

    return clock.week_of(when)


def test_unknown_outcomes_and_the_in_flight_count_are_reported_after_a_killed_sender(tmp_path):
    with faulty_smtp() as (server, port):
        cfg = _cfg(tmp_path, port, lease_seconds=1)
        engine = store_for(cfg)
        _seed(engine, 3)
        from matcher.digest.build import build_digests

        with session_scope(engine) as s:
            build_digests(s, cfg, NOW)
        with session_scope(engine) as s:  # one handed over, one merely claimed, by a sender that then died
            rows = list(s.exec(select(Digest).order_by(Digest.profile_id)))
            for d, handed in zip(rows[:2], (True, False), strict=True):
                d.state, d.claim_token, d.claimed_at = "sending", "dead-run", NOW
                d.lease_until = d.claimed_at
                d.handed_over_at = NOW if handed else None
                s.add(d)
            rows[2].state, rows[2].claim_token = "sending", "live-run"
            rows[2].lease_until = NOW + timedelta(days=365 * 10)
            s.add(rows[2])
        time.sleep(0.01)
        report = digest_job(cfg, engine, NOW, transport=_fast(cfg))
    assert report.delivery.outcomes == {"sent": 2, "recovered-unknown": 1}
    assert report.delivery.unknown == 1 and report.delivery.in_flight == 1
    assert "1 with an unknown outcome" in str(report) and "1 claimed by another sender" in str(report)
    digests = _digests(engine)
    assert digests["sme00"].unknown_outcomes == 1 and digests["sme01"].unknown_outcomes == 0
    assert digests["sme02"].state == "sending"


def test_the_scheduler_s_retry_job_sends_what_a_killed_sender_left_behind(tmp_path):
    from matcher.deliver.week import retry_undelivered
    from matcher.digest.build import build_digests

    with faulty_smtp() as (server, port):
        cfg = _cfg(tmp_path, port, lease_seconds=1)
        engine = store_for(cfg)
        _seed(engine, 2)
        with session_scope(engine) as s:
            build_digests(s, cfg, NOW)
        with session_scope(engine) as s:
            d = s.exec(select(Digest).where(Digest.profile_id == "sme00")).one()
            d.state, d.claim_token, d.lease_until = "sending", "killed-run", NOW
            s.add(d)
        result = retry_undelivered(cfg, engine, NOW + timedelta(hours=2))
        nothing = retry_undelivered(cfg, engine, NOW + timedelta(hours=3))
    assert result.outcomes == {"sent": 2} and nothing.outcomes == {}
    assert sorted(m["To"].addresses[0].addr_spec for m in server.messages) == ["sme00@example.org", "sme01@example.org"]


def test_a_digest_that_fails_in_a_run_is_not_tried_again_in_that_run(tmp_path):
    handler = FaultyHandler()
    handler.data_reply = "451 4.3.0 try later"
    with faulty_smtp(handler) as (server, port):
        cfg = _cfg(tmp_path, port, connections=1)
        engine = store_for(cfg)
        _seed(engine, 1)
        report = digest_job(cfg, engine, NOW, transport=SmtpTransport(cfg.delivery, tries=1, wait_seconds=0))
    assert report.delivery.outcomes == {"failed": 1} and server.datas == 1
    assert _digests(engine)["sme00"].attempts == 1
