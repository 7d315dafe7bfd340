"""Outbox delivery: one parseable .eml per SME per week, written atomically, never twice."""
from __future__ import annotations

from bs4 import BeautifulSoup
from helpers_digest import NOW, WEEK, add_match, add_notice, add_profile, make_config, parse_eml, store_for
from sqlmodel import select

from jobs.digest import digest_job
from matcher.store.models import Digest
from matcher.store import session_scope


def test_outbox_writes_one_multipart_eml_per_sme_with_unsubscribe_headers_and_every_notice_linked(tmp_path):
    cfg = make_config(tmp_path, delivery={"outbox_dir": "out"})  # relative: resolved against the config's folder
    engine = store_for(cfg)
    listed = {"acme": ["a1", "a2", "a3"], "bolt": ["b1"]}
    for pid, keys in listed.items():
        add_profile(engine, pid)
        for i, key in enumerate(keys):
            add_notice(engine, key, title=f"Tender {key}")
            add_match(engine, pid, key, 0.9 - i / 10)
    add_profile(engine, "idle")  # no matches: an 'empty' digest, nothing written

    report = digest_job(cfg, engine, NOW)

    files = sorted((tmp_path / "out" / WEEK).iterdir())
    assert [f.name for f in files] == ["acme.eml", "bolt.eml"]
    assert report.states == {"sent": 2, "empty": 1}
    for f in files:
        raw = f.read_bytes()
        msg = parse_eml(raw)
        pid = f.stem
        assert msg.get_content_type() == "multipart/alternative"
        assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
        assert msg["List-Unsubscribe"].startswith("<http://127.0.0.1:8080/unsubscribe/")
        assert b"\r\nList-Unsubscribe: <http://" in raw  # a plain URL on the wire, not an encoded-word
        assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert msg["To"].addresses[0].addr_spec == f"{pid}@example.org"
        soup = BeautifulSoup(msg.get_body(("html",)).get_content(), "html.parser")
        hrefs = {a["href"] for a in soup.select("a.notice-link")}
        assert hrefs == {f"https://www.contractsfinder.service.gov.uk/notice/{k}" for k in listed[pid]}
        text = msg.get_body(("plain",)).get_content()
        assert all(f"https://www.contractsfinder.service.gov.uk/notice/{k}" in text for k in listed[pid])
    assert not [p for p in (tmp_path / "out").rglob("*") if p.name.endswith(".tmp")]


def test_second_run_in_the_same_week_writes_nothing_new(tmp_path):
    cfg = make_config(tmp_path)
    engine = store_for(cfg)
    add_profile(engine, "acme")
    add_notice(engine, "n1")
    add_match(engine, "acme", "n1", 0.9)
    digest_job(cfg, engine, NOW)
    eml = tmp_path / "outbox" / WEEK / "acme.eml"
    first = eml.read_bytes()
    eml.unlink()

    report = digest_job(cfg, engine, NOW)

    assert not eml.exists()
    assert report.delivery.outcomes == {} and report.states == {"sent": 1}
    with session_scope(engine) as s:
        d = s.exec(select(Digest)).one()
    assert d.attempts == 1 and parse_eml(first)["Message-ID"] == d.message_id


def test_outbox_file_name_is_safe_for_any_profile_id(tmp_path):
    cfg = make_config(tmp_path)
    engine = store_for(cfg)
    for pid in ("../../escape", "a/b"):
        add_profile(engine, pid, email="x@example.org")
        add_notice(engine, f"n-{pid}")
        add_match(engine, pid, f"n-{pid}", 0.9)
    digest_job(cfg, engine, NOW)
    written = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*.eml"))
    assert len(written) == 2
    assert all(p.parts[:2] == ("outbox", WEEK) and len(p.parts) == 3 for p in written)
