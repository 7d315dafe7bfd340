"""Digest selection: one digest per (SME, week), best matches first, nothing sent twice, reruns add nothing."""
from __future__ import annotations

from datetime import timedelta

from helpers_digest import NOW, WEEK, add_match, add_notice, add_profile, make_config, store_for
from sqlmodel import select

from matcher import clock
from matcher.digest.build import build_digests, preview
from matcher.store.models import Digest, Match, Profile
from matcher.digest.render import template_env
from matcher.store import session_scope
from matcher.deliver.tokens import LinkSigner


def _digests(engine) -> dict[str, Digest]:
    with session_scope(engine) as s:
        return {d.profile_id: d for d in s.exec(select(Digest).where(Digest.week == WEEK))}


def _listed(engine, digest_id: int) -> list[str]:
    with session_scope(engine) as s:
        rows = s.exec(select(Match).where(Match.digest_id == digest_id))
        return [m.notice_key for m in sorted(rows, key=lambda m: -m.score)]


def test_one_digest_per_active_sme_and_a_second_build_creates_nothing(tmp_path):
    cfg = make_config(tmp_path)
    engine = store_for(cfg)
    for pid in ("acme", "bolt"):
        add_profile(engine, pid)
    add_notice(engine, "n1")
    add_match(engine, "acme", "n1", 0.9)

    with session_scope(engine) as s:
        first = build_digests(s, cfg, NOW)
    with session_scope(engine) as s:
        second = build_digests(s, cfg, NOW + timedelta(hours=3))

    assert len(first.created) == 2 and first.week == WEEK
    assert second.created == [] and second.existing == 2
    digests = _digests(engine)
    assert digests["acme"].state == "created" and digests["acme"].item_count == 1
    assert digests["bolt"].state == "empty" and digests["bolt"].item_count == 0


def test_items_are_ranked_by_score_and_capped_at_max_items(tmp_path):
    cfg = make_config(tmp_path, digest={"max_items": 3})
    engine = store_for(cfg)
    add_profile(engine, "acme")
    scores = {"n1": 0.55, "n2": 0.95, "n3": 0.7, "n4": 0.8, "n5": 0.6}
    for key, score in scores.items():
        add_notice(engine, key)
        add_match(engine, "acme", key, score)

    with session_scope(engine) as s:
        build_digests(s, cfg, NOW)

    digest = _digests(engine)["acme"]
    assert _listed(engine, digest.id) == ["n2", "n4", "n3"]
    assert digest.item_count == 3


def test_send_empty_makes_a_sendable_digest_for_an_sme_without_matches(tmp_path):
    cfg = make_config(tmp_path, digest={"send_empty": True})
    engine = store_for(cfg)
    add_profile(engine, "quiet")
    with session_scope(engine) as s:
        build_digests(s, cfg, NOW)
    assert _digests(engine)["quiet"].state == "created"


def test_notice_sent_in_an_earlier_week_is_not_listed_again(tmp_path):
    cfg = make_config(tmp_path)
    engine = store_for(cfg)
    add_profile(engine, "acme")
    last_week_now = NOW - timedelta(days=7)
    last_week = clock.week_of(last_week_now)
    for key in ("old", "new"):
        add_notice(engine, key)
    add_match(engine, "acme", "old", 0.9, week=last_week)
    with session_scope(engine) as s:
        build_digests(s, cfg, last_week_now)
    with session_scope(engine) as s:  # last week's digest went out
        d = s.exec(select(Digest).where(Digest.week == last_week)).one()
        d.state = "sent"
        s.add(d)
    add_match(engine, "acme", "old", 0.95)  # still matches this week, even better
    add_match(engine, "acme", "new", 0.6)

    with session_scope(engine) as s:
        build_digests(s, cfg, NOW)

    assert _listed(engine, _digests(engine)["acme"].id) == ["new"]


def test_unsubscribed_and_disabled_smes_get_no_digest(tmp_path):
    cfg = make_config(tmp_path)
    engine = store_for(cfg)
    add_profile(engine, "gone", unsubscribed_at=NOW - timedelta(days=1))
    add_profile(engine, "off", enabled=False)
    add_profile(engine, "on")
    with session_scope(engine) as s:
        build_digests(s, cfg, NOW)
    assert set(_digests(engine)) == {"on"}


def test_message_id_comes_from_the_digest_row_and_names_the_mail_domain(tmp_path):
    cfg = make_config(tmp_path, digest={"from_address": "Alerts <alerts@matcher.example>"})
    engine = store_for(cfg)
    add_profile(engine, "acme co/1")
    with session_scope(engine) as s:
        build_digests(s, cfg, NOW)
    d = _digests(engine)["acme co/1"]
    assert d.message_id == f"<digest-{d.id}.acme-co-1.{WEEK}@matcher.example>"


def test_unsent_digest_of_an_earlier_week_is_given_up_with_a_reason(tmp_path):
    cfg = make_config(tmp_path)
    engine = store_for(cfg)
    add_profile(engine, "acme")
    add_notice(engine, "n1")
    last_week_now = NOW - timedelta(days=7)
    add_match(engine, "acme", "n1", 0.9, week=clock.week_of(last_week_now))
    with session_scope(engine) as s:
        build_digests(s, cfg, last_week_now)
    with session_scope(engine) as s:
        result = build_digests(s, cfg, NOW)
    with session_scope(engine) as s:
        old = s.exec(select(Digest).where(Digest.week == clock.week_of(last_week_now))).one()
    assert result.superseded == 1
    assert old.state == "dead" and WEEK in old.last_error


def test_preview_renders_this_weeks_matches_without_writing_anything(tmp_path):
    cfg = make_config(tmp_path)
    engine = store_for(cfg)
    add_profile(engine, "acme")
    add_notice(engine, "n1", title="Grounds maintenance for parks")
    add_match(engine, "acme", "n1", 0.8)

    with session_scope(engine) as s:
        message, view = preview(s, cfg, "acme", NOW, template_env(), LinkSigner.from_config(cfg))

    assert [i.title for i in view.items] == ["Grounds maintenance for parks"]
    assert "Grounds maintenance for parks" in message.get_body(("plain",)).get_content()
    assert _digests(engine) == {}
    with session_scope(engine) as s:
        assert s.exec(select(Match)).all() == []  # nothing attached: the item is still only in the week's set
        assert s.get(Profile, "acme").unsubscribed_at is None
