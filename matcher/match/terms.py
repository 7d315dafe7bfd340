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
# bytes of the lower-cased text: ASCII letters and digits kept, every other byte a space (a non-ASCII character is
# one '?' after encode(errors="replace"), so a separator): split() then yields what _WORD.findall does, in C
_ONLY_WORDS = bytes(c if (48 <= c <= 57 or 97 <= c <= 122) else 32 for c in range(256))
_STEMS_KEPT = 500_000  # words whose stem is remembered (the dict starts again past this)
_stem_of: dict[str, str | None] = dict.fromkeys(ENGLISH_STOP_WORDS)  # word -> its stem; None for a stop word


@lru_cache(maxsize=200_000)
def _stem(word: str) -> str:
    return _stemmer.stemWord(word)


def words(text: str) -> list[str]:
    """Lower-case words and numbers, stop words kept (for showing terms): _WORD.findall(text.lower()), faster."""
    return text.lower().encode("ascii", "replace").translate(_ONLY_WORDS).decode("ascii").split()


def _learn(ws: list[str]) -> dict[str, str | None]:
    """The stem of each of `ws` (None for a stop word), made here and remembered for the next texts."""
    distinct = list(dict.fromkeys(ws))
    content = [w for w in distinct if w not in ENGLISH_STOP_WORDS]
    known: dict[str, str | None] = dict.fromkeys(distinct)
    known.update(zip(content, _stemmer.stemWords(content)))
    if len(_stem_of) + len(known) > _STEMS_KEPT:
        _stem_of.clear()
        _stem_of.update(dict.fromkeys(ENGLISH_STOP_WORDS))
    _stem_of.update(known)
    return known


def stems(text: str) -> list[str]:
    """Stemmed content words, in order. Each distinct word is stemmed once per process (a dict look-up after)."""
    ws = words(text)
    try:
        return [s for s in map(_stem_of.__getitem__, ws) if s is not None]
    except KeyError:  # words not seen before: stem them all at once
        known = _learn(ws)
        return [s for s in map(known.__getitem__, ws) if s is not None]


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


@lru_cache(maxsize=8192)
def _quote_index(text: str) -> tuple[tuple[tuple[int, int], ...], tuple[str, ...], dict[str, tuple[int, ...]]]:
    """A text tokenised once for quoting: each content word's span, its stem, and where each stem occurs."""
    spans, seq, where = [], [], {}
    for m in _WORD_ANY_CASE.finditer(text):
        if (w := m.group().lower()) in ENGLISH_STOP_WORDS:
            continue
        where.setdefault(stem := _stem(w), []).append(len(seq))
        spans.append((m.start(), m.end()))
        seq.append(stem)
    return tuple(spans), tuple(seq), {k: tuple(v) for k, v in where.items()}


def quote(text: str, stem_seq: tuple[str, ...]) -> str | None:
    """The first piece of `text`, verbatim, whose content words stem to `stem_seq` (as a phrase is matched:
    stop words and punctuation in between are skipped), or None when the text has no such piece.
    Each text is tokenised once however many phrases are looked up in it."""
    if not stem_seq:
        return None
    stem_seq = tuple(stem_seq)
    spans, seq, where = _quote_index(text)
    n = len(stem_seq)
    for i in where.get(stem_seq[0], ()):
        if seq[i : i + n] == stem_seq:
            return text[spans[i][0] : spans[i + n - 1][1]]
    return None
