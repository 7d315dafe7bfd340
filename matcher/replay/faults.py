"""Fault injection for the replay server: what real portals do on a bad day.

A Fault applies to requests whose path starts with `path`: it lets `skip` of them through, then affects
the next `times`. Faults are consumed in list order: a request meets the first one still pending for its
path. Kinds:

  before the answer is built           after (the real body is altered)
  ---------------------------------    ----------------------------------------------------------------
  rate_limit_403  CF's HTML 403 page   truncated         body cut short (Content-Length matches)
  status          `status` (429/5xx)   bad_number        first `json_key` ("amount") number replaced by `literal`
  stall           no answer for        mojibake          body re-encoded: cp1252 / latin-1 bytes, or
                  `seconds`                              "double" (UTF-8 read as cp1252, sent as UTF-8)
  reset           TCP reset            empty_body        200 with no bytes
  html_200        error page, HTTP 200 empty_page        no records (JSON) / no results (HTML)
                                       self_next         links.next (or the HTML Next link) to itself
                                       malformed_record  record `index` broken (title removed)
                                       all_malformed     every record broken, each in its own way

`retry_after` (seconds, or an HTTP date string) is sent as Retry-After with rate_limit_403 and status.
"""
from __future__ import annotations

import copy
import re
import threading
from dataclasses import dataclass, field
from typing import Literal

FaultKind = Literal[
    "rate_limit_403", "status", "stall", "reset", "html_200",
    "truncated", "bad_number", "mojibake", "empty_body", "empty_page", "self_next", "malformed_record", "all_malformed",
]
BEFORE = {"rate_limit_403", "status", "stall", "reset", "html_200"}
JSON_OBJECT = {"empty_page", "self_next", "malformed_record", "all_malformed"}

CF_RATE_LIMIT_PAGE = """<!DOCTYPE html>
<html lang="en"><head><title>Forbidden - Contracts Finder</title></head>
<body><h1>Request forbidden</h1>
<p>The request rate limit may have been exceeded. When the user has submitted too many requests,
no further requests should be made until after 5 minutes.</p></body></html>
"""
ERROR_PAGE_200 = """<!DOCTYPE html>
<html lang="en"><head><title>Sorry, there is a problem with the service - GOV.UK</title></head>
<body><main id="main-content"><h1 class="govuk-heading-l">Sorry, there is a problem with the service</h1>
<p class="govuk-body">Try again later.</p></main></body></html>
"""


@dataclass
class Fault:
    kind: FaultKind
    path: str = "/"
    times: int = 1
    skip: int = 0
    status: int = 503
    retry_after: str | float | None = None
    seconds: float = 5.0
    literal: str = "1e9999"
    json_key: str = "amount"
    encoding: str = "cp1252"
    index: int = 0
    fired: int = field(default=0, compare=False)

    @classmethod
    def parse(cls, spec: str) -> "Fault":
        """'kind[:key=value,...][@/path]', e.g. 'status:status=429,retry_after=2@/Published'."""
        spec, _, path = spec.partition("@")
        kind, _, opts = spec.partition(":")
        kwargs: dict = {"path": path or "/"}
        for opt in filter(None, opts.split(",")):
            key, _, value = opt.partition("=")
            if key not in cls.__dataclass_fields__ or key in ("kind", "fired"):
                raise ValueError(f"fault {spec!r}: unknown option {key!r}")
            kind_of = type(getattr(cls, key, "")) if key != "retry_after" else str
            kwargs[key] = int(value) if kind_of is int else float(value) if kind_of is float else value
        if kind not in FaultKind.__args__:  # type: ignore[attr-defined]
            raise ValueError(f"fault {spec!r}: unknown kind {kind!r}; kinds: {', '.join(FaultKind.__args__)}")  # type: ignore[attr-defined]
        return cls(kind=kind, **kwargs)  # type: ignore[arg-type]


class FaultQueue:
    """Thread-safe: the server's handler threads take faults from it."""

    def __init__(self, faults: list[Fault] | None = None):
        self._lock = threading.Lock()
        self._faults: list[Fault] = list(faults or [])

    def add(self, *faults: Fault) -> None:
        with self._lock:
            self._faults.extend(faults)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def pending(self) -> list[Fault]:
        with self._lock:
            return [f for f in self._faults if f.fired < f.times]

    def take(self, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.fired >= fault.times or not path.startswith(fault.path):
                    continue
                if fault.skip > 0:
                    fault.skip -= 1
                    return None
                fault.fired += 1
                return fault
        return None


# -- alterations of a real answer ------------------------------------------------------------------
def _break(release: dict, how: int) -> dict:
    broken = copy.deepcopy(release)
    way = how % 4
    if way == 0:
        tender = broken.get("tender") if isinstance(broken.get("tender"), dict) else {}
        tender.pop("title", None)
        if isinstance(broken.get("planning"), dict):
            broken["planning"].pop("title", None)
    elif way == 1:
        broken.pop("ocid", None)
    elif way == 2:
        broken["date"] = "23/01/2025 14:59"
    else:
        broken["tender"] = "see attached"
    return broken


def alter_package(fault: Fault, package: dict, request_url: str) -> dict:
    package = dict(package)
    releases = list(package.get("releases") or [])
    if fault.kind == "empty_page":
        package["releases"], package["links"] = [], {}
    elif fault.kind == "self_next":
        package["links"] = {"next": request_url}
    elif fault.kind == "malformed_record" and releases:
        i = min(fault.index, len(releases) - 1)
        releases[i] = _break(releases[i], 0)
        package["releases"] = releases
    elif fault.kind == "all_malformed":
        package["releases"] = [_break(r, i) for i, r in enumerate(releases)]
    return package


def alter_html(fault: Fault, html: str, request_path: str) -> str:
    if fault.kind == "empty_page":
        html = re.sub(r'href="/digital-outcomes-and-specialists/opportunities/\d+"', 'href="#"', html)
    elif fault.kind == "self_next":
        link = f'<ul class="previous-next-navigation"><li class="next"><a href="{request_path}">Next</a></li></ul>'
        html = html.replace("</main>", link + "</main>", 1)
    elif fault.kind in ("malformed_record", "all_malformed"):
        html = re.sub(r"<h1\b.*?</h1>", "", html, count=1, flags=re.S)
    return html


def alter_bytes(fault: Fault, body: bytes) -> bytes:
    if fault.kind == "truncated":
        return body[: max(1, len(body) // 2)]
    if fault.kind == "empty_body":
        return b""
    if fault.kind == "bad_number":
        text = body.decode("utf-8")
        number = r'("' + re.escape(fault.json_key) + r'"\s*:\s*)-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?'
        altered = re.sub(number, lambda m: m.group(1) + fault.literal, text, count=1)
        return altered.encode("utf-8")
    if fault.kind == "mojibake":
        text = body.decode("utf-8")
        if fault.encoding == "double":
            return text.encode("utf-8").decode("cp1252", errors="replace").encode("utf-8")
        return text.encode(fault.encoding, errors="replace")
    return body
