"""The texts the matcher reads from notices and profiles: one definition, used by the job and by eval.

Notice text is already cleaned by matcher.text at the source, so every sentence quoted from it here
is a verbatim piece of the notice.
"""
from __future__ import annotations

import re
from functools import lru_cache

from matcher.schema import NoticeRecord, ProfileSpec
from matcher.text import sentences

_CLAUSE = re.compile(r"[.;:!?()\n]+|,\s+|\s+(?:including|such as|as well as)\s+")
_LEAD = re.compile(r"^(?:and|or|also|plus)\s+", re.IGNORECASE)
_MIN_PHRASE_CHARS = 4


def notice_body(n: NoticeRecord) -> str:
    """The description, or for a notice without one the first further section (e.g. its lots)."""
    if n.description.strip():
        return n.description
    return next((t for t in n.sections.values() if t.strip()), "")


def dense_text(n: NoticeRecord) -> str:
    """What the embedding model reads: the title and the body (the model truncates at 256 tokens)."""
    body = notice_body(n)
    return f"{n.title}\n{body}" if body else n.title


def full_text(n: NoticeRecord) -> str:
    """Everything a reader can see: title, description and every further section."""
    return "\n".join([n.title, n.description, *n.sections.values()])


def without_buyer(text: str, buyer: str | None) -> str:
    """`text` with every mention of the buyer's name blanked: who buys says nothing about what is bought
    ("Department for Digital, Culture, Media & Sport" is no sports contract)."""
    name = " ".join((buyer or "").split())
    if len(name) < 4:
        return text
    pattern = r"\s+".join(re.escape(w) for w in name.split())
    return re.sub(pattern, " ", text, flags=re.IGNORECASE)


@lru_cache(maxsize=4096)
def _name_heads_at_end(buyer: str | None) -> re.Pattern | None:
    """The buyer's name cut short (its first 1 .. n-1 words, as without_buyer spells them) at the end of a text."""
    words = " ".join((buyer or "").split()).split()
    if len(" ".join(words)) < 4 or len(words) < 2:
        return None
    heads = [r"\s+".join(re.escape(w) for w in words[:k]) for k in range(1, len(words))]
    return re.compile(r"(?:" + "|".join(heads) + r")\s*\Z", re.IGNORECASE)


def buyer_runs_on(text: str, buyer: str | None) -> bool:
    """Whether a mention of the buyer's name could start in `text` and run on into what is joined after it (by a
    line break): then blanking the name in the joined text is not blanking it in each part. False whenever `text`
    does not end with the first words of the name (a name of one word can never run on)."""
    heads = _name_heads_at_end(buyer)
    return heads is not None and heads.search(text) is not None


def matching_text(n: NoticeRecord) -> str:
    """What keywords and excluded words are looked for in: the full text without the buyer's name."""
    return without_buyer(full_text(n), n.buyer)


def lexical_text(n: NoticeRecord, title_weight: int = 1) -> str:
    """The text TF-IDF reads: the title counted `title_weight` times, then everything else (buyer's name left out)."""
    return without_buyer("\n".join([n.title] * title_weight + [n.description, *n.sections.values()]), n.buyer)


def profile_query(p: ProfileSpec) -> str:
    """The profile as one query: its capabilities in its own words, then its keywords."""
    return f"{p.capabilities} {', '.join(p.keywords)}".strip()


def capability_phrases(p: ProfileSpec) -> list[str]:
    """Short phrases of the capability text ("grass cutting", "tree surgery and stump grinding"...)."""
    return list(_phrases_of_text(p.capabilities))


@lru_cache(maxsize=100_000)  # SMEs that share a text split it once
def _phrases_of_text(capabilities: str) -> tuple[str, ...]:
    out: list[str] = []
    for part in _CLAUSE.split(capabilities):
        phrase = _LEAD.sub("", part.strip(" -–—'\""))
        if len(phrase) >= _MIN_PHRASE_CHARS and phrase.lower() not in (o.lower() for o in out):
            out.append(phrase)
    return tuple(out)


_WHOLE_END = re.compile(r"[.!?][\"'\u201d\u2019)\]]*$")
_STARTS_WELL = re.compile(r"^[\"'\u201c\u2018(]?[A-Z0-9\u00c0-\u00de]")


def _plain_words(text: str) -> str:
    """The text's words, lower-cased, single-spaced: for "is this the same words as the title"."""
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


def _lines(text: str) -> list[tuple[str, bool]]:
    """(sentence, whole) pieces of a field: whole when it ends a sentence (. ! ?) and starts like one."""
    out = []
    for s in sentences(text):
        out.append((s, bool(_WHOLE_END.search(s) and _STARTS_WELL.match(s))))
    return out


def evidence_candidates(n: NoticeRecord, max_chars: int = 300) -> list[str]:
    """Whole sentences that may be quoted as evidence, in reading order, each verbatim from the notice.

    Never the title, nor a sentence that only repeats it, nor a piece longer than `max_chars` (a sentence is
    never cut). Sentences that end as sentences do come first; only when a notice has none are its whole lines
    used (a field's last line without end punctuation is left out: portals cut long descriptions mid-word).
    """
    title = _plain_words(n.title)
    whole: list[str] = []
    lines: list[str] = []
    for text in (n.description, *n.sections.values()):
        pieces = _lines(text)
        for i, (s, is_whole) in enumerate(pieces):
            words = _plain_words(s)
            if len(s) > max_chars or not words or f" {words} " in f" {title} ":
                continue
            if is_whole:
                if s not in whole:
                    whole.append(s)
            elif i < len(pieces) - 1 and len(words.split()) >= 5 and s not in lines:
                lines.append(s)
    return whole or lines
