"""A delivery run's emails (matcher.digest.batch and .wire) are byte for byte the email package's: the same
bytes as build.compose() then render.to_bytes(), boundary included when the random numbers are the same."""
from __future__ import annotations

import random
from datetime import timedelta
from email import quoprimime

import pytest
from helpers_digest import NOW, WEEK, add_match, add_notice, add_profile, make_config, parse_eml, store_for
from sqlmodel import select

import matcher.deliver.tokens as tokens
from matcher.deliver.tokens import LinkSigner
from matcher.digest.batch import Composer
from matcher.digest.build import build_digests, compose
from matcher.digest.render import MAX_EMAIL_BYTES, template_env, to_bytes
from matcher.digest.wire import quote_body
from matcher.store import session_scope
from matcher.store.models import Digest, Profile

HOSTILE_TEXTS = [
    "From the council: grounds\n.leading dot\n..two dots",
    "Trailing spaces   \nand a tab\t\nthen =?utf-8?q?encoded?= words",
    "--===============1234567890123456789== looks like a boundary",
    "Caf\u00e9 \u2013 \u00a3 \u20ac \u2603 " + "x" * 200,
    "a" * 500,
    "carriage\rreturn and \x0b vertical tab",
]
NAMES = ["Plain Name Ltd", "Smith, Jones & Co.", "Caf\u00e9 \u2603 Ltd", '"Quoted" Name', "", "  Spaced   out  ",
         "N" * 300, "Dr. O'Neil (Ltd)"]


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setattr(tokens, "_now", lambda now: now or NOW)  # tokens made at one instant, so both ways agree
    cfg = make_config(tmp_path, digest={"public_base_url": "https://links.example.org/" + "p" * 40})
    engine = store_for(cfg)
    for i, text in enumerate(HOSTILE_TEXTS):
        add_notice(engine, f"n{i}", title=text.splitlines()[0][:300], description=text,
                   buyer=None if i == 2 else text[:80], closes_at=None if i == 3 else NOW + timedelta(days=2 + i),
                   value_min=None if i == 1 else 1000.5 * i, url="javascript:alert(1)" if i == 4 else None)
    for p, name in enumerate(NAMES):
        extra = {"extra_emails": ["second@example.org", f"third.{p}@example.org"]} if p % 3 == 0 else {}
        add_profile(engine, f"sme {p}/\u00e9", name=name or None, email=f"o'brien.{p}@example.org" if p == 5
                    else f"sme{p}@example.org", **extra)
        for r, i in enumerate(range(p % len(HOSTILE_TEXTS), len(HOSTILE_TEXTS))):
            add_match(engine, f"sme {p}/\u00e9", f"n{i}", 0.9 - r / 20, rank=r, explanation={
                "summary": HOSTILE_TEXTS[i][:120], "capabilities": [HOSTILE_TEXTS[(i + 1) % 6][:200], "grounds"],
                "terms": ["grounds", "caf\u00e9"], "cpv": ["77310000", {"code": "45000000", "description": "Works"}],
                "evidence": HOSTILE_TEXTS[(i + 2) % 6][:250], "challenge": "open call" if i == 5 else None})
    with session_scope(engine) as s:
        build_digests(s, cfg, NOW)
    return cfg, engine


def _both(cfg, engine, ids):
    env, signer = template_env(), LinkSigner.from_config(cfg)
    with session_scope(engine) as s:
        digests = [s.get(Digest, i) for i in ids]
        random.seed(42)
        expected = [to_bytes(compose(s, cfg, d, s.get(Profile, d.profile_id), NOW, env, signer)) for d in digests]
        random.seed(42)
        got = Composer(cfg, NOW, env, signer).compose(s, ids)
    return expected, got


def test_batch_composed_emails_are_the_email_packages_bytes_for_hostile_names_and_texts(store):
    cfg, engine = store
    with session_scope(engine) as s:
        ids = list(s.exec(select(Digest.id).where(Digest.week == WEEK, Digest.state == "created").order_by(Digest.id)))
    assert len(ids) == len(NAMES)
    expected, got = _both(cfg, engine, ids)
    assert [c.error for c in got] == [None] * len(ids)
    assert [c.data for c in got] == expected
    for c, data in zip(got, expected, strict=True):
        msg = parse_eml(data)
        assert list(c.recipients) == [a.addr_spec for a in msg["To"].addresses]
        assert c.sender == msg["From"].addresses[0].addr_spec


def test_an_email_near_the_size_limit_takes_the_email_packages_way_and_stays_under_it(store, monkeypatch):
    cfg, engine = store
    monkeypatch.setattr("matcher.digest.render.MAX_EMAIL_BYTES", 9_000)
    with session_scope(engine) as s:
        ids = list(s.exec(select(Digest.id).order_by(Digest.id)))[:2]
    expected, got = _both(cfg, engine, ids)
    assert [c.data for c in got] == expected
    assert all(len(c.data) <= 9_000 < MAX_EMAIL_BYTES for c in got)
    assert "left out" in parse_eml(got[0].data).get_body(("plain",)).get_content()


def test_a_removed_or_paused_profile_is_skipped_with_the_reason_and_the_others_composed(store):
    cfg, engine = store
    with session_scope(engine) as s:
        ids = list(s.exec(select(Digest.id).order_by(Digest.id)))[:3]
        first, second = (s.get(Digest, i).profile_id for i in ids[:2])
        s.delete(s.get(Profile, first))
        s.get(Profile, second).paused_at = NOW
    with session_scope(engine) as s:
        got = Composer(cfg, NOW, template_env(), LinkSigner.from_config(cfg)).compose(s, ids)
    assert [c.skip for c in got][:2] == ["profile removed", "profile paused (None)"]
    assert got[2].skip is None and got[2].data.startswith(b"From: ")


def test_quoting_a_body_gives_quoprimime_body_encodes_text():
    rng = random.Random(3)
    alphabet = "ab =\t\r\n.-\x00\xe9\xff\x7f~" + "x" * 10
    for _ in range(2000):
        body = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 300)))
        for width in (4, 11, 78):
            assert quote_body(body, width) == quoprimime.body_encode(body, width)
