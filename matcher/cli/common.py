"""What every command shares: the --config option, loading it, and opening the store."""
from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.text import Text

from matcher.config import Config, ConfigError, load_config, mask_url

# markup off: notice titles, profile ids and file contents are printed as they are, never read as [style] tags
# (style with rich.text.Text, or `styled` below)
console = Console(markup=False)
err_console = Console(stderr=True, markup=False)


def styled(style: str, label: str, rest: str = "") -> Text:
    """`label` in `style`, then `rest` as plain text."""
    return Text(label, style=style) + Text(rest)

ConfigOption = typer.Option(Path("config.toml"), "--config", "-c", help="Config file to use.", show_default=True)


def load(path: Path) -> Config:
    """Load and validate the config, or stop with exit code 2 and a message naming the key."""
    try:
        return load_config(path)
    except ConfigError as e:
        err_console.print(styled("bold red", "config error", f"\n{e}"), highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None


def engine_for(cfg: Config):
    """The store's engine: an empty store is created; one whose schema is not this release's stops the command
    with what to do (`matcher db upgrade`), never a traceback."""
    from matcher.store import make_engine
    from matcher.store.migrate import SchemaError, ensure_current

    engine = make_engine(cfg.database_url())
    try:
        ensure_current(engine)
    except SchemaError as e:
        fail(f"{mask_url(cfg.database_url())}: {e}")
    return engine


def fail(message: str, code: int = 1) -> None:
    err_console.print(styled("bold red", "error:", f" {message}"), highlight=False, soft_wrap=True)
    raise typer.Exit(code)


NowOption = typer.Option(None, "--now", help="Run as of this time (ISO date or datetime, UTC if no offset); default: now.")
CadenceOption = typer.Option("weekly", "--cadence", help="weekly: this week's digests for weekly SMEs; daily: today's "
                             "for daily SMEs (new notices only).", case_sensitive=False)


def parse_cadence_option(value: str):  # noqa: ANN201 - a matcher.period.Cadence
    from matcher.period import CADENCES

    value = (value or "weekly").strip().lower()
    if value not in CADENCES:
        fail(f"--cadence: {value!r} is not one of {', '.join(CADENCES)}", 2)
    return value


def parse_now_option(value: str | None):
    """The --now option as an aware UTC datetime, or a usage error naming the option."""
    from matcher.clock import parse_now

    try:
        return parse_now(value)
    except ValueError:
        fail(f"--now: {value!r} is not an ISO date or datetime", 2)
