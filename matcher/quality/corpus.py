"""Reading an evaluation set: notices (through the sources' own parsers), judgments and profiles.

A notice line with an `ocid` is an OCDS release (ocds.release_to_notice); any other line is a Digital
Marketplace brief (dm_brief.brief_to_notice). Errors name the file and line.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from matcher.schema import NoticeRecord
from matcher.sources.dm_brief import brief_to_notice
from matcher.sources.ocds import OCID_PREFIXES, MalformedRecord, release_to_notice

Qrels = dict[str, dict[str, int]]  # profile id -> notice key -> grade


class EvalDataError(ValueError):
    """An evaluation file that cannot be read; the message names the file and line."""


def _json_lines(path: Path) -> Iterable[tuple[int, dict]]:
    with path.open(encoding="utf-8-sig") as fh:
        for line_no, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                yield line_no, json.loads(line)
            except json.JSONDecodeError as e:
                raise EvalDataError(f"{path}: line {line_no}: not valid JSON: {e.msg}") from None


def record_to_notice(record: dict, fallback_source: str) -> NoticeRecord:
    """One raw portal record to a NoticeRecord, with the parser its source uses."""
    if isinstance(record, dict) and "ocid" in record:
        source = OCID_PREFIXES.get(str(record["ocid"])[:11], fallback_source)
        return release_to_notice(record, source)
    return brief_to_notice(record)


def read_notices(paths: Iterable[Path]) -> list[NoticeRecord]:
    """Every notice in the given JSON-lines files; a later release of the same key replaces an earlier one."""
    by_key: dict[str, NoticeRecord] = {}
    for path in paths:
        path = Path(path)
        if not path.is_file():
            raise EvalDataError(f"{path}: notices file not found")
        for line_no, record in _json_lines(path):
            try:
                notice = record_to_notice(record, path.stem)
            except MalformedRecord as e:
                raise EvalDataError(f"{path}: line {line_no}: {e}") from None
            by_key[notice.key] = notice
    return list(by_key.values())


def read_qrels(path: Path) -> Qrels:
    """{"profile": ..., "notice": ..., "grade": 0|1|2} lines to {profile: {notice: grade}}."""
    path = Path(path)
    if not path.is_file():
        raise EvalDataError(f"{path}: judgments file not found")
    out: Qrels = {}
    for line_no, row in _json_lines(path):
        try:
            profile, notice, grade = str(row["profile"]), str(row["notice"]), int(row["grade"])
        except (KeyError, TypeError, ValueError) as e:
            raise EvalDataError(f"{path}: line {line_no}: expected profile, notice and an integer grade ({e})") from None
        if grade < 0:
            raise EvalDataError(f"{path}: line {line_no}: grade {grade} is below 0")
        out.setdefault(profile, {})[notice] = grade
    return out
