"""The service's users build its benchmark: every SME verdict and champion mark, written as an evaluation set
that `matcher eval` reads (`matcher champion export`).

The folder gets:
  qrels.jsonl     one {"profile", "notice", "grade"} a line (the eval format). Per SME and notice, the SME's
                  verdict and the champions' latest marks are combined: all say relevant -> 2 (a fit), all say
                  not relevant -> 0, they disagree -> 1 (a partial fit: someone saw a real part of the work).
  profiles.json   the judged SMEs' profiles, in the format `matcher profiles import` and `matcher eval` read
                  (names and capability texts; email addresses replaced by <id>@example.org)
  notices/store.jsonl  the stored notices as their portals sent them (the stored raw release or brief), so the
                  sources' own parsers read them again: all of them, the judged first (`--judged-only`: those alone)
Judgments on a notice that is no longer stored are left out (counted in the result).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from sqlmodel import Session, col, select

from matcher.store.models import Champion, ChampionMark, Feedback, Notice, NoticeAlias, Profile

GRADE_ALL_RELEVANT, GRADE_SPLIT, GRADE_NONE = 2, 1, 0


@dataclass
class Exported:
    judgments: int = 0
    profiles: int = 0
    notices: int = 0
    from_smes: int = 0
    from_champions: int = 0
    skipped: list[str] = field(default_factory=list)  # why a judgment was left out

    def as_json(self) -> dict:
        return self.__dict__


def grade(verdicts: list[str]) -> int:
    relevant = sum(v == "relevant" for v in verdicts)
    if relevant == len(verdicts):
        return GRADE_ALL_RELEVANT
    return GRADE_NONE if relevant == 0 else GRADE_SPLIT


def collect(session: Session) -> tuple[dict[tuple[str, str], list[str]], int, int]:
    """{(profile, notice key): [verdicts]} with aliases resolved, and how many came from SMEs and champions."""
    aliases = dict(session.exec(select(NoticeAlias.key, NoticeAlias.canonical_key)).all())
    out: dict[tuple[str, str], list[str]] = {}
    smes = champions = 0
    for f in session.exec(select(Feedback).order_by(Feedback.id)):
        out.setdefault((f.profile_id, aliases.get(f.notice_key, f.notice_key)), []).append(f.verdict)
        smes += 1
    for m in session.exec(select(ChampionMark).join(Champion, col(Champion.id) == ChampionMark.champion_id)):
        out.setdefault((m.profile_id, aliases.get(m.notice_key, m.notice_key)), []).append(m.verdict)
        champions += 1
    return out, smes, champions


def export(session: Session, folder: Path, judged_only: bool = False) -> Exported:
    """Write the folder (see the module doc). The notices are every stored notice whose record reads again, so
    `matcher eval` ranks the judged ones among all the others as the service did; `judged_only` writes only the
    judged ones (a small file, but then every system ranks among the judged notices alone)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "notices").mkdir(exist_ok=True)
    judged, smes, champions = collect(session)
    result = Exported(from_smes=smes, from_champions=champions)
    keys = sorted({k for _, k in judged})
    notices = {n.key: n for n in session.exec(select(Notice).where(col(Notice.key).in_(keys)))} if keys else {}
    pids = sorted({p for p, _ in judged})
    profiles = {p.id: p for p in session.exec(select(Profile).where(col(Profile.id).in_(pids)))} if pids else {}
    as_read = {key: _key_as_read(n) for key, n in notices.items()}
    lines, used_p, used_n = [], set(), {}
    for (pid, key), verdicts in sorted(judged.items()):
        if as_read.get(key) is None:
            result.skipped.append(f"{pid} / {key}: the notice is no longer stored, or its record cannot be read again")
            continue
        if pid not in profiles:
            result.skipped.append(f"{pid} / {key}: the profile is no longer stored")
            continue
        lines.append(json.dumps({"profile": pid, "notice": as_read[key], "grade": grade(verdicts)}))
        used_p.add(pid)
        used_n[key] = None
    used_p = sorted(used_p)
    (folder / "qrels.jsonl").write_text("".join(x + "\n" for x in lines), encoding="utf-8")
    rows = []
    for pid in used_p:
        p = profiles[pid]
        rows.append({"id": p.id, "name": p.name, "email": f"{_safe(p.id)}@example.org", "capabilities": p.capabilities,
                     "keywords": p.keywords, "cpv": p.cpv, "regions": p.regions, "exclude": p.exclude,
                     "value_min": p.value_min, "value_max": p.value_max})
    (folder / "profiles.json").write_text(json.dumps(rows, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    written = 0
    with (folder / "notices" / "store.jsonl").open("w", encoding="utf-8") as fh:
        for key in used_n:
            fh.write(json.dumps(notices[key].raw, ensure_ascii=False, sort_keys=True) + "\n")
            written += 1
        if not judged_only:
            for row in session.exec(select(Notice).where(col(Notice.key).not_in(list(used_n))).order_by(Notice.key)
                                    .execution_options(yield_per=500)):
                if _key_as_read(row) is not None:
                    fh.write(json.dumps(row.raw, ensure_ascii=False, sort_keys=True) + "\n")
                    written += 1
    result.judgments, result.profiles, result.notices = len(lines), len(used_p), written
    return result


def _key_as_read(notice: Notice) -> str | None:
    """The key `matcher eval` gives this notice's stored record (a copy merged from another portal keeps that
    portal's record, and so its key); None when the record cannot be read again."""
    from matcher.quality.corpus import record_to_notice

    if not notice.raw:
        return None
    try:
        return record_to_notice(notice.raw, notice.source).key
    except Exception:  # noqa: BLE001 - any record the parsers refuse is left out, and counted
        return None


def _safe(pid: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9._-]+", "-", pid).strip("-.") or "sme"
