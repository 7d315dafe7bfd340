"""Logging for the `matcher` command: plain lines or JSON lines (python-json-logger), and progress.

Off a terminal, progress is INFO lines on the `matcher.progress` logger, shown even without --verbose, so a
service's log says what a long poll or match is doing. On a terminal, progress is tqdm bars (matcher.progress),
and log lines are printed above them.
"""
from __future__ import annotations

import logging
import sys
from contextlib import AbstractContextManager

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(verbose: bool = False, json_lines: bool = False) -> AbstractContextManager | None:
    """Configure the root logger; returns a context manager to hold while progress bars may be drawn, or None."""
    handler = logging.StreamHandler(sys.stderr)
    if json_lines:
        from pythonjsonlogger.json import JsonFormatter

        handler.setFormatter(JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s",
                                           rename_fields={"asctime": "time", "levelname": "level", "name": "logger"}))
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    # like basicConfig, nothing changes if logging is already set up (by an embedding program, or pytest)
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, handlers=[handler])
    from matcher.progress import disable_bars, on_terminal

    if json_lines:
        disable_bars()
    elif on_terminal():
        from tqdm.contrib.logging import logging_redirect_tqdm

        return logging_redirect_tqdm()
    logging.getLogger("matcher.progress").setLevel(logging.INFO)
    return None
