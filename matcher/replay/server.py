"""The loopback replay server: the bundled recordings in the portals' real shapes, with injectable faults.

Routes (one server answers for every source; their paths do not overlap):
  GET /Published/Notices/OCDS/Search                         Contracts Finder search (cf_search)
  GET /digital-outcomes-and-specialists/opportunities        DM listing recorded on `dm_day`
  GET /digital-outcomes-and-specialists/opportunities/<id>   DM opportunity page (that day's, else latest)
  GET /api/1.0/ocdsReleasePackages                           Find a Tender release packages (fts_search)
  GET /api/1.0/ocdsReleasePackages/<noticeId>                one Find a Tender notice by id (200, empty, 404)
  GET /pcs/v1/Notices, /s2w/v1/Notices                       Public Contracts Scotland, Sell2Wales
                                                             (proactis_notices; base_url adds the prefix)
  GET /                                                      a short index of the above

The server counts the requests it is answering at once (`max_in_flight`), so tests can prove a client
never has two requests in flight to one host.
"""
from __future__ import annotations

import json
import logging
import socket
import ssl
import struct
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from matcher.replay import cf_search, fts_search, proactis_notices
from matcher.replay.faults import (
    BEFORE, CF_RATE_LIMIT_PAGE, ERROR_PAGE_200, JSON_OBJECT, Fault, FaultQueue, alter_bytes, alter_html, alter_package,
)
from matcher.replay.recordings import Recordings, load

log = logging.getLogger(__name__)

DM_LISTING = "/digital-outcomes-and-specialists/opportunities"
HTML = "text/html; charset=utf-8"
JSON = "application/json; charset=utf-8"
FTS_RATE_LIMIT_TEXT = "12 request limit in 2 minute exceeded"
SERVED_SOURCES = ("contracts_finder", "digital_marketplace", "find_a_tender", "public_contracts_scotland", "sell2wales")


@dataclass
class Hit:
    """One request, logged on arrival; `status` is filled in once answered (0: connection reset)."""

    path: str
    query: str
    fault: str | None
    user_agent: str = ""
    status: int | None = None


