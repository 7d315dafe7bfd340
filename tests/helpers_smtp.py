"""SMTP servers on 127.0.0.1 that misbehave on purpose: a real aiosmtpd server whose handler can answer late,
refuse, drop the connection or call a hook (e.g. kill the sender) at a chosen command; and a relay that accepts
TCP connections but never greets."""
from __future__ import annotations

import asyncio
import socket
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from aiosmtpd.controller import Controller
from helpers_digest import free_port, parse_eml


def smtp_config_file(tmp_path: Path, db_url: str, port: int, **delivery: int) -> Path:
    """A config.toml for a `matcher` subprocess that sends by SMTP to 127.0.0.1:port, with its signing key in a
    file; `delivery` adds [delivery] keys (connections, lease_seconds, timeouts) in the order given."""
    extra = "".join(f"{key} = {value}\n" for key, value in delivery.items())
    path = tmp_path / "config.toml"
    path.write_text(f"""
[database]
url = "{db_url}"
[digest]
public_base_url = "https://links.example.org"
from_address = "Matcher <alerts@matcher.example.org>"
[delivery]
mode = "smtp"
smtp_host = "127.0.0.1"
smtp_port = {port}
{extra}[secrets]
secret_env = "MATCHER_TEST_SECRET_NOT_SET"
secret_file = "secret-key"
""")
    return path


class FaultyHandler:
    """Keeps each accepted message (by Message-ID and recipient). Faults, all off by default:
    rcpt_reply / data_reply: answer RCPT / the message with this instead of 250 (e.g. "550 5.1.1 no such user");
    data_delay: wait this long before answering the message (a late reply);
    on_rcpt(n) / on_data(n): called on the n-th RCPT / message (1-based), before the answer;
    drop(step, n) -> bool: close the connection instead of answering (step "rcpt", "data" or "after-data")."""

    def __init__(self) -> None:
        self.messages = []
        self.copies: Counter = Counter()  # (recipient, Message-ID) -> copies accepted
        self.rcpts = 0
        self.datas = 0
        self.rcpt_reply: str | None = None
        self.data_reply: str | None = None
        self.data_delay = 0.0
        self.on_rcpt: Callable[[int], None] | None = None
        self.on_data: Callable[[int], None] | None = None
        self.drop: Callable[[str, int], bool] | None = None
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: ANN001, N802
        with self.lock:
            self.rcpts += 1
            n = self.rcpts
        if self.on_rcpt:
            self.on_rcpt(n)
        if self.drop and self.drop("rcpt", n):
            server.transport.close()
            return "421 4.3.0 dropping"
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, N802
        with self.lock:
            self.datas += 1
            n = self.datas
        if self.drop and self.drop("data", n):
            server.transport.close()
            return "421 4.3.0 dropping"
        if self.data_reply:
            return self.data_reply
        msg = parse_eml(envelope.content)
        with self.lock:
            self.messages.append(msg)
            for rcpt in envelope.rcpt_tos:
                self.copies[(rcpt, msg["Message-ID"])] += 1
        if self.on_data:
            self.on_data(n)
        if self.data_delay:
            await asyncio.sleep(self.data_delay)
        if self.drop and self.drop("after-data", n):
            server.transport.close()
            return "250 OK"
        return "250 2.0.0 OK"


@contextmanager
def faulty_smtp(handler: FaultyHandler | None = None) -> Iterator[tuple[FaultyHandler, int]]:
    handler = handler or FaultyHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(), ready_timeout=10)
    controller.start()
    try:
        yield handler, controller.port
    finally:
        controller.stop()


@contextmanager
def silent_relay() -> Iterator[tuple[list, int]]:
    """Accepts TCP connections and never says a word. Yields (accepted sockets, port)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    listener.settimeout(0.1)
    accepted: list[socket.socket] = []
    done = threading.Event()

    def serve() -> None:
        while not done.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            accepted.append(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield accepted, listener.getsockname()[1]
    finally:
        done.set()
        thread.join(timeout=2)
        for c in accepted:
            c.close()
        listener.close()
