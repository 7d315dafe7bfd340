"""Digest commands: `matcher digest send`, `matcher digest preview`, and `matcher serve` (the link endpoint)."""
from __future__ import annotations

import signal
import threading
from pathlib import Path
from urllib.parse import urlsplit

import typer
from rich.table import Table

from matcher.cli.common import (CadenceOption, ConfigOption, NowOption, console, engine_for, err_console, fail, load,
                                parse_cadence_option, parse_now_option)

digest_app = typer.Typer(help="Build, preview and send the weekly and daily digests.", no_args_is_help=True)


@digest_app.command("send")
def send(now: str = NowOption, cadence: str = CadenceOption, config: Path = ConfigOption) -> None:
    """Build this period's digests (this week's, or with --cadence daily today's for the daily SMEs) and deliver
    the pending ones (outbox or SMTP). Safe to run again.

    SIGTERM or Ctrl-C: the messages in flight finish, the rest stay for the next run; exit status 128 + the signal."""
    from jobs.digest import digest_job
    from matcher.config import ConfigError
    from matcher.digest.render import TemplatesMissing

    cfg = load(config)
    when = parse_now_option(now)
    which = parse_cadence_option(cadence)
    stop = threading.Event()
    received: list[int] = []

    def _stop(signum: int, _frame: object) -> None:  # finish the messages in flight, give the rest back
        err_console.print(f"received {signal.Signals(signum).name}: stopping after the messages in flight",
                          highlight=False)
        received.append(signum)
        stop.set()

    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        report = digest_job(cfg, engine_for(cfg), when, stop=stop, cadence=which)
    except (ConfigError, TemplatesMissing) as e:
        fail(str(e), 2)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    table = Table("profile", "items", "state", "last error", title=f"Digests for {report.week}")
    for row in report.rows:
        table.add_row(row.profile_id, str(row.items), row.state, (row.last_error or "")[:80])
    console.print(table)
    console.print(str(report), highlight=False)
    if received and report.delivery.stopped:  # stopped as asked: 128 + the signal, as a shell reports it
        raise typer.Exit(128 + received[0])
    if report.delivery.errors or report.delivery.stopped:
        raise typer.Exit(1)


@digest_app.command("preview")
def preview_cmd(
    profile_id: str = typer.Argument(..., help="The SME's profile id."),
    now: str = NowOption,
    html: bool = typer.Option(False, "--html", help="Print the HTML part instead of the text part."),
    config: Path = ConfigOption,
) -> None:
    """Show one SME's digest for its period (the week, or the day for a daily SME) from the current matches;
    sends nothing and changes nothing."""
    from matcher.config import ConfigError
    from matcher.digest.build import preview
    from matcher.digest.render import TemplatesMissing, template_env
    from matcher.store import session_scope
    from matcher.deliver.tokens import LinkSigner

    cfg = load(config)
    when = parse_now_option(now)
    try:
        env, signer = template_env(), LinkSigner.from_config(cfg)
        with session_scope(engine_for(cfg)) as s:
            message, _ = preview(s, cfg, profile_id, when, env, signer)
            s.rollback()  # belt and braces: a preview never writes
    except LookupError as e:
        fail(str(e))
    except (ConfigError, TemplatesMissing) as e:
        fail(str(e), 2)
    part = message.get_body(("html",) if html else ("plain",))
    for header in ("From", "To", "Subject", "Message-ID", "List-Unsubscribe"):
        typer.echo(f"{header}: {message[header]}", err=html)  # with --html, stdout is the HTML alone
    typer.echo("", err=html)
    typer.echo(part.get_content())


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (put a TLS proxy in front for the public URL)."),
    port: int = typer.Option(None, "--port", help="Default: the port of digest.public_base_url, else 8080."),
    config: Path = ConfigOption,
) -> None:
    """Serve the unsubscribe and feedback links (one-click unsubscribe, 'Not relevant')."""
    from matcher.config import ConfigError
    from matcher.web.app import serve as run

    cfg = load(config)
    base = urlsplit(cfg.digest.public_base_url)
    port = port or base.port or 8080
    try:
        run(cfg, engine_for(cfg), host, port)
    except ConfigError as e:
        fail(str(e), 2)


def register(app: typer.Typer) -> None:
    app.add_typer(digest_app, name="digest")
    app.command("serve")(serve)
