"""SMTP delivery against a real aiosmtpd server on 127.0.0.1: once per SME per week, failures retried, then dead."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from helpers_digest import NOW, WEEK, add_match, add_notice, add_profile, free_port, make_config, smtp_server, store_for
from sqlmodel import select

from jobs.digest import digest_job
from matcher.deliver.send import SmtpTransport
from matcher.store.models import Digest, Profile
from matcher.store import session_scope


def _smtp_config(tmp_path, port: int, **digest):
    return make_config(tmp_path, delivery={"mode": "smtp", "smtp_host": "127.0.0.1", "smtp_port": port,
                                           "timeout_seconds": 5},
                       digest={"from_address": "Matcher <alerts@matcher.example.org>", **digest})


def _seed(engine, pids=("acme", "bolt")) -> None:
    for i, pid in enumerate(pids):
        add_profile(engine, pid)
        add_notice(engine, f"n{i}", title=f"Tender for {pid}")
        add_match(engine, pid, f"n{i}", 0.8)


def _states(engine) -> dict[str, Digest]:
    with session_scope(engine) as s:
        return {d.profile_id: d for d in s.exec(select(Digest).where(Digest.week == WEEK))}


def _fast(cfg, tries=2):
    return SmtpTransport(cfg.delivery, tries=tries, wait_seconds=0.01)


def test_digest_job_twice_in_one_week_sends_one_email_per_sme(tmp_path):
    with smtp_server() as (server, port):
        cfg = _smtp_config(tmp_path, port)
        engine = store_for(cfg)
        _seed(engine)

        first = digest_job(cfg, engine, NOW)
        second = digest_job(cfg, engine, NOW + timedelta(days=2))

    assert sorted(r[0] for r in server.recipients) == ["acme@example.org", "bolt@example.org"]
    assert first.delivery.outcomes == {"sent": 2}
    assert second.delivery.outcomes == {} and second.build.created == []
    assert second.states == {"sent": 2}
    subjects = {m["Subject"] for m in server.messages}
    assert subjects == {"Your public-sector opportunities for the week of 27 January 2025"}
    assert all(m["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click" for m in server.messages)


def test_a_451_answer_leaves_the_digest_failed_and_the_next_run_sends_exactly_one(tmp_path):
    with smtp_server() as (server, port):
        cfg = _smtp_config(tmp_path, port)
        engine = store_for(cfg)
        _seed(engine, ["acme"])
        server.fail_with = "451 4.3.0 Mailbox busy, try again later"

        failed = digest_job(cfg, engine, NOW, transport=_fast(cfg, tries=2))

        d = _states(engine)["acme"]
        assert failed.delivery.outcomes == {"failed": 1}
        assert d.state == "failed" and "451" in d.last_error and f"127.0.0.1:{port}" in d.last_error
        assert server.data_commands == 2  # the short in-run retry tried twice
        assert server.messages == []

        server.fail_with = None
        retried = digest_job(cfg, engine, NOW + timedelta(hours=1), transport=_fast(cfg))
        again = digest_job(cfg, engine, NOW + timedelta(hours=2), transport=_fast(cfg))

    assert retried.delivery.outcomes == {"sent": 1} and again.delivery.outcomes == {}
    assert len(server.messages) == 1
    d = _states(engine)["acme"]
    assert d.state == "sent" and d.attempts == 2 and d.last_error is None
    assert server.messages[0]["Message-ID"] == d.message_id


def test_a_down_server_fails_each_run_until_max_attempts_then_the_digest_is_dead(tmp_path):
    cfg = _smtp_config(tmp_path, free_port(), max_attempts=2)  # nothing listens on this port
    engine = store_for(cfg)
    _seed(engine, ["acme"])

    first = digest_job(cfg, engine, NOW, transport=_fast(cfg, tries=1))
    assert _states(engine)["acme"].state == "failed"
    second = digest_job(cfg, engine, NOW, transport=_fast(cfg, tries=1))
    third = digest_job(cfg, engine, NOW, transport=_fast(cfg, tries=1))

    d = _states(engine)["acme"]
    assert first.delivery.outcomes == {"failed": 1} and second.delivery.outcomes == {"dead": 1}
    assert third.delivery.outcomes == {}
    assert d.state == "dead" and d.attempts == 2 and "cannot connect" in d.last_error


def test_a_permanent_550_is_not_retried_and_bounces_the_address_at_once(tmp_path):
    with smtp_server() as (server, port):
        cfg = _smtp_config(tmp_path, port)
        engine = store_for(cfg)
        _seed(engine, ["acme"])
        server.fail_with = "550 5.7.1 Rejected"
        report = digest_job(cfg, engine, NOW, transport=_fast(cfg, tries=3))
        again = digest_job(cfg, engine, NOW + timedelta(hours=1), transport=_fast(cfg, tries=3))
    assert server.data_commands == 1
    assert report.delivery.outcomes == {"bounced": 1} and again.delivery.outcomes == {}
    d = _states(engine)["acme"]
    assert d.state == "bounced" and "550 5.7.1 Rejected" in d.last_error
    with session_scope(engine) as s:
        p = s.get(Profile, "acme")
        assert p.bounces == 1 and p.bouncing_since is not None and "550" in p.last_bounce and p.paused_at is None


def test_an_sme_who_unsubscribes_after_the_build_is_skipped_not_sent(tmp_path):
    with smtp_server() as (server, port):
        cfg = _smtp_config(tmp_path, port)
        engine = store_for(cfg)
        _seed(engine, ["acme"])
        server.fail_with = "451 4.3.0 later"
        digest_job(cfg, engine, NOW, transport=_fast(cfg, tries=1))
        with session_scope(engine) as s:
            s.get(Profile, "acme").unsubscribed_at = datetime.now(UTC)
        server.fail_with = None
        report = digest_job(cfg, engine, NOW, transport=_fast(cfg))
    assert server.messages == []
    assert report.delivery.outcomes == {"skipped": 1}
    d = _states(engine)["acme"]
    assert d.state == "skipped" and "unsubscribed" in d.last_error


def test_a_whole_claim_batch_of_skipped_digests_does_not_end_the_run_before_the_ones_after_it(tmp_path):
    from matcher.digest.build import build_digests
    from matcher.deliver.send import deliver_digests

    with smtp_server() as (server, port):
        cfg = _smtp_config(tmp_path, port)
        engine = store_for(cfg)
        pids = [f"sme{i:02d}" for i in range(60)]
        _seed(engine, pids)
        with session_scope(engine) as s:
            build_digests(s, cfg, NOW)
            for pid in pids[:45]:  # more than any one claim batch: they leave after their digests were built
                s.get(Profile, pid).enabled = False
        with session_scope(engine) as s:
            result = deliver_digests(s, cfg, NOW)

    assert result.outcomes == {"skipped": 45, "sent": 15}
    assert sorted(r[0] for r in server.recipients) == [f"{pid}@example.org" for pid in pids[45:]]
    assert {d.state for pid, d in _states(engine).items() if pid in pids[:45]} == {"skipped"}


def test_a_large_run_composes_in_worker_processes_and_sends_each_digest_once_with_its_message_id(tmp_path, monkeypatch):
    import matcher.deliver.send as send
    from matcher.deliver.compose_pool import ComposePool
    from matcher.digest.build import build_digests

    monkeypatch.setattr(send, "POOL_FROM", 20)  # this run counts as large
    by_workers: list[int] = []
    compose = ComposePool.compose

    async def counted(self, ids):
        composed = await compose(self, ids)
        by_workers.extend(c.digest_id for c in composed or [])
        return composed

    monkeypatch.setattr(ComposePool, "compose", counted)
    # a run this small would be over before the workers are up: wait for them (a large run does not)
    monkeypatch.setattr(ComposePool, "ready", property(lambda self: self.started.result(timeout=120) is not None))
    with smtp_server() as (server, port):
        cfg = _smtp_config(tmp_path, port)
        engine = store_for(cfg)
        pids = [f"sme{i:03d}" for i in range(150)]
        _seed(engine, pids)
        with session_scope(engine) as s:
            build_digests(s, cfg, NOW)
        with session_scope(engine) as s:
            result = send.deliver_digests(s, cfg, NOW)

    states = _states(engine)
    assert result.outcomes == {"sent": 150}
    assert sorted(r[0] for r in server.recipients) == [f"{pid}@example.org" for pid in pids]
    assert sorted(m["Message-ID"] for m in server.messages) == sorted(d.message_id for d in states.values())
    assert by_workers, "the workers composed none of them"
    assert len(set(by_workers)) == len(by_workers)  # none composed twice
    texts = {m["To"].addresses[0].addr_spec: m.get_body(("plain",)).get_content() for m in server.messages}
    assert all(f"Tender for {pid}" in texts[f"{pid}@example.org"] for pid in pids)
