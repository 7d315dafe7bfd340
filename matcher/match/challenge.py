"""Challenges: notices that pose a problem rather than a specification.

Innovation partnerships, SBRI (Small Business Research Initiative) competitions, CivTech-style challenges,
pre-commercial procurement, and notices that set out a "problem statement" or "challenge statement". The
procurement method is read first (it is the buyer's own classification), then the notice's words. Pure.
"""
from __future__ import annotations

import re
from collections.abc import Mapping

from matcher.schema import NoticeRecord

# (what the notice says, the reason shown), checked in this order; the method patterns see only the method
_METHOD = (
    (re.compile(r"innovation\s+partnership", re.I), "procured as an innovation partnership"),
    (re.compile(r"pre-?\s?commercial", re.I), "pre-commercial procurement"),
)
_TEXT = (
    (re.compile(r"\bSBRI\b|small\s+business\s+research\s+initiative", re.I), "an SBRI competition"),
    (re.compile(r"\bciv\s?tech\b", re.I), "a CivTech challenge"),
    (re.compile(r"\bGovTech\s+Catalyst\b", re.I), "a GovTech Catalyst challenge"),
    (re.compile(r"pre-?\s?commercial\s+procurement", re.I), "pre-commercial procurement"),
    (re.compile(r"\binnovation\s+partnership\b", re.I), "an innovation partnership"),
    (re.compile(r"\b(?:problem|challenge)\s+statements?\b", re.I), "it sets out a problem statement"),
    (re.compile(r"\binnovation\s+(?:challenge|competition)\b", re.I), "an innovation challenge"),
)


def challenge_reason(n: NoticeRecord) -> str | None:
    """Why the notice is a challenge ("an SBRI competition", ...), or None when it is an ordinary one."""
    return challenge_reason_of(n.title, n.description, n.sections, n.procurement_method)


def challenge_reason_of(title: str, description: str | None, sections: Mapping[str, str] | None,
                        procurement_method: str | None) -> str | None:
    """challenge_reason for a notice given by its fields (a stored row, say)."""
    method = procurement_method or ""
    for pattern, why in _METHOD:
        if pattern.search(method):
            return why
    text = "\n".join([title or "", description or "", *(sections or {}).values()])
    for pattern, why in _TEXT:
        if pattern.search(text):
            return why
    return None


def is_challenge(n: NoticeRecord) -> bool:
    return challenge_reason(n) is not None
