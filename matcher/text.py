"""The one place that cleans text: HTML to text, mojibake, lost line breaks ("rn"), whitespace."""
from __future__ import annotations

import re
import warnings

import ftfy
from bs4 import BeautifulSoup, MarkupResemblesLocatorWarning

warnings.filterwarnings("ignore", category=MarkupResemblesLocatorWarning)

_TAG_HINT = re.compile(r"<\s*/?\s*[a-zA-Z][^>]*>|&[a-zA-Z#0-9]+;")
# "rn" (or a lone "r") left where "\r\n" lost its backslashes: "lotsrn Lot 1", "document.rnrnAdditional",
# "information: rnThe", " rPricing". Real words end in a vowel + "rn" (modern, eastern, return, learn), so
# after a vowel it is only a break when an upper-case letter follows at once.
_LOST_BREAK = re.compile(
    r"(?<=[^\sA-Za-z\u00c0-\u024f])(?:rn)+(?=\s|[A-Z0-9\u2022*(]|$)"
    r"|(?<=[A-Z]{2})(?:rn)+(?=\s|[A-Z0-9\u2022*(]|$)"  # after an all-caps word: "PACKAGErnrnA47" ("Urn" is a word)
    r"|(?<=[b-df-hj-np-tv-z])(?:rn)+(?=\s|[A-Z0-9\u2022*(]|$)"
    r"|(?<=[aeiou])(?:rn)+(?=[A-Z\u2022(])"
    r"|(?<=\s)(?:rn)+(?=\S)|(?<=\s)r(?=[A-Z][a-z])|(?<=\s)rn(?=\s)"
    r"|(?<=[.:;!?])(?:rn)+(?=[a-z])|(?<=[b-df-hj-np-tv-z])(?:rn){2,}"  # "portal:rnrnhttps", "andrnrnii."
)
_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200b\u202f]+")
_BLANKS = re.compile(r"\n{3,}")


def html_to_text(value: str) -> str:
    """Strip tags, keeping block boundaries as line breaks. Plain text passes through unchanged."""
    if not _TAG_HINT.search(value):
        return value
    soup = BeautifulSoup(value, "lxml")
    for bad in soup(["script", "style"]):
        bad.decompose()
    for br in soup.find_all("br"):
        br.replace_with("\n")
    for block in soup.find_all(["p", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6"]):
        block.insert_after("\n")
    return soup.get_text()


def clean_text(value: str | None) -> str:
    """Make a portal's text fit to show and to embed."""
    if not value:
        return ""
    text = ftfy.fix_text(str(value), normalization="NFC")
    text = html_to_text(text)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _LOST_BREAK.sub("\n", text)
    text = _SPACES.sub(" ", text)
    text = "\n".join(line.strip() for line in text.split("\n"))
    return _BLANKS.sub("\n\n", text).strip()


def one_line(value: str | None) -> str:
    """Cleaned text on a single line (titles, buyer names)."""
    return " ".join(clean_text(value).split())


_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])|\n+")


def sentences(text: str) -> list[str]:
    """Split cleaned text into sentences or lines, dropping fragments too short to quote."""
    return [s.strip() for s in _SENTENCE.split(text) if len(s.strip()) >= 12]
