"""Progress of long steps: a bar on a terminal (tqdm, on stderr), plain log lines otherwise.

Steps say what they are doing through `Progress`; they never know which of the two the user sees. Off a
terminal (a service, a pipe, CI) each step() is one INFO line on the `matcher.progress` logger, which the
`matcher` command shows by default, so a long poll is never minutes of nothing.
"""
from __future__ import annotations

import logging
import sys
from typing import Any

log = logging.getLogger("matcher.progress")


_bars = {"off": False}


def on_terminal() -> bool:
    return sys.stderr.isatty()


def disable_bars() -> None:
    """Log lines instead of bars even on a terminal (JSON logs: bars would break the lines)."""
    _bars["off"] = True


class Progress:
    """progress = Progress("contracts_finder", total=12, unit="window"); progress.step(note="2025-01-20..") ...
    progress.close(). Use as a context manager."""

    def __init__(self, desc: str, total: int | None, unit: str = "it", bar: bool | None = None):
        self.desc, self.total, self.unit, self.done = desc, total, unit, 0
        self._bar: Any = None
        if (on_terminal() and not _bars["off"]) if bar is None else bar:
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=desc, unit=unit, leave=False, dynamic_ncols=True, file=sys.stderr)

    def step(self, n: int = 1, note: str = "") -> None:
        self.done += n
        if self._bar is not None:
            self._bar.update(n)
            if note:
                self._bar.set_postfix_str(note, refresh=False)
            return
        of = f"/{self.total}" if self.total is not None else ""
        log.info("%s: %d%s %s%s", self.desc, self.done, of, self.unit + ("s" if self.total != 1 else ""),
                 f" ({note})" if note else "")

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
