"""A digest's wire bytes, made directly: byte for byte what the email package makes of the same
EmailMessage (matcher.digest.render: _message, then to_bytes), at a fraction of its cost.

A digest has one shape: headers, then multipart/alternative with a text/plain and a text/html part, both
UTF-8 quoted-printable. Building an EmailMessage parses every header into objects and re-encodes the bodies
through several layers, which was most of the time a delivery run spent composing. Here only the assembly is
ours; the parts that carry the rules come from the email package itself:
- each header line is folded by the email package's own header classes and the wire policy (header lines the
  digests of a run share, such as From, Subject and Date, are folded once and kept in a HeaderCache);
- each body is encoded by its own quoted-printable encoder (email.quoprimime.body_encode) at the line length
  the message's policy sets;
- the boundary has the generator's form and is checked against the bodies the same way.
tests/test_digest_wire.py compares the bytes with the email package's on hostile inputs (non-ASCII and quoted
names, several recipients, long URLs and lines, dots and "From " at line starts, CR/LF in the texts).
"""
from __future__ import annotations

import random
import re
import sys
from email import policy as email_policy
from email import quoprimime
from typing import Any

# what the message is built with (EmailMessage()'s policy) and what it is written with (render.WIRE_POLICY)
BUILD_POLICY = email_policy.default
_BOUNDARY_WIDTH = len(repr(sys.maxsize - 1))  # as email.generator.Generator._make_boundary


class HeaderCache:
    """Folded header lines by (name, value), for the values many messages share (one run's From, Subject,
    Date and the constant headers)."""

    def __init__(self, wire_policy: Any, limit: int = 1000) -> None:
        self.policy, self.limit = wire_policy, limit
        self.lines: dict[tuple[str, str], bytes] = {}

    def fold(self, name: str, value: Any, shared: bool = False) -> bytes:
        """One header as it goes on the wire (folded, CRLF-terminated), through the email package's classes;
        a value of a plain form the email package writes as it is (a simple Message-ID, a bracketed URL, one
        recipient with a plain name) is written so directly."""
        plain = _plain(name, value)
        if plain is not None and len(name) + 2 + len(plain) <= MAX_PLAIN_LINE:
            return f"{name}: {plain}\r\n".encode("ascii")
        key = (name, value) if shared and isinstance(value, str) else None
        if key is not None and key in self.lines:
            return self.lines[key]
        _, header = BUILD_POLICY.header_store_parse(name, value)
        line = self.policy.fold_binary(name, header)
        if key is not None and len(self.lines) < self.limit:
            self.lines[key] = line
        return line


MAX_PLAIN_LINE = 900  # well under the wire policy's 998, so the email package would not fold it either
_DOT_ATOM = r"[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*"
_PLAIN = {
    "Message-ID": re.compile(rf"<{_DOT_ATOM}@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*>"),
    "List-Unsubscribe": re.compile(r"<https?://[!-;=>-~]+>"),  # printable ASCII, no '<', no '=?' (see _plain)
}
_PLAIN_ADDRESS = re.compile(rf"{_DOT_ATOM}@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*")
_PLAIN_NAME = re.compile(r"[A-Za-z0-9]+(?: [A-Za-z0-9]+)*")


def _plain(name: str, value: Any) -> str | None:
    """The header's value as the email package would write it, when it is of a form it writes unchanged;
    else None."""
    pattern = _PLAIN.get(name)
    if pattern is not None:
        return value if isinstance(value, str) and pattern.fullmatch(value) and "=?" not in value else None
    if name == "To" and isinstance(value, list) and len(value) == 1:
        address = value[0]
        spec, display = getattr(address, "addr_spec", None), getattr(address, "display_name", None)
        if not (isinstance(spec, str) and _PLAIN_ADDRESS.fullmatch(spec)):
            return None
        if not display:
            return spec
        return f"{display} <{spec}>" if _PLAIN_NAME.fullmatch(display) else None
    return None


