"""SME champions' commands: `matcher champion report` (what each SME was sent, why, what came back, who got
nothing and why, and the figures over time), `add`/`list`/`link`/`revoke` (champions and their named sign-in
links), `mark` (a champion's verdict on a sent item, as the desk's buttons) and `export` (every verdict and mark
as eval judgments)."""
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
    trend_weeks: int = typer.Option(12, "--trend-weeks", min=1, max=104, help="Weeks in the over-time figures."),
    now: str = NowOption,
    config: Path = ConfigOption,
) -> None:
    """For one week: what each SME was sent and why, SMEs' and champions' verdicts, the active SMEs that got
    nothing and why, and the figures over time."""
    from matcher import clock
    from matcher.web.champion import WeekError, parse_week, week_report
    from matcher.store import session_scope

    cfg = load(config)
    try:
        label = parse_week(week) if week else clock.week_of(parse_now_option(now), cfg.digest.timezone)
    except WeekError as e:
        fail(f"--week: {e}", 2)
    from matcher.web.desk_report import attach_marks, explain_quiet, totals, trend

    with session_scope(engine_for(cfg)) as s:
        report = week_report(s, label, cfg.digest.timezone, quiet_weeks)
        attach_marks(s, report.smes)
        explain_quiet(s, report, cfg.matching.threshold)
        over_time = trend(s, label, cfg.digest.timezone, trend_weeks)
        s.rollback()  # read-only
    if as_json:
        data = report.as_json()
        data["trend"] = [w.as_json() for w in over_time]
        data["trend_total"] = totals(over_time).as_json()
        typer.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))
    else:
        _print(report)
        _print_trend(over_time)


def _print_trend(weeks) -> None:  # noqa: ANN001 - WeekFigures list
    from matcher.web.desk_report import totals

    table = Table("week", "items sent", "relevant (SMEs)", "relevant (champions)", "feedback rate", "unsubscribes",
                  title="Over time, newest first")
    for w in [*weeks, totals(weeks)]:
        _row(table, w.week, w.items_sent, _share(w.sme_relevant_share), _share(w.champion_relevant_share),
             _share(w.feedback_rate), w.unsubscribes)
    console.print(table)


@champion_app.command("link")
def link_cmd(
    champion: str = typer.Argument(..., help="Champion id or email (`matcher champion list`)."),
    days: int = typer.Option(30, "--days", min=1, max=366, help="How long the link works."),
    now: str = NowOption,
    config: Path = ConfigOption,
) -> None:
    """Print a champion's named, time-limited sign-in URL to the desk (served by `matcher serve`)."""
    from matcher.config import ConfigError
    from matcher.store import session_scope
    from matcher.store.champions import ChampionError, find, sync_config

    cfg = load(config)
    with session_scope(engine_for(cfg)) as s:
        sync_config(s, cfg.champions)
        try:
            row = find(s, champion)
        except ChampionError as e:
            fail(str(e), 2)
    if not row.active:
        fail(f"champion {row.name} has been removed (`matcher champion add` brings them back)", 2)
    try:
        _print_link(cfg, row, days, parse_now_option(now))
    except ConfigError as e:
        fail(str(e), 2)


@champion_app.command("add")
def add_cmd(
    name: str = typer.Option(..., "--name", help="The champion's name, as shown with their marks."),
    email: str = typer.Option(..., "--email", help="Where their sign-in links go."),
    days: int = typer.Option(None, "--days", min=1, max=366, help="Also print a sign-in link lasting this many days."),
    config: Path = ConfigOption,
) -> None:
    """Add an SME champion (or rename one, by email); they sign in at /champion/sign-in."""
    from matcher.store import session_scope
    from matcher.store.champions import ChampionError, add_champion

    cfg = load(config)
    with session_scope(engine_for(cfg)) as s:
        try:
            row, added = add_champion(s, name, email)
        except ChampionError as e:
            fail(str(e), 2)
    console.print(Text(f"{'added' if added else 'updated'} champion {row.id}: {row.name} <{row.email}>"))
    if days:
        _print_link(cfg, row, days, parse_now_option(None))


