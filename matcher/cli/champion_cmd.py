"""SME champions' commands: `matcher champion report` (what each SME was sent, why, and what came back) and
`matcher champion link` (a time-limited URL to the same view on the `matcher serve` pages)."""
from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table
from rich.text import Text

from matcher.cli.common import ConfigOption, NowOption, console, engine_for, fail, load, parse_now_option

champion_app = typer.Typer(help="The SME champions' view of match quality.", no_args_is_help=True)


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _mark(verdict: str | None) -> str:
    return {"relevant": "relevant", "not-relevant": "NOT relevant"}.get(verdict or "", "-")


def _row(table: Table, *cells: object) -> None:
    """Cells as plain text: notice titles and names come from outside and may hold [rich markup]."""
    table.add_row(*(Text(str(c)) for c in cells))


def _print(report) -> None:  # noqa: ANN001 - a matcher.web.champion.WeekReport
    f = report.figures
    figures = Table("figure", "value", title=f"SME champions' report for {report.week} (week of {report.week_start:%d %b %Y})")
    for label, value in (
        ("active SMEs", f.active_smes), ("digests", f.digests), ("SMEs served", f.smes_served),
        ("items sent", f.items_sent), ("marked relevant", f.relevant), ("marked not relevant", f.not_relevant),
        ("no feedback", f.no_feedback), ("share of sent items marked not relevant", _share(f.not_relevant_share)),
        ("SMEs that got nothing", f.smes_got_nothing),
    ):
        _row(figures, label, value)
    console.print(figures)

    smes = Table("profile", "name", "digest", "items", "relevant", "not relevant", title="SMEs this week")
    for s in report.smes:
        _row(smes, s.profile_id, s.name + ("" if s.active else " (inactive)"), s.state, s.item_count, s.relevant,
             s.not_relevant)
    console.print(smes)

    items = Table("profile", "#", "notice", "buyer", "closes", "score", "dense/lex/kw/cpv", "why", "feedback",
                  title="Items in this week's digests (unsent digests say so)", show_lines=True)
    for s in report.smes:
        for n, i in enumerate(s.items, 1):
            parts = "/".join(f"{i.components[c]:.2f}" for c in ("dense", "lexical", "keyword", "cpv"))
            who = s.profile_id if s.sent else f"{s.profile_id} ({s.state}, not sent)"
            _row(items, who, n, i.title, i.buyer or "-", i.closes or "-", f"{i.score:.2f}", parts, i.summary or "-",
                 _mark(i.feedback))
    if items.row_count:
        console.print(items)

    quiet = Table("profile", "name", "digest", "why listed", "last items", title="Active SMEs that got nothing")
    for q in report.got_nothing:
        _row(quiet, q.profile_id, q.name, q.state, q.reason, q.last_items_week or "never")
    console.print(quiet if quiet.row_count else "No active SME went without items.", highlight=False)


@champion_app.command("report")
def report_cmd(
    week: str = typer.Option(None, "--week", help="ISO week such as 2025-W04; default: the current week."),
    quiet_weeks: int = typer.Option(1, "--quiet-weeks", min=1, max=52,
                                    help="List active SMEs sent nothing for this many weeks (empty digests always)."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    now: str = NowOption,
    config: Path = ConfigOption,
) -> None:
    """For one week: what each SME was sent and why, the feedback given, and the active SMEs that got nothing."""
    from matcher import clock
    from matcher.web.champion import WeekError, parse_week, week_report
    from matcher.store import session_scope

    cfg = load(config)
    try:
        label = parse_week(week) if week else clock.week_of(parse_now_option(now), cfg.digest.timezone)
    except WeekError as e:
        fail(f"--week: {e}", 2)
    with session_scope(engine_for(cfg)) as s:
        report = week_report(s, label, cfg.digest.timezone, quiet_weeks)
        s.rollback()  # read-only
    if as_json:
        typer.echo(json.dumps(report.as_json(), indent=2, ensure_ascii=False))
    else:
        _print(report)


@champion_app.command("link")
def link_cmd(
    days: int = typer.Option(30, "--days", min=1, max=366, help="How long the link works."),
    now: str = NowOption,
    config: Path = ConfigOption,
) -> None:
    """Print a signed, time-limited URL to the champions' pages (served by `matcher serve`)."""
    from datetime import timedelta

    from matcher.config import ConfigError
    from matcher.deliver.tokens import LinkSigner

    cfg = load(config)
    when = parse_now_option(now)
    try:
        url = LinkSigner.from_config(cfg).champion_url(days, when)
    except ConfigError as e:
        fail(str(e), 2)
    typer.echo(url)
    typer.echo(f"valid until {when + timedelta(days=days):%Y-%m-%d %H:%M} UTC; anyone with it can see every SME's matches",
               err=True)


def register(app: typer.Typer) -> None:
    app.add_typer(champion_app, name="champion")
