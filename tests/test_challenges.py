"""Challenge notices (match/challenge.py) are found as the plain rule finds them: the method patterns on the
procurement method, then each text pattern in order over title, description and sections, case-blind. The quick
word checks that let most notices skip the regexes never change a reason, also for the few characters a case-blind
regex matches to an ASCII letter although their lower() is another character (İ, ı, ſ)."""
from __future__ import annotations

import random
from pathlib import Path

from matcher.match import challenge
from matcher.match.challenge import challenge_reason, challenge_reason_of
from matcher.quality.corpus import read_notices

DATA = Path(__file__).resolve().parent / "data" / "eval"


def _plain(title, description, sections, method):
    for pattern, why in challenge._METHOD:
        if pattern.search(method or ""):
            return why
    text = "\n".join([title or "", description or "", *(sections or {}).values()])
    for pattern, why, _ in challenge._TEXT:
        if pattern.search(text):
            return why
    return None


PHRASES = ["SBRI", "sbri competition", "Small Business Research Initiative", "small  business\nresearch\tinitiative",
           "CivTech", "civ tech", "Civ Tech 9", "GovTech Catalyst", "govtech   catalyst", "pre-commercial procurement",
           "Precommercial Procurement", "pre- commercial procurement", "pre commercial procurement",
           "Innovation Partnership", "innovation\npartnership", "problem statement", "Challenge Statements",
           "innovation challenge", "Innovation Competition", "ſBRI", "ſmall buſineſs reſearch initiative",
           "İnnovation partnerſhip", "ınnovatıon competıtıon", "problem ſtatement", "CİVTECH", "GOVTECH CATALYST"]
NEAR_MISSES = ["SBRIs", "small business", "research initiative", "civic technology", "GovTech", "catalyst",
               "commercial procurement", "pre-commercial", "partnership working", "innovation", "method statement",
               "problem solving", "statement of requirements", "challenges", "competition law", "civtechs"]


def test_each_phrase_gives_the_reason_the_plain_rule_gives_and_near_misses_none():
    for phrase in PHRASES:
        for text in (phrase, f"We seek ({phrase}) now.", f"x{phrase}", f"{phrase.upper()}!", phrase.lower()):
            got = challenge_reason_of(text, None, None, None)
            assert got == _plain(text, None, None, None), text
        assert challenge_reason_of("Title", f"Lot 1. {phrase}.", None, None) is not None, phrase
    for text in NEAR_MISSES:
        assert challenge_reason_of("Title", text, {"lots": text}, None) is None, text


def test_order_and_fields_are_kept_in_random_mixtures_of_phrases():
    rnd = random.Random(5)
    filler = ["the council", "statement", "innovation", "small", "İ", "ı", "ſ", "procurement", "tech", "\n", "-"]
    for _ in range(3000):
        parts = [rnd.choice(PHRASES + NEAR_MISSES + filler) for _ in range(rnd.randint(1, 6))]
        title, description = " ".join(parts[:2]), " ".join(parts[2:4])
        sections = {"lots": " ".join(parts[4:])} if rnd.random() < 0.5 else {}
        method = rnd.choice([None, "", "open", "Innovation partnership", "pre-commercial"])
        assert challenge_reason_of(title, description, sections, method) == _plain(title, description, sections, method)


def test_real_notices_get_the_plain_rules_reasons():
    notices = read_notices(sorted((DATA / "notices").glob("*.jsonl")))
    reasons = [challenge_reason(n) for n in notices]
    assert reasons == [_plain(n.title, n.description, n.sections, n.procurement_method) for n in notices]
    assert any(reasons) and not all(reasons)
