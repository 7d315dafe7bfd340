"""SMTP sending: several connections at once, a timeout per step, a circuit breaker, and an outcome per message
that the store can trust.

Nothing here touches the store. deliver/send.py hands in Jobs and two callbacks: `handover(job)` is awaited just
before the message text goes out (it makes the "handed over" mark durable and says whether our claim still holds),
and `finished(job, outcome, error)` records how the attempt ended. Every attempt ends in one Outcome:

  sent      the relay answered 250 to the final dot
  bounced   a permanent 5xx to RCPT or to the message: that address is bouncing
  failed    the relay did not take the message, and we know it (a 4xx, or the connection failed before the
            message text went out): try again on the next run
  unknown   the message text went out and no answer came (timeout, connection dropped): it may have been
            delivered. The next run sends it again with the same Message-ID; each such case is logged and counted
  released  not tried in this run (the breaker tripped, a stop was asked for, or the claim was lost)

Steps have their own timeouts: TCP connect, the greeting (and EHLO/STARTTLS/AUTH), each command, and the
answer to the message text. Consecutive relay-level failures (no connection, no greeting, a timeout, a dropped
connection, a 421) trip the breaker; the run then stops early and says why, and what was not tried stays
`created` for the next run.
"""
from __future__ import annotations

import asyncio
import logging
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

import aiosmtplib

log = logging.getLogger(__name__)

Outcome = Literal["sent", "bounced", "failed", "unknown", "released"]
_LEADING_DOT = re.compile(rb"(?m)^\.")


@dataclass
class Job:
    """One message to send, as claimed and composed from the store."""

    digest_id: int
    profile_id: str
    sender: str
    recipients: list[str]
    data: bytes  # the message as it goes on the wire (CRLF line ends)
    tries: int = 0  # in-run tries so far
    extra: dict = field(default_factory=dict)  # whatever the caller needs back in `finished`


class RelayFailure(Exception):
    """The relay, not this message, is the problem: no connection, no greeting, a timeout, a drop, a 421."""


class MessageRefused(Exception):
    """The relay answered this message with an error code (4xx: try later; 5xx: permanent)."""

    def __init__(self, code: int, text: str, step: str) -> None:
        super().__init__(f"{code} {text}".strip())
        self.code, self.step = code, step

    @property
    def permanent(self) -> bool:
        return 500 <= self.code < 600


class HandedOverNoAnswer(Exception):
    """The message text went out and no answer came back."""


@dataclass
class SmtpSettings:
    host: str
    port: int
    ssl: bool = False
    starttls: bool = False
    username: str | None = None
    password: str | None = None
    connect_timeout: float = 10
    greeting_timeout: float = 30
    command_timeout: float = 30
    data_timeout: float = 120
    connections: int = 4
    messages_per_connection: int = 100
    max_per_second: float = 0  # 0: no limit
    breaker_failures: int = 5
    tries: int = 2  # in-run tries of one message after a 4xx or a relay failure before the text went out
    retry_wait: float = 0.5
    local_hostname: str | None = None

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"


class Breaker:
    """Counts relay failures in a row (any connection); trips at `limit`. A success resets the count."""

    def __init__(self, limit: int, where: str) -> None:
        self.limit, self.where = limit, where
        self.in_a_row = 0
        self.reason: str | None = None

    @property
    def tripped(self) -> bool:
        return self.reason is not None

    def success(self) -> None:
        self.in_a_row = 0

    def failure(self, what: str) -> None:
        self.in_a_row += 1
        if self.in_a_row >= self.limit and self.reason is None:
            self.reason = (f"relay {self.where} failed {self.in_a_row} times in a row (last: {what}); "
                           "stopped early, the digests not tried are left for the next run")
            log.error("circuit breaker: %s", self.reason)


class _Pacer:
    """At most `rate` message starts per second over all connections (0: no limit)."""

    def __init__(self, rate: float) -> None:
        self.gap = 1.0 / rate if rate > 0 else 0.0
        self.next_at = 0.0
        self.lock = asyncio.Lock()

    async def wait(self) -> None:
        if not self.gap:
            return
        async with self.lock:
            now = time.monotonic()
            if self.next_at > now:
                await asyncio.sleep(self.next_at - now)
            self.next_at = max(now, self.next_at) + self.gap


