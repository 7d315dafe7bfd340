"""The matcher's words and stems (match/terms.py) are what the plain definition gives: `[a-z0-9]+` runs of the
lower-cased text, stop words dropped, each Snowball-stemmed; remembered stems never change a result."""
from __future__ import annotations

import random
import re

import Stemmer
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from matcher.match import terms

_STEMMER = Stemmer.Stemmer("english")


def _plain_words(text):
    return re.findall(r"[a-z0-9]+", text.lower())


def _plain_stems(text):
    return [_STEMMER.stemWord(w) for w in _plain_words(text) if w not in ENGLISH_STOP_WORDS]


def test_words_and_stems_are_the_plain_definitions_on_awkward_text():
    texts = ["Grass-cutting & Tree Surgery (Lot 2): £50,000–£80,000", "ÉCOLE café naïve", "KELVIN \u212a OK",
             "İstanbul ıi ſtatement", "tabs\tand\nlines\u2028and\u00a0spaces", "", "   ", "the and of", "x\x00y",
             "lone \udc80 surrogate", "CleanING cleaners cleaned"]
    rnd = random.Random(3)
    alphabet = "aZ09 -'\n\tİıſ\u212aΣσςé£–’\u00a0x\x00"
    texts += ["".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 40))) for _ in range(3000)]
    for text in texts:
        assert terms.words(text) == _plain_words(text), repr(text)
        assert terms.stems(text) == _plain_stems(text), repr(text)


def test_every_character_separates_or_joins_words_as_the_plain_definition():
    for c in range(0, 0x110000, 7):
        text = f"ab{chr(c)}cd{chr(c)}"
        assert terms.words(text) == _plain_words(text), hex(c)


def test_stems_stay_right_when_the_remembered_words_start_again(monkeypatch):
    monkeypatch.setattr(terms, "_STEMS_KEPT", len(ENGLISH_STOP_WORDS) + 5)
    first = "cleaning windows offices gardens trees hedges"
    assert terms.stems(first) == _plain_stems(first)  # more new words than are kept: the dict starts again
    again = "cleaning the hedges and trees, gardening"
    assert terms.stems(again) == _plain_stems(again)
    assert terms.stems(first) == _plain_stems(first)
    assert len(terms._stem_of) <= len(ENGLISH_STOP_WORDS) + 7