class _Handler(BaseHTTPRequestHandler):
    server: "_Server"
    protocol_version = "HTTP/1.0"  # one request per connection: faults hit exactly the request they meant

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        log.debug("replay: " + format, *args)

    def do_GET(self) -> None:  # noqa: N802
        replay = self.server.replay
        split = urlsplit(self.path)
        fault = replay.faults.take(split.path)
        hit = Hit(split.path, split.query, fault.kind if fault else None, self.headers.get("User-Agent", ""))
        replay._count(hit)
        replay._enter()
        try:
            if replay.latency:
                time.sleep(replay.latency)
            if fault is None and split.path.startswith(fts_search.PACKAGES_PATH) and replay._fts_limited():
                hit.status = self._send(429, "text/plain; charset=utf-8", FTS_RATE_LIMIT_TEXT.encode())  # no Retry-After
                return
            hit.status = self._answer(split.path, split.query, fault)
        finally:
            replay._leave()

    # -- answering -----------------------------------------------------------------------------
    def _answer(self, path: str, query: str, fault: Fault | None) -> int:
        if fault is not None and fault.kind in BEFORE:
            return self._before(fault, path, query)
        try:
            status, ctype, body = self._route(path, query, fault)
        except cf_search.BadQuery as e:
            status, ctype, body = 400, JSON, json.dumps({"error": str(e)}).encode()
        if fault is not None and status == 200:
            body = alter_bytes(fault, body)
        return self._send(status, ctype, body)

    def _before(self, fault: Fault, path: str, query: str) -> int:
        headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
        if fault.kind == "rate_limit_403":
            return self._send(403, HTML, CF_RATE_LIMIT_PAGE.encode(), headers)
        if fault.kind == "status":
            return self._send(fault.status, HTML, f"<html><body><h1>HTTP {fault.status}</h1></body></html>".encode(), headers)
        if fault.kind == "html_200":
            return self._send(200, HTML, ERROR_PAGE_200.encode())
        if fault.kind == "reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
            return 0
        # stall: say nothing for `seconds` (the client times out), then answer as normal to nobody
        deadline = time.monotonic() + fault.seconds
        while time.monotonic() < deadline and not self.server.stopping.is_set():
            time.sleep(0.05)
        status, ctype, body = self._route(path, query, None)
        return self._send(status, ctype, body)

    def _route(self, path: str, query: str, fault: Fault | None) -> tuple[int, str, bytes]:
        replay = self.server.replay
        params = {k: v[-1] for k, v in parse_qs(query).items()}
        if path == cf_search.SEARCH_PATH:
            package = cf_search.search(replay.recordings, params, replay.url)
            if fault is not None and fault.kind in JSON_OBJECT:
                package = alter_package(fault, package, f"{replay.url}{self.path}")
            return 200, JSON, json.dumps(package, ensure_ascii=False, separators=(",", ":")).encode()
        if path == fts_search.PACKAGES_PATH:
            package = fts_search.search(replay.fts, params, replay.url)
            if fault is not None and fault.kind in JSON_OBJECT:
                package = alter_package(fault, package, f"{replay.url}{self.path}")
            return 200, JSON, fts_search.body(package)
        if (by_id := fts_search.BY_ID.match(path)) is not None:
            status, package = fts_search.by_id(replay.fts, by_id["id"], replay.url)
            if status == 200 and fault is not None and fault.kind in JSON_OBJECT:
                package = alter_package(fault, package, f"{replay.url}{self.path}")
            return status, JSON, fts_search.body(package)
        if (proactis := proactis_notices.source_of(path)) is not None:
            body = proactis_notices.notices(replay.recordings, proactis, params, replay.url)
            if fault is not None and fault.kind in JSON_OBJECT:
                altered = alter_package(fault, json.loads(body), f"{replay.url}{self.path}")
                body = json.dumps(altered, ensure_ascii=False).encode("utf-8")
            return 200, JSON, body
        if path.rstrip("/") == DM_LISTING:
            return self._dm(replay.listing_file(params), fault)
        if path.startswith(DM_LISTING + "/") and path[len(DM_LISTING) + 1:].strip("/").isdigit():
            return self._dm(replay.opportunity_file(int(path[len(DM_LISTING) + 1:].strip("/"))), fault)
        if path == "/":
            return 200, HTML, replay.index_page().encode()
        return 404, HTML, b"<html><body><h1>Page not found</h1></body></html>"

    def _dm(self, file: str | None, fault: Fault | None) -> tuple[int, str, bytes]:
        if file is None:
            return 404, HTML, b"<html><body><h1>Page not found</h1><p>Not in the bundled recordings.</p></body></html>"
        body = self.server.replay.recordings.read(file)
        if fault is not None and fault.kind in JSON_OBJECT:
            body = alter_html(fault, body.decode("utf-8"), self.path).encode("utf-8")
        return 200, HTML, body

    def _send(self, status: int, ctype: str, body: bytes, headers: dict[str, str] | None = None) -> int:
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a stall outlived its timeout)
        return status


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    replay: "ReplayServer"
    stopping: threading.Event


