"""CPV codes compared through their hierarchy: a code's significant digits name its class, and
a notice code inside a profile's class is a full match; sharing only a shorter prefix is partial."""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

MIN_SHARED_DIGITS = 2  # the first two digits (the division) are the broadest meaningful class


def significant(code: str) -> str:
    """'72000000' -> '72', '90910000' -> '9091': the digits that say which class the code is."""
    digits = code.split("-")[0].strip()[:8]
    head = digits.rstrip("0")
    return head if len(head) >= MIN_SHARED_DIGITS else digits[:MIN_SHARED_DIGITS]


def _shared_prefix(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def code_overlap(profile_code: str, notice_code: str) -> float:
    """1.0 when the notice code lies in the profile code's class; else the share of the profile
    code's significant digits that the two share (0 below the division level)."""
    sig = significant(profile_code)
    shared = _shared_prefix(sig, notice_code[: len(sig)])
    if shared >= len(sig):
        return 1.0
    return shared / len(sig) if shared >= MIN_SHARED_DIGITS else 0.0


def cpv_overlap(profile_codes: Iterable[str], notice_codes: Iterable[str]) -> float | None:
    """Best overlap of any pair; None when either side lists no codes (nothing to compare)."""
    p, n = list(profile_codes), list(notice_codes)
    if not p or not n:
        return None
    return max(code_overlap(a, b) for a in p for b in n)


def overlapping_codes(profile_codes: Iterable[str], notice_codes: Iterable[str], minimum: float = 0.5) -> list[str]:
    """The notice's codes that overlap any profile code at least `minimum`, best first."""
    p = list(profile_codes)
    scored = [(max((code_overlap(a, b) for a in p), default=0.0), b) for b in dict.fromkeys(notice_codes)]
    return [b for s, b in sorted(scored, key=lambda t: -t[0]) if s >= minimum]


def infer_codes(ranked_notice_codes: Iterable[list[str]], top: int, digits: int, max_codes: int, min_votes: int = 2) -> list[str]:
    """CPV groups a profile most likely works in, from the codes of its best text matches (best first):
    the commonest `digits`-digit prefixes among the first `top` notices that list codes, each seen at least
    `min_votes` times, padded back to 8 digits. Ties go to the prefix seen first (from the better match), so
    the answer never depends on the hash seed (a set's order does)."""
    votes: Counter[str] = Counter()
    seen = 0
    for codes in ranked_notice_codes:
        if not codes:
            continue
        votes.update(dict.fromkeys((c[:digits] for c in codes), 1))  # each prefix once per notice, in the notice's order
        seen += 1
        if seen >= top:
            break
    first = {prefix: i for i, prefix in enumerate(votes)}  # a Counter keeps first-insertion order
    ranked = sorted(votes.items(), key=lambda kv: (-kv[1], first[kv[0]]))[:max_codes]
    return [prefix.ljust(8, "0") for prefix, n in ranked if n >= min_votes]


def cpv_labels(raw: Mapping[str, Any]) -> dict[str, str]:
    """Descriptions an OCDS release gives for its CPV codes ({code8: description}); {} when none."""
    tender = raw.get("tender") if isinstance(raw, Mapping) else None
    if not isinstance(tender, Mapping):
        return {}
    found: list[Any] = [tender.get("classification"), *(tender.get("additionalClassifications") or [])]
    for item in tender.get("items") or []:
        if isinstance(item, Mapping):
            found.append(item.get("classification"))
            found.extend(item.get("additionalClassifications") or [])
    labels: dict[str, str] = {}
    for c in found:
        if not isinstance(c, Mapping) or not c.get("description"):
            continue
        code = str(c.get("id") or "").split("-")[0].strip()[:8]
        if code.isdigit() and len(code) == 8:
            labels.setdefault(code, " ".join(str(c["description"]).split()))
    return labels
