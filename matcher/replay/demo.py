"""`matcher demo`: the whole pipeline offline, against the bundled real recordings served on loopback."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from matcher.config import Config, config_from_dict
from matcher.sources import MAX_WINDOW_HOURS

SAMPLE_PROFILES = Path(__file__).resolve().parents[1] / "data" / "sample_profiles.json"
# Every portal with recordings of 2025. Public Contracts Scotland's recordings are from 2019 (all closed long
# before "today"), so it sits this one out; the Digital Marketplace is polled, but its briefs closed in 2020.
DEMO_SOURCES = ("contracts_finder", "find_a_tender", "sell2wales", "digital_marketplace")
# "Today" for the demo: the newest recording of 2025 (Find a Tender's constructed copies of Welsh notices,
# 22 Feb 2025), reaching back over the others. The real Find a Tender releases (2021-2026) are served as well,
# but fall outside the demo's month.
DEMO_TODAY_SOURCE = "find_a_tender"
DEMO_LOOKBACK_DAYS = 31
DEMO_REMINDER_DAYS = 14  # the demo also runs the daily reminder job for the fortnight after "today"


@dataclass
class DemoRow:
    profile_id: str
    name: str
    matches: int
    state: str
    top_title: str | None
    top_score: float | None


def demo_config(workdir: Path, base_urls: dict[str, str]) -> dict:
    """Defaults, with the sources pointed at the replay server and every file under `workdir`."""
    sources = {
        name: {
            "enabled": True,
            "base_url": base_urls[name],
            "delay_seconds": 0.05,   # the replay server is on this machine; real portals get the shipped delays
            "lookback_days": DEMO_LOOKBACK_DAYS,
            "window_hours": MAX_WINDOW_HOURS.get(name, 360),
            "retry_wait_seconds": 1,
            "rate_limit_wait_seconds": 5,
            # Find a Tender takes no `stages`: it would hide every Procurement Act notice (sources.md 2.7)
            **({} if name == "find_a_tender" else {"stages": ["planning", "tender", "award"]}),
        }
        for name in DEMO_SOURCES
    }
    return {
        "database": {"url": "sqlite:///matcher.db"},
        "sources": sources,
        "delivery": {"mode": "outbox", "outbox_dir": "outbox"},
        "secrets": {"secret_file": "secret-key"},
    }


def write_config(path: Path, data: dict) -> None:
    lines = []
    for section, body in data.items():
        if section == "sources":
            for name, src in body.items():
                lines.append(f"[sources.{name}]")
                lines += [f"{k} = {_toml(v)}" for k, v in src.items()]
                lines.append("")
            continue
        lines.append(f"[{section}]")
        lines += [f"{k} = {_toml(v)}" for k, v in body.items()]
        lines.append("")
    path.write_text("# written by `matcher demo`: the sources point at its replay server, which stops with it\n\n" + "\n".join(lines))


def _toml(v: object) -> str:
    import json

    return "true" if v is True else "false" if v is False else json.dumps(v)


def run_demo(workdir: Path, now: datetime | None = None) -> tuple[Config, list[DemoRow], datetime]:
    from sqlmodel import select

    from matcher.pipeline import run_once
    from matcher.store.models import Digest, Match, Notice, Profile
    from matcher.store.profiles import read_profiles, save_profile
    from matcher.replay import recording_now, start_replay
    from matcher.deliver.secrets import ensure_secret
    from matcher.store import init_db, make_engine, session_scope

    workdir.mkdir(parents=True, exist_ok=True)
    with start_replay() as replay:
        data = demo_config(workdir, {name: replay.base_url(name) for name in DEMO_SOURCES})
        write_config(workdir / "config.toml", data)
        cfg = config_from_dict(data, where=str(workdir / "config.toml"), base_dir=workdir.resolve())
        now = now or recording_now(DEMO_TODAY_SOURCE, constructed=True)
        engine = make_engine(cfg.database_url())
        init_db(engine)
        ensure_secret(cfg)
        report = read_profiles(SAMPLE_PROFILES)
        with session_scope(engine) as s:
            for spec in report.profiles:
                save_profile(s, spec)
        run_once(cfg, engine, now)
    # the days after: each deadline reminder goes out once, reminder_days before its item closes
    from datetime import timedelta

    from matcher.deliver.reminders import send_reminders

    for day in range(1, DEMO_REMINDER_DAYS + 1):
        send_reminders(cfg, engine, now + timedelta(days=day))

    rows: list[DemoRow] = []
    with session_scope(engine) as s:
        for p in s.exec(select(Profile).order_by(Profile.id)):
            digest = s.exec(select(Digest).where(Digest.profile_id == p.id).order_by(Digest.id.desc())).first()
            items = list(s.exec(select(Match).where(Match.digest_id == digest.id).order_by(Match.score.desc()))) if digest else []
            top = s.exec(select(Notice).where(Notice.key == items[0].notice_key)).first() if items else None
            rows.append(DemoRow(p.id, p.name, len(items), digest.state if digest else "-",
                                top.title if top else None, items[0].score if items else None))
    return cfg, rows, now
