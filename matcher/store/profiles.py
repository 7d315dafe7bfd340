"""Reading SME profiles from JSON or CSV, and saving them. Bad rows are reported by line; good rows still land."""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError
from sqlmodel import Session, select

from matcher.store.models import Profile, utcnow
from matcher.schema import ProfileSpec

CSV_COLUMNS = ("id", "name", "email", "capabilities", "keywords", "cpv", "regions", "exclude", "value_min", "value_max")


@dataclass
class ImportReport:
    profiles: list[ProfileSpec] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _why(e: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, x['loc'])) or 'row'}: {x['msg']}" for x in e.errors())


def _line_numbers(text: str, count: int) -> list[int]:
    """The line on which each top-level object of a JSON list starts."""
    lines, depth, line, in_str, esc = [], 0, 1, False, False
    for ch in text:
        if ch == "\n":
            line += 1
        if in_str:
            esc = (ch == "\\") and not esc
            if ch == '"' and not esc:
                in_str = False
            continue
        if ch == '"':
            in_str, esc = True, False
        elif ch in "[{":
            depth += 1
            if depth == 2 and ch == "{":
                lines.append(line)
        elif ch in "]}":
            depth -= 1
    return lines + [0] * (count - len(lines))


def read_profiles(path: Path) -> ImportReport:
    """Parse a JSON list (the eval profiles.json format) or a CSV with the same columns."""
    report = ImportReport()
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() == ".csv":
        reader = csv.DictReader(text.splitlines())
        missing = {"id", "name", "email", "capabilities"} - set(reader.fieldnames or [])
        if missing:
            report.errors.append(f"{path}: line 1: missing column(s) {', '.join(sorted(missing))}")
            return report
        rows = [(reader.line_num, row) for row in reader]
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            report.errors.append(f"{path}: line {e.lineno}: not valid JSON: {e.msg}")
            return report
        if isinstance(data, dict):
            data = data.get("profiles", [data])
        if not isinstance(data, list):
            report.errors.append(f"{path}: expected a list of profiles")
            return report
        rows = list(zip(_line_numbers(text, len(data)), data))
    seen: set[str] = set()
    for line, row in rows:
        if not isinstance(row, dict):
            report.errors.append(f"{path}: line {line}: expected an object")
            continue
        clean = {k: (v if v != "" else None) for k, v in row.items() if k}
        try:
            spec = ProfileSpec.model_validate(clean)
        except ValidationError as e:
            ident = row.get("id") or "?"
            report.errors.append(f"{path}: line {line} (profile {ident}): {_why(e)}")
            continue
        if spec.id in seen:
            report.errors.append(f"{path}: line {line}: duplicate profile id {spec.id!r}; the first one is kept")
            continue
        seen.add(spec.id)
        report.profiles.append(spec)
    return report


def save_profile(session: Session, spec: ProfileSpec) -> str:
    """Insert or update; returns 'added' or 'updated'. An unsubscribed SME stays unsubscribed."""
    row = session.get(Profile, spec.id)
    data = spec.model_dump()
    if row is None:
        session.add(Profile(**data))
        return "added"
    data.pop("enabled")  # re-importing a file does not re-enable a profile an admin disabled
    for kept in ("extra_emails", "cadence", "challenges"):  # what the SME chose on its own page stays, unless given
        if kept not in spec.model_fields_set:
            data.pop(kept)
    for k, v in data.items():
        setattr(row, k, v)
    row.updated_at = utcnow()
    session.add(row)
    return "updated"


def to_spec(row: Profile) -> ProfileSpec:
    return ProfileSpec.model_validate(row.model_dump())


def active_profiles(session: Session) -> list[Profile]:
    stmt = select(Profile).where(Profile.enabled == True, Profile.unsubscribed_at == None).order_by(Profile.id)  # noqa: E711,E712
    return list(session.exec(stmt))
