"""`matcher demo` from a clean folder: offline, one multipart .eml per SME with matches, every link present."""
from __future__ import annotations

import email
import os
import subprocess
import sys
from email import policy
from pathlib import Path

from bs4 import BeautifulSoup
from sqlmodel import Session, select

from matcher.store.models import Digest, Match, Notice, Reminder
from matcher.store import make_engine

def test_demo_writes_one_multipart_digest_per_sme_with_matches(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    result = subprocess.run([sys.executable, "-m", "matcher", "demo", "--dir", "demo"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "digests written to" in result.stdout

    demo = tmp_path / "demo"
    engine = make_engine(f"sqlite:///{demo / 'matcher.db'}")
    with Session(engine) as s:
        sent = s.exec(select(Digest).where(Digest.state == "sent")).all()
        assert len(sent) >= 5, "the demo should find matches for several sample SMEs"
        emls = sorted(p for p in (demo / "outbox").rglob("*.eml") if p.parent.name != "reminders")
        assert sorted(p.stem for p in emls) == sorted(d.profile_id for d in sent)
        for path in emls:
            msg = email.message_from_bytes(path.read_bytes(), policy=policy.default)
            assert msg.get_content_type() == "multipart/alternative"
            assert msg["List-Unsubscribe"].startswith("<http") and msg["List-Unsubscribe-Post"]
            html = msg.get_body(("html",)).get_content()
            links = {a["href"] for a in BeautifulSoup(html, "lxml").find_all("a", href=True)}
            digest = next(d for d in sent if d.profile_id == path.stem)
            for m in s.exec(select(Match).where(Match.digest_id == digest.id)):
                notice = s.exec(select(Notice).where(Notice.key == m.notice_key)).one()
                assert notice.url and notice.url.startswith("https://"), notice.key
                assert notice.url in links, f"{path.name} lacks a link to {notice.key}"

        # the reminder job ran for the fortnight after "today": one reminder per listed item closing in that time
        reminders = sorted((demo / "outbox" / "reminders").glob("*.eml"))
        rows = s.exec(select(Reminder).where(Reminder.state == "sent")).all()
        assert reminders and len(reminders) == len(rows) == len({(r.profile_id, r.notice_key) for r in rows})
        listed = {(m.profile_id, m.notice_key) for d in sent for m in s.exec(select(Match).where(Match.digest_id == d.id))}
        assert {(r.profile_id, r.notice_key) for r in rows} <= listed
        for path in reminders:
            msg = email.message_from_bytes(path.read_bytes(), policy=policy.default)
            assert "/reminders/unsubscribe/" in msg["List-Unsubscribe"] and msg["Subject"].startswith("Closes in 3 days")
    assert "buyers with award history" in result.stdout
