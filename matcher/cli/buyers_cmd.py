"""Buyer evidence and reminders: `matcher buyers` (buyers by the share of their awards that went to SMEs, from the
award notices in the store), `matcher buyers backfill` (poll past award notices in), `matcher reminders send`."""
from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table
from rich.text import Text

from matcher.cli.common import ConfigOption, NowOption, console, engine_for, err_console, fail, load, parse_now_option

buyers_app = typer.Typer(help="Buyers' award records: how much of their work goes to SMEs.", invoke_without_command=True)
reminders_app = typer.Typer(help="Deadline reminders for items already sent in a digest.", no_args_is_help=True)


@buyers_app.callback()
def buyers(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print JSON: every buyer, its figures and the awards counted."),
    limit: int = typer.Option(50, "--limit", "-n", min=1, help="Show at most this many buyers (the table only)."),
    min_contracts: int = typer.Option(1, "--min-contracts", min=0, help="Only buyers with at least this many counted awards."),
    config: Path = ConfigOption,
) -> None:
    """List buyers by SME share (highest first): SME awards of the last 30 with a known supplier size, value, period."""
    if ctx.invoked_subcommand is not None:
        return
    from matcher.digest.buyers import LAST_CONTRACTS, buyer_index
    from matcher.store import session_scope

    cfg = load(config)
    with session_scope(engine_for(cfg)) as s:
        index = buyer_index(s)
    ranked = [b for b in index.ranked() if b.contracts >= min_contracts]
    if as_json:
        print(json.dumps({"last_contracts": LAST_CONTRACTS, "buyers": [b.as_json() for b in ranked]}, indent=2))
        return
    if not ranked:
        console.print("no award notices in the store yet: poll awards, or run `matcher buyers backfill --since DATE`")
        return
    table = Table("buyer", "SME share", "SME / counted", "size not given", "SME value / value", "period",
                  title=f"Buyers by SME share of their last {LAST_CONTRACTS} awards (from stored award notices)")
    for b in ranked[:limit]:
        money = "-"
        if b.valued:
            from matcher.digest.buyers import short_money

            money = f"{short_money(b.sme_value or 0)} / {short_money(b.value or 0)}"
        table.add_row(Text(b.name), "-" if b.sme_share is None else f"{b.sme_share:.0%}", f"{b.sme_contracts} / {b.contracts}",
                      str(b.size_unknown), money, b.period or "-")
    console.print(table)
    if len(ranked) > limit:
        console.print(f"{len(ranked) - limit} more; --limit shows more, --json shows all", highlight=False)


@buyers_app.command("backfill")
def backfill(
    since: str = typer.Option(..., "--since", help="Read award notices published from this date (ISO)."),
    until: str = typer.Option(None, "--until", help="...up to this date (default: now)."),
    source: list[str] = typer.Option([], "--source", "-s", help="Only this source (repeatable): contracts_finder, find_a_tender."),
    config: Path = ConfigOption,
) -> None:
    """Poll past award notices into the store (award history for buyer evidence); no watermark moves."""
    from matcher.clock import parse_now
    from matcher.ingest.backfill import backfill_awards
    from matcher.sources.registry import UnknownSource

    cfg = load(config)
    try:
        start, end = parse_now(since), parse_now(until) if until else parse_now(None)
    except ValueError as e:
        fail(f"--since/--until: {e}", 2)
    try:
        reports = backfill_awards(cfg, engine_for(cfg), start, end, source or None)
    except (UnknownSource, ValueError) as e:
        fail(str(e), 2)
    table = Table("source", "result", "windows", "pages", "new", "updated", "same", "quarantined",
                  title=f"Award back-fill {start:%Y-%m-%d} to {end:%Y-%m-%d}")
    for r in reports:
        table.add_row(r.source, "[red]stopped[/]" if r.error else "ok", f"{r.windows_done}/{r.windows}", str(r.pages),
                      str(r.inserted + r.merged), str(r.updated), str(r.unchanged), str(r.quarantined))
    console.print(table)
    for r in reports:
        if r.error:
            err_console.print(f"{r.source}: {r.error}", highlight=False, markup=False, soft_wrap=True)
    if not reports:
        fail("no enabled source publishes awards with supplier sizes (contracts_finder, find_a_tender)")
    if any(r.error for r in reports):
        raise typer.Exit(1)


@reminders_app.command("send")
def reminders_send(now: str = NowOption, config: Path = ConfigOption) -> None:
    """Send the deadline reminders due as of now (digest.reminder_days before a listed item closes). Safe to rerun."""
    from matcher.deliver.reminders import send_reminders

    cfg = load(config)
    result = send_reminders(cfg, engine_for(cfg), parse_now_option(now))
    console.print(str(result), highlight=False)
    for pid, error in result.errors:
        err_console.print(f"{pid}: {error}", highlight=False, markup=False, soft_wrap=True)
    if result.errors:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.add_typer(buyers_app, name="buyers")
    app.add_typer(reminders_app, name="reminders")