class _Connection:
    def __init__(self, settings: SmtpSettings) -> None:
        self.s = settings
        self.smtp: aiosmtplib.SMTP | None = None
        self.sent = 0

    async def open(self) -> None:
        s = self.s
        loop = asyncio.get_running_loop()
        try:
            infos = await asyncio.wait_for(loop.getaddrinfo(s.host, s.port, type=socket.SOCK_STREAM), s.connect_timeout)
        except (OSError, asyncio.TimeoutError) as e:
            raise RelayFailure(f"cannot resolve {s.host}: {e or 'timeout'}") from None
        family, kind, proto, _, address = infos[0]
        sock = socket.socket(family, kind, proto)
        sock.setblocking(False)
        try:
            await asyncio.wait_for(loop.sock_connect(sock, address), s.connect_timeout)
        except asyncio.TimeoutError:
            sock.close()
            raise RelayFailure(f"no TCP connection within {s.connect_timeout:g} s") from None
        except OSError as e:
            sock.close()
            raise RelayFailure(f"cannot connect: {e.strerror or e}") from None
        smtp = aiosmtplib.SMTP(sock=sock, hostname=s.host if (s.ssl or s.starttls) else None, use_tls=s.ssl,
                               start_tls=s.starttls, username=s.username, password=s.password,
                               timeout=s.greeting_timeout, local_hostname=s.local_hostname)
        try:
            await smtp.connect()
            if smtp.last_ehlo_response is None and smtp.last_helo_response is None:
                try:
                    await smtp.ehlo()
                except aiosmtplib.SMTPHeloError:
                    await smtp.helo()
        except aiosmtplib.SMTPConnectTimeoutError:
            smtp.close()
            raise RelayFailure(f"no greeting within {s.greeting_timeout:g} s") from None
        except aiosmtplib.SMTPTimeoutError:
            smtp.close()
            raise RelayFailure(f"no answer to EHLO/STARTTLS/AUTH within {s.greeting_timeout:g} s") from None
        except aiosmtplib.SMTPResponseException as e:
            smtp.close()
            raise RelayFailure(f"session refused: {e.code} {e.message}") from None
        except (aiosmtplib.SMTPException, OSError) as e:
            smtp.close()
            raise RelayFailure(f"session setup failed: {type(e).__name__}: {e}") from None
        smtp.timeout = s.command_timeout
        self.smtp, self.sent = smtp, 0

    def close(self) -> None:
        if self.smtp is not None:
            self.smtp.close()
        self.smtp = None

    async def quit(self) -> None:
        if self.smtp is not None and self.smtp.is_connected:
            try:
                await asyncio.wait_for(self.smtp.quit(), self.s.command_timeout)
            except Exception:  # noqa: BLE001 - a polite goodbye that fails changes nothing
                pass
        self.close()

    async def _command(self, step: str, *args: bytes, timeout: float | None = None) -> aiosmtplib.SMTPResponse:
        assert self.smtp is not None
        try:
            reply = await self.smtp.execute_command(*args, timeout=timeout or self.s.command_timeout)
        except aiosmtplib.SMTPTimeoutError:
            self.close()
            raise RelayFailure(f"no answer to {step} within {timeout or self.s.command_timeout:g} s") from None
        except (aiosmtplib.SMTPServerDisconnected, OSError) as e:
            self.close()
            raise RelayFailure(f"connection dropped at {step}: {e}") from None
        if reply.code == 421:
            self.close()
            raise RelayFailure(f"421 at {step}: {reply.message}")
        return reply

    async def send(self, job: Job, handover: Callable[[Job], Awaitable[bool]]) -> bool:
        """MAIL, RCPT, DATA, text. True if sent; False if the claim was lost. Raises RelayFailure,
        MessageRefused or HandedOverNoAnswer."""
        if self.smtp is None or not self.smtp.is_connected:
            await self.open()
        reply = await self._command("MAIL FROM", b"MAIL", b"FROM:<" + job.sender.encode() + b">")
        if reply.code != 250:
            self.close()  # our sender refused: nothing about this message; the relay will say it to every one
            raise RelayFailure(f"MAIL FROM refused: {reply.code} {reply.message}")
        for rcpt in job.recipients:
            reply = await self._command("RCPT TO", b"RCPT", b"TO:<" + rcpt.encode("utf-8") + b">")
            if reply.code not in (250, 251):
                await self._reset()
                raise MessageRefused(reply.code, reply.message, "RCPT TO")
        reply = await self._command("DATA", b"DATA")
        if reply.code != 354:
            await self._reset()
            raise MessageRefused(reply.code, reply.message, "DATA")
        if not await handover(job):
            self.close()  # mid-DATA: the only clean way out is to drop the connection before the final dot
            return False
        body = _LEADING_DOT.sub(b"..", job.data)
        if not body.endswith(b"\r\n"):
            body += b"\r\n"
        protocol = self.smtp.protocol if self.smtp is not None else None
        try:
            if protocol is None:
                raise aiosmtplib.SMTPServerDisconnected("connection lost")
            # the text and its final dot in one write, then the one answer (what SMTP.data does after the 354)
            protocol.write(body + b".\r\n")
            reply = await protocol.read_response(timeout=self.s.data_timeout)
        except aiosmtplib.SMTPTimeoutError:
            self.close()
            raise HandedOverNoAnswer(f"no answer within {self.s.data_timeout:g} s after the message text") from None
        except (aiosmtplib.SMTPServerDisconnected, OSError) as e:
            self.close()
            raise HandedOverNoAnswer(f"connection dropped after the message text: {e}") from None
        self.sent += 1
        if reply.code == 421:
            self.close()
            raise MessageRefused(421, reply.message, "end of data")
        if reply.code != 250:
            raise MessageRefused(reply.code, reply.message, "end of data")
        return True

    async def _reset(self) -> None:
        try:
            await self._command("RSET", b"RSET")
        except RelayFailure:
            pass