@champion_app.command("list")
def list_cmd(config: Path = ConfigOption) -> None:
    """The SME champions: from config ([[champions]]) and added with `matcher champion add`."""
    from sqlmodel import select

    from matcher.store import session_scope
    from matcher.store.champions import sync_config
    from matcher.store.models import Champion

    cfg = load(config)
    with session_scope(engine_for(cfg)) as s:
        sync_config(s, cfg.champions)
        rows = list(s.exec(select(Champion).order_by(Champion.id)))
    table = Table("id", "name", "email", "from", "state")
    for r in rows:
        _row(table, r.id, r.name, r.email, "config" if r.from_config else "cli", "active" if r.active else "revoked")
    console.print(table)


def _print_link(cfg, champion, days: int, when) -> None:  # noqa: ANN001
    from datetime import timedelta

    from matcher.deliver.tokens import LinkSigner

    typer.echo(LinkSigner.from_config(cfg).champion_url(champion.id, days, when, champion.link_version))
    typer.echo(f"signs in {champion.name}; valid until {when + timedelta(days=days):%Y-%m-%d %H:%M} UTC; "
               "anyone with it can see every SME's matches", err=True)


@champion_app.command("revoke")
def revoke_cmd(
    champion: str = typer.Argument(..., help="Champion id or email."),
    remove: bool = typer.Option(False, "--remove", help="Also end their access (no new sign-in links)."),
    config: Path = ConfigOption,
) -> None:
    """End every sign-in link made so far for a champion."""
    from matcher.store import session_scope
    from matcher.store.champions import ChampionError, find, revoke

    cfg = load(config)
    with session_scope(engine_for(cfg)) as s:
        try:
            row = find(s, champion)
        except ChampionError as e:
            fail(str(e), 2)
        revoke(s, row, deactivate=remove)
    console.print(Text(f"links of {row.name} revoked" + ("; access removed" if remove else "")))


@champion_app.command("mark")
def mark_cmd(
    champion: str = typer.Argument(..., help="Champion id or email."),
    profile_id: str = typer.Argument(...),
    notice_key: str = typer.Argument(...),
    verdict: str = typer.Argument(..., help="relevant, not-relevant, or clear (take the mark back)."),
    config: Path = ConfigOption,
) -> None:
    """Mark an item sent to an SME, as the desk's buttons do (stored with who and when)."""
    from matcher.store import session_scope
    from matcher.store.champions import ChampionError, find, mark

    cfg = load(config)
    with session_scope(engine_for(cfg)) as s:
        try:
            done = mark(s, find(s, champion), profile_id, notice_key, None if verdict == "clear" else verdict)
        except ChampionError as e:
            fail(str(e), 2)
    said = "cleared" if done.verdict is None else f"marked {done.verdict}"
    console.print(Text(f"{done.champion}: {profile_id} / {notice_key} {said}"
                       + (f" (was {done.replaced})" if done.replaced and done.replaced != done.verdict else "")))


@champion_app.command("export")
def export_cmd(
    out: Path = typer.Option(..., "--out", "-o", file_okay=False, help="Folder for qrels.jsonl, profiles.json and notices/."),
    judged_only: bool = typer.Option(False, "--judged-only", help="Write only the judged notices (default: every "
                                     "stored notice, so eval ranks the judged ones among all the others)."),
    config: Path = ConfigOption,
) -> None:
    """Write every SME verdict and champion mark as eval judgments (`profile`, `notice`, `grade`) with the
    profiles and notices they are about, so `matcher eval` measures the matcher on them."""
    from matcher.quality.judgments import export
    from matcher.store import session_scope

    cfg = load(config)
    with session_scope(engine_for(cfg)) as s:
        result = export(s, out, judged_only)
        s.rollback()
    console.print(Text(f"{result.judgments} judgment(s) on {result.notices} notice(s) for {result.profiles} SME(s) "
                       f"({result.from_smes} SME verdict(s), {result.from_champions} champion mark(s)) written to {out}"))
    for why in result.skipped:
        typer.echo(f"left out: {why}")
    typer.echo(f"matcher eval --profiles {out / 'profiles.json'} --qrels {out / 'qrels.jsonl'} --notices {out / 'notices'}",
               err=True)


def register(app: typer.Typer) -> None:
    app.add_typer(champion_app, name="champion")
