"""Words as the matcher compares them: lower-case, stop words dropped, Snowball-stemmed (PyStemmer).

Keyword, exclusion and TF-IDF matching all use these tokens, so "cleaning" finds "cleaners" and
"user-centred design" finds "user centred design".
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import Stemmer
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

_WORD = re.compile(r"[a-z0-9]+")
_WORD_ANY_CASE = re.compile(r"[A-Za-z0-9]+")
_stemmer = Stemmer.Stemmer("english")


@lru_cache(maxsize=200_000)
def _stem(word: str) -> str:
    return _stemmer.stemWord(word)


def words(text: str) -> list[str]:
    """Lower-case words and numbers, stop words kept (for showing terms)."""
    return _WORD.findall(text.lower())


def stems(text: str) -> list[str]:
    """Stemmed content words, in order."""
    return [_stem(w) for w in words(text) if w not in ENGLISH_STOP_WORDS]


@dataclass(frozen=True)
class TermText:
    """A text's stems, ready for phrase look-ups."""

    joined: str  # " a b c " with a space either side, so phrase tests are whole-word
    vocabulary: frozenset[str]

    @classmethod
    def of(cls, text: str) -> "TermText":
        toks = stems(text)
        return cls(" " + " ".join(toks) + " ", frozenset(toks))

    def has_phrase(self, phrase: "Phrase") -> bool:
        if not phrase.stems or not phrase.stem_set <= self.vocabulary:
            return False
        return len(phrase.stems) == 1 or phrase.joined in self.joined


@dataclass(frozen=True)
class Phrase:
    """A profile keyword or excluded word, as written and as stems."""

    text: str
    stems: tuple[str, ...]

    @classmethod
    def of(cls, text: str) -> "Phrase":
        return cls(text.strip(), tuple(stems(text)))

    @property
    def stem_set(self) -> frozenset[str]:
        return frozenset(self.stems)

    @property
    def joined(self) -> str:
        return " " + " ".join(self.stems) + " "


def phrases(texts: list[str]) -> list[Phrase]:
    """Usable phrases only: one made of stop words alone ("IT") can never match and is dropped."""
    return [p for p in (Phrase.of(t) for t in texts) if p.stems]


def found(phrase_list: list[Phrase], text: TermText) -> list[Phrase]:
    return [p for p in phrase_list if text.has_phrase(p)]


def quote(text: str, stem_seq: tuple[str, ...]) -> str | None:
    """The first piece of `text`, verbatim, whose content words stem to `stem_seq` (as a phrase is matched:
    stop words and punctuation in between are skipped), or None when the text has no such piece."""
    if not stem_seq:
        return None
    toks = [(m.start(), m.end(), w) for m in _WORD_ANY_CASE.finditer(text) if (w := m.group().lower()) not in ENGLISH_STOP_WORDS]
    n = len(stem_seq)
    for i in range(len(toks) - n + 1):
        if all(_stem(toks[i + k][2]) == stem_seq[k] for k in range(n)):
            return text[toks[i][0] : toks[i + n - 1][1]]
    return None