class ReplayServer:
    """A running replay server. `requests` counts requests per path; `log` lists every request."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, faults: list[Fault] | None = None,
                 dm_day: str | None = None, recordings: Recordings | None = None, latency: float = 0.0,
                 tls: ssl.SSLContext | None = None, fts: fts_search.FtsData | None = None,
                 fts_rate_limit: tuple[int, float] | None = None):
        self.recordings = recordings or load()
        # Find a Tender: the bundled releases unless a data set is given (a constructed busy day, say); and,
        # optionally, the live service's limit: `fts_rate_limit` (requests, seconds), e.g. (12, 120) answers
        # 429 "12 request limit in 2 minute exceeded" without Retry-After once 12 came in 2 minutes
        self.fts = fts or fts_search.FtsData.of(self.recordings)
        self.fts_rate_limit = fts_rate_limit
        self._fts_times: list[float] = []
        days = self.recordings.dm_days
        if dm_day is not None and dm_day not in days:
            raise ValueError(f"dm_day {dm_day!r}: no Digital Marketplace recording that day; recorded: {', '.join(days)}")
        self.dm_day = dm_day or (days[-1] if days else None)
        self.faults = FaultQueue(faults)
        self.requests: Counter[str] = Counter()
        self.log: list[Hit] = []
        self.latency = latency  # seconds each answer waits before it is built (0: none)
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._httpd = _Server((host, port), _Handler)
        self._httpd.replay = self
        self._httpd.stopping = threading.Event()
        if tls is not None:  # HTTPS with the certificates the context holds (tests: an incomplete chain)
            self._httpd.socket = tls.wrap_socket(self._httpd.socket, server_side=True)
        self.host, self.port = self._httpd.server_address[:2]
        self.url = f"{'https' if tls else 'http'}://{self.host}:{self.port}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name=f"replay:{self.port}", daemon=True)
        self._thread.start()

    # -- what tests and the demo use -----------------------------------------------------------------
    def base_url(self, source: str) -> str:
        if source not in SERVED_SOURCES:
            raise ValueError(f"the replay server has no recordings for {source!r}; it serves {', '.join(SERVED_SOURCES)}")
        return self.url + proactis_notices.PREFIXES.get(source, "")

    def add_faults(self, *faults: Fault) -> None:
        self.faults.add(*faults)

    def hits(self, path_prefix: str = "/") -> int:
        with self._lock:
            return sum(n for p, n in self.requests.items() if p.startswith(path_prefix))

    def reset_counts(self) -> None:
        with self._lock:
            self.requests.clear()
            self.log.clear()
            self.max_in_flight = self.in_flight

    def stop(self) -> None:
        self._httpd.stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> "ReplayServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- internals -------------------------------------------------------------------------------------
    def _count(self, hit: Hit) -> None:
        with self._lock:
            self.requests[hit.path] += 1
            self.log.append(hit)

    def _fts_limited(self) -> bool:
        if self.fts_rate_limit is None:
            return False
        allowed, seconds = self.fts_rate_limit
        now = time.monotonic()
        with self._lock:
            self._fts_times = [t for t in self._fts_times if now - t < seconds]
            if len(self._fts_times) >= allowed:
                return True
            self._fts_times.append(now)
            return False

    def _enter(self) -> None:
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def _leave(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def listing_file(self, params: dict[str, str]) -> str | None:
        if params.get("page", "1") != "1":
            return None  # later listing pages were not recorded
        for entry in self.recordings.dm_listings:
            if entry.day == self.dm_day and entry.status == params.get("statusOpenClosed") and entry.lot == params.get("lot"):
                return entry.file
        return None

    def opportunity_file(self, brief_id: int) -> str | None:
        days = self.recordings.dm_pages.get(brief_id, {})
        if not days:
            return None
        return days.get(self.dm_day or "") or days[max(days)]

    def index_page(self) -> str:
        rec = self.recordings
        return (
            "<!DOCTYPE html><html><body><h1>SME Opportunity Matcher: replay server</h1><ul>"
            f"<li>Contracts Finder: <a href='{cf_search.SEARCH_PATH}?limit=5'>{cf_search.SEARCH_PATH}</a> "
            f"({len(rec.cf_releases)} recorded releases)</li>"
            f"<li>Digital Marketplace ({self.dm_day}): <a href='{DM_LISTING}?statusOpenClosed=open'>{DM_LISTING}</a> "
            f"({len(rec.dm_pages)} recorded opportunity pages)</li>"
            f"<li>Find a Tender: <a href='{fts_search.PACKAGES_PATH}?limit=5'>{fts_search.PACKAGES_PATH}</a> "
            f"({sum(not r.constructed for r in self.fts.releases)} recorded and "
            f"{sum(r.constructed for r in self.fts.releases)} constructed releases)</li>"
            f"<li>Public Contracts Scotland: <a href='/pcs/v1/Notices?dateFrom=04-2019&amp;noticeType=2&amp;outputType=0'>"
            f"/pcs/v1/Notices</a> ({len(rec.ocds.get('public_contracts_scotland', []))} recorded releases)</li>"
            f"<li>Sell2Wales: <a href='/s2w/v1/Notices?dateFrom=02-2025&amp;noticeType=2&amp;outputType=0'>"
            f"/s2w/v1/Notices</a> ({len(rec.ocds.get('sell2wales', []))} recorded releases)</li></ul>"
            "<p>Contains public sector information licensed under the Open Government Licence v3.0.</p></body></html>"
        )


def start_replay(faults: list[Fault] | None = None, host: str = "127.0.0.1", port: int = 0,
                 dm_day: str | None = None, latency: float = 0.0, tls: ssl.SSLContext | None = None,
                 fts: fts_search.FtsData | None = None, fts_rate_limit: tuple[int, float] | None = None) -> ReplayServer:
    """Start a replay server in a background thread (port 0 picks a free port). Use as a context
    manager, or call .stop(). `latency` delays each answer; `tls` serves HTTPS; `fts` replaces the Find a
    Tender data served, `fts_rate_limit` (requests, seconds) answers 429 without Retry-After beyond it."""
    return ReplayServer(host=host, port=port, faults=faults, dm_day=dm_day, latency=latency, tls=tls, fts=fts,
                        fts_rate_limit=fts_rate_limit)
