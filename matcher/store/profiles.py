"""Reading SME profiles from JSON or CSV, and saving them. Bad rows are reported by line; good rows still land."""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy import Text, cast
from sqlalchemy import select as select_columns
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, select

from matcher.store.models import Profile, utcnow
from matcher.schema import ProfileSpec

CSV_COLUMNS = ("id", "name", "email", "capabilities", "keywords", "cpv", "regions", "exclude", "value_min", "value_max",
               "challenges", "cadence")


@dataclass
class ImportReport:
    profiles: list[ProfileSpec] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)  # the line each profile starts on


def _why(e: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, x['loc'])) or 'row'}: {x['msg']}" for x in e.errors())


def _line_numbers(text: str, count: int) -> list[int]:
    """The line on which each top-level entry of a JSON list starts (objects or not)."""
    lines, depth, line, in_str, esc, expect = [], 0, 1, False, False, False
    for ch in text:
        if ch == "\n":
            line += 1
        if in_str:
            esc = (ch == "\\") and not esc
            if ch == '"' and not esc:
                in_str = False
            continue
        if depth == 1 and expect and not ch.isspace() and ch not in ",]":
            lines.append(line)
            expect = False
        if ch == '"':
            in_str, esc = True, False
        elif ch in "[{":
            depth += 1
            if depth == 1:
                expect = True
        elif ch in "]}":
            depth -= 1
        elif ch == "," and depth == 1:
            expect = True
    return lines + [0] * (count - len(lines))


def read_text(path: Path) -> str:
    """The file's text, or ProfileFileError with one clear line (missing, a folder, unreadable, not UTF-8)."""
    if path.is_dir():
        raise ProfileFileError(f"{path}: is a folder, not a profiles file")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ProfileFileError(f"{path}: file not found") from None
    except OSError as e:
        raise ProfileFileError(f"{path}: cannot be read ({e.strerror or e})") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise ProfileFileError(f"{path}: line {line}: not UTF-8 text (byte 0x{data[e.start]:02x}); save it as UTF-8") from None


class ProfileFileError(ValueError):
    """A profiles file that cannot be read at all; the message is one line naming the file."""


def _ident(row: dict) -> str:
    value = row.get("id")
    if not isinstance(value, str) or not value.strip():
        return "?"
    shown = value.strip()
    return shown[:40] + "…" if len(shown) > 40 else shown


def read_profiles(path: Path) -> ImportReport:
    """Parse a JSON list (the eval profiles.json format) or a CSV with the same columns (quoted cells may hold
    line breaks). Raises ProfileFileError for a file that cannot be read at all."""
    report = ImportReport()
    text = read_text(path)
    if path.suffix.lower() == ".csv":
        reader = csv.DictReader(io.StringIO(text, newline=""))
        missing = {"id", "name", "email", "capabilities"} - set(reader.fieldnames or [])
        if missing:
            report.errors.append(f"{path}: line 1: missing column(s) {', '.join(sorted(missing))}")
            return report
        rows = []
        try:
            while True:
                start = reader.line_num + 1
                try:
                    row = next(reader)
                except StopIteration:
                    break
                rows.append((start, {k: v for k, v in row.items() if isinstance(k, str)}))
        except csv.Error as e:
            report.errors.append(f"{path}: line {reader.line_num}: not valid CSV: {e}; the rows after it are not read")
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
        if clean.get("cadence") is None:  # an empty cell keeps what the SME chose (weekly for a new one)
            clean.pop("cadence", None)
        try:
            spec = ProfileSpec.model_validate(clean)
        except ValidationError as e:
            report.errors.append(f"{path}: line {line} (profile {_ident(row)}): {_why(e)}")
            continue
        if spec.id in seen:
            report.errors.append(f"{path}: line {line}: duplicate profile id {spec.id!r}; the first one is kept")
            continue
        seen.add(spec.id)
        report.profiles.append(spec)
        report.lines.append(line)
    return report


def save_profiles(session: Session, report: ImportReport, where: str) -> dict[str, int]:
    """Save each valid profile in a savepoint of its own: a row the database refuses is reported (line, id, the
    kind of error; never the row's values) and costs no other row. Commits."""
    counts = {"added": 0, "updated": 0, "rejected": 0}
    for line, spec in zip(report.lines, report.profiles, strict=True):
        try:
            with session.begin_nested():
                outcome = save_profile(session, spec)
                session.flush()
        except SQLAlchemyError as e:
            cause = type(getattr(e, "orig", None) or e).__name__
            report.errors.append(f"{where}: line {line} (profile {_ident({'id': spec.id})}): the database refused it ({cause})")
            counts["rejected"] += 1
            continue
        counts[outcome] += 1
    session.commit()
    return counts


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