@dataclass
class RunSummary:
    stopped: str | None = None  # why the run stopped early, if it did
    outcomes: dict[str, int] = field(default_factory=dict)


class SmtpEngine:
    """Sends jobs from `claim(n)` over `connections` SMTP connections until there are none left (claim returns
    None; an empty list only says that batch had nothing to send), the breaker trips or `stop` is set. All I/O
    on one asyncio loop; the callbacks may hand work to a thread."""

    def __init__(self, settings: SmtpSettings) -> None:
        self.s = settings

    def run(self, claim: Callable[[int], Awaitable[list[Job] | None]], handover: Callable[[Job], Awaitable[bool]],
            finished: Callable[[Job, Outcome, str | None], Awaitable[None]],
            stop: threading.Event | None = None) -> RunSummary:
        return asyncio.run(self.run_async(claim, handover, finished, stop))

    async def run_async(self, claim, handover, finished, stop: threading.Event | None = None) -> RunSummary:  # noqa: ANN001
        s = self.s
        breaker = Breaker(s.breaker_failures, s.where)
        pacer = _Pacer(s.max_per_second)
        pending: deque[Job] = deque()
        summary = RunSummary()
        state = {"exhausted": False, "busy": 0}
        wake = asyncio.Event()
        batch = max(s.connections * 8, 16)

        def halted() -> bool:
            return breaker.tripped or (stop is not None and stop.is_set())

        async def record(job: Job, outcome: Outcome, error: str | None) -> None:
            summary.outcomes[outcome] = summary.outcomes.get(outcome, 0) + 1
            await finished(job, outcome, error)

        async def producer() -> None:
            try:
                while not halted() and not state["exhausted"]:
                    if len(pending) < batch:  # claimed a little at a time, so composing never starves the sends
                        jobs = await claim(batch // 2)
                        if jobs is None:
                            state["exhausted"] = True
                        pending.extend(jobs or [])
                        wake.set()
                    else:
                        wake.clear()
                        await asyncio.sleep(0.002)
            finally:
                state["exhausted"] = True
                wake.set()

        async def worker() -> None:
            conn = _Connection(s)
            try:
                while True:
                    if halted():
                        return
                    if not pending:
                        if state["exhausted"] and not pending:
                            return
                        wake.clear()
                        try:
                            await asyncio.wait_for(wake.wait(), 0.05)
                        except asyncio.TimeoutError:
                            pass
                        continue
                    job = pending.popleft()
                    await attempt(conn, job)
            finally:
                await conn.quit()

        async def attempt(conn: _Connection, job: Job) -> None:
            job.tries += 1
            await pacer.wait()
            try:
                ok = await conn.send(job, handover)
            except HandedOverNoAnswer as e:
                breaker.failure(str(e))
                log.warning("digest %s for %s: outcome unknown (%s); it will be resent with the same Message-ID",
                            job.digest_id, job.profile_id, e)
                await record(job, "unknown", f"outcome unknown: {e} (relay {s.where})")
                return
            except MessageRefused as e:
                where = f"SMTP {s.where}: {e.step}: {e}"
                if e.permanent:
                    breaker.success()
                    await record(job, "bounced", where)
                elif e.code != 421 and job.tries < s.tries:
                    await asyncio.sleep(s.retry_wait * job.tries)
                    pending.appendleft(job)
                else:
                    if e.code == 421:
                        breaker.failure(where)
                    await record(job, "failed", where)
                return
            except RelayFailure as e:
                breaker.failure(str(e))
                if job.tries < s.tries and not halted():
                    await asyncio.sleep(s.retry_wait * job.tries)
                    pending.appendleft(job)
                else:
                    await record(job, "failed", f"SMTP {s.where}: {e}")
                return
            if not ok:
                await record(job, "released", "claim lost to another worker")
                return
            breaker.success()
            await record(job, "sent", None)
            if conn.sent >= s.messages_per_connection:
                await conn.quit()

        prod = asyncio.create_task(producer())
        try:
            await asyncio.gather(*(worker() for _ in range(max(1, s.connections))))
        finally:
            stop_reason = breaker.reason or ("a stop was asked for" if stop is not None and stop.is_set() else None)
            if not prod.done():
                state["exhausted"] = True
            await prod
            while pending:  # claimed, never tried in this run
                await record(pending.popleft(), "released", stop_reason or "not tried")
        summary.stopped = stop_reason
        return summary
