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
# (pattern, the reason shown, what every match of it holds: one of these groups of words, each word of the group,
# the rarest first). A notice's whole text is long (1,000 of them are 2 MB) and most hold no such group, so a pattern
# runs only on a text whose lower-cased form holds one: plain substring searches, far cheaper than seven case-blind
# regexes over every text
_TEXT = (
    (re.compile(r"\bSBRI\b|small\s+business\s+research\s+initiative", re.I), "an SBRI competition",
     (("sbri",), ("initiative", "research", "small", "business"))),
    (re.compile(r"\bciv\s?tech\b", re.I), "a CivTech challenge", (("civ", "tech"),)),
    (re.compile(r"\bGovTech\s+Catalyst\b", re.I), "a GovTech Catalyst challenge", (("govtech", "catalyst"),)),
    (re.compile(r"pre-?\s?commercial\s+procurement", re.I), "pre-commercial procurement",
     (("commercial", "procurement", "pre"),)),
    (re.compile(r"\binnovation\s+partnership\b", re.I), "an innovation partnership", (("innovation", "partnership"),)),
    (re.compile(r"\b(?:problem|challenge)\s+statements?\b", re.I), "it sets out a problem statement",
     (("statement", "problem"), ("statement", "challenge"))),
    (re.compile(r"\binnovation\s+(?:challenge|competition)\b", re.I), "an innovation challenge",
     (("innovation", "challenge"), ("innovation", "competition"))),
)
# the only characters a case-blind ASCII letter matches whose lower() is not that letter (U+0130 "İ" and U+0131 "ı"
# match "i", U+017F "ſ" matches "s"); a text holding one is checked with every pattern
_CASE_BLIND_ONLY = ("\u0130", "\u0131", "\u017f")


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
    lower = None if any(c in text for c in _CASE_BLIND_ONLY) else text.lower()
    for pattern, why, needs in _TEXT:
        if (lower is None or any(all(w in lower for w in group) for group in needs)) and pattern.search(text):
            return why
    return None


def is_challenge(n: NoticeRecord) -> bool:
    return challenge_reason(n) is not None