# what matching reads of a profile: validated once per distinct combination, not once per SME
_CONTENT = ("capabilities", "keywords", "cpv", "regions", "exclude", "value_min", "value_max", "enabled", "cadence",
            "challenges")
_LISTS = frozenset({"keywords", "cpv", "regions", "exclude", "extra_emails"})
_IDENTITY = ("id", "name", "email", "extra_emails")
_PLACEHOLDER = {"id": "-", "name": "-", "email": "sme@example.org", "extra_emails": []}


def matching_profiles(session: Session, profile_ids: Collection[str] | None = None, cadence: str | None = None
                      ) -> tuple[list[ProfileSpec], list[tuple[str, str]], list[tuple[str, str]]]:
    """The active SMEs (of `cadence`, if given) as specs for matching, in id order; (id, why) for each SME whose
    stored content no longer validates (e.g. a region name retired since it was saved), the others still coming
    back; and (id, its cadence) for each SME left out for getting digests at another cadence.

    Fast at national scale: a plain column select read through the DBAPI cursor (no ORM objects, no per-value
    result processing), each JSON list decoded once per distinct text,
    and the matching content (capabilities, keywords, codes, regions, exclusions, value range, switches) validated
    with ProfileSpec once per distinct combination. The identity fields (id, name, addresses) do not feed matching;
    they were validated by ProfileSpec where the profile was written (import, sign-up, the SME's page) and are
    copied as stored. The lists come as JSON text (CAST, on SQLite and PostgreSQL alike), hashable as they are."""
    cols = [getattr(Profile, c) for c in (*_IDENTITY, *_CONTENT)]
    stmt = (select_columns(*[cast(c, Text) if c.key in _LISTS else c for c in cols])
            .where(Profile.enabled == True, Profile.unsubscribed_at == None).order_by(Profile.id))  # noqa: E711,E712
    conn = session.connection()
    sql = str(stmt.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))  # no values to bind
    decoded: dict[str, list] = {}

    def as_list(v: Any) -> Any:
        if not isinstance(v, str):
            return list(v)
        if v not in decoded:
            decoded[v] = json.loads(v)
        return decoded[v]

    names = (*_IDENTITY, *_CONTENT)
    list_at = [k for k, n in enumerate(names) if n in _LISTS]
    wanted = set(profile_ids) if profile_ids is not None else None
    checked: dict[tuple, tuple | str] = {}  # content -> the validated spec's (fields, fields set), or why it fails
    at, first = names.index("cadence"), len(_IDENTITY)
    new = ProfileSpec.__new__
    specs, errors, elsewhere = [], [], []
    cursor = conn.connection.cursor()  # the DBAPI cursor: plain tuples, no per-value result processing
    try:
        cursor.execute(sql)
        rows = cursor.fetchall()
    finally:
        cursor.close()
    set_dict, set_fields, set_extra, set_private = (
        vars(BaseModel)[k].__set__ for k in ("__dict__", "__pydantic_fields_set__", "__pydantic_extra__",
                                             "__pydantic_private__"))
    for row in rows:
        pid = row[0]
        if wanted is not None and pid not in wanted:
            continue
        if cadence is not None and (row[at] or "weekly") != cadence:
            elsewhere.append((pid, row[at]))
            continue
        content = row[first:]
        done = checked.get(content)
        if done is None:
            values = dict(zip(names, row)) | _PLACEHOLDER  # only the content is judged here, not this SME's identity
            for k in list_at:
                if names[k] in _CONTENT:
                    values[names[k]] = as_list(row[k])
            try:
                spec = ProfileSpec.model_validate(values)
                done = checked[content] = (dict(spec.__dict__), frozenset(spec.__pydantic_fields_set__))
            except ValidationError as e:
                why = e.errors()[0]
                done = checked[content] = f"{'.'.join(map(str, why['loc']))}: {str(why['msg']).removeprefix('Value error, ')}"
        if done.__class__ is str:
            errors.append((pid, done))
            continue
        # a shallow copy of the validated spec with this SME's identity (what model_copy(update=...) makes,
        # without its per-call cost): the content's values are shared, never changed in place
        fields, fields_set = done
        values = fields.copy()
        values["id"], values["name"], values["email"] = pid, row[1], row[2]
        extra = row[3]
        values["extra_emails"] = decoded[extra] if extra in decoded else as_list(extra)
        spec = new(ProfileSpec)
        set_dict(spec, values)
        set_fields(spec, set(fields_set))
        set_extra(spec, None)
        set_private(spec, None)
        specs.append(spec)
    return specs, errors, elsewhere