# quoprimime.body_encode first quotes every character through a 256-entry table (str.translate with a list:
# a Python-level look-up per character, most of its time), then wraps the lines. The same quoting by one
# regular expression over the characters the table changes, then the email package's own wrapping.
_QUOTED = {chr(c): q for c, q in enumerate(quoprimime._QUOPRI_BODY_ENCODE_MAP) if q != chr(c)}
_NEEDS_QUOTING = re.compile("[" + "".join(re.escape(c) for c in _QUOTED) + "]")


class _Quoted(str):
    """A body whose translate() (the quoting step of quoprimime.body_encode) is already done."""

    quoted: str

    def translate(self, table: Any) -> str:  # noqa: ARG002 - the table is the one the quoting was made from
        return self.quoted


def quote_body(body: str, maxlinelen: int) -> str:
    """quoprimime.body_encode(body, maxlinelen), the same text, with the per-character quoting done faster."""
    text = _Quoted(body)
    text.quoted = _NEEDS_QUOTING.sub(lambda m: _QUOTED[m[0]], body)
    return quoprimime.body_encode(text, maxlinelen)


def _qp(text: str) -> bytes:
    """The body as EmailMessage.set_content(text, cte="quoted-printable") stores it (contentmanager's
    _encode_text), with the generator's CRLF line ends."""
    lines = text.encode("utf-8").splitlines()
    body = quote_body((b"\n".join(lines) + b"\n").decode("latin-1"), BUILD_POLICY.max_line_length)
    return body.replace("\n", "\r\n").encode("ascii")


def _boundary(bodies: list[bytes]) -> str:
    """The generator's boundary: 15 '=', a random 19-digit number, '=='; made longer while a body has a line
    that would read as it."""
    token = random.randrange(sys.maxsize)
    boundary = ("=" * 15) + (f"%0{_BOUNDARY_WIDTH}d" % token) + "=="
    marker = ("--" + boundary).encode("ascii")
    if not any(marker in body for body in bodies):  # no line can read as it: the generator's check passes
        return boundary
    text = b"\r\n".join(bodies).decode("ascii")
    b, counter = boundary, 0
    while re.search("^--" + re.escape(b) + "(--)?$", text, flags=re.MULTILINE):
        b = boundary + "." + str(counter)
        counter += 1
    return b


_PLACEHOLDER = "=" * 15 + "0" * _BOUNDARY_WIDTH + "=="
_TEXT_HEAD = b'Content-Type: text/plain; charset="utf-8"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n'
_HTML_HEAD = (b'Content-Type: text/html; charset="utf-8"\r\nContent-Transfer-Encoding: quoted-printable\r\n'
              b"MIME-Version: 1.0\r\n\r\n")


def digest_bytes(header_lines: list[bytes], text: str, html: str, cache: HeaderCache) -> bytes:
    """The whole message: the given (folded) header lines, then the two alternatives."""
    bodies = [_qp(text), _qp(html)]
    boundary = _boundary(bodies)
    if len(boundary) == len(_PLACEHOLDER):  # the usual case: the same line as the placeholder's, the number put in
        content_type = cache.fold("Content-Type", f'multipart/alternative; boundary="{_PLACEHOLDER}"', shared=True)
        content_type = content_type.replace(_PLACEHOLDER.encode("ascii"), boundary.encode("ascii"))
    else:
        content_type = cache.fold("Content-Type", f'multipart/alternative; boundary="{boundary}"')
    sep = b"--" + boundary.encode("ascii")
    return b"".join([
        *header_lines, cache.fold("MIME-Version", "1.0", shared=True), content_type, b"\r\n",
        sep, b"\r\n", _TEXT_HEAD, bodies[0],
        b"\r\n", sep, b"\r\n", _HTML_HEAD, bodies[1],
        b"\r\n", sep, b"--\r\n",
    ])
