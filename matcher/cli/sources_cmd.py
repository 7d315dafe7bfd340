"""Source commands: `matcher poll`, `matcher sources status`, `matcher replay serve`."""
from __future__ import annotations

import time
from pathlib import Path

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from matcher.cli.common import ConfigOption, NowOption, console, engine_for, err_console, fail, load, parse_now_option, styled

sources_app = typer.Typer(help="The procurement portals polled.", no_args_is_help=True)
replay_app = typer.Typer(help="The loopback replay server (recorded portal responses).", no_args_is_help=True)


def _when(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"


def _table(*columns: str, title: str) -> Table:
    table = Table(title=title, box=box.SIMPLE_HEAD, show_edge=False)
    for i, name in enumerate(columns):
        table.add_column(name, no_wrap=i == 0 or name in ("watermark", "last success"), overflow="fold")
    return table


def poll(
    source: list[str] = typer.Option([], "--source", "-s", help="Poll only this source (repeatable); default: every enabled one."),
    now: str = NowOption,
    config: Path = ConfigOption,
) -> None:
    """Poll the portals from each source's watermark up to now, and print what was stored.

    Exit status: 0 all read; 1 a source failed; 3 all read, but notice ids are still missing (Find a Tender's
    id audit: the gaps are asked for again on the next poll)."""
    from jobs.poll import poll_job
    from matcher.sources.registry import UnknownSource

    cfg = load(config)
    when = parse_now_option(now)
    try:
        reports = poll_job(cfg, engine_for(cfg), when, source or None)
    except UnknownSource as e:
        fail(str(e), 2)
    if not reports:
        console.print("no source is enabled in the config")
        return
    table = _table("source", "result", "windows", "pages", "requests", "new", "updated", "merged", "same", "quarantined",
                   "watermark", title=f"Poll as of {_when(when)} UTC (merged: copies of notices from another portal)")
    for r in reports:
        result = Text("failed", style="red") if r.error else Text("incomplete", style="red") if r.gaps_open else "ok"
        table.add_row(r.source, result, f"{r.windows_done}/{r.windows}", str(r.pages),
                      str(r.requests), str(r.inserted), str(r.updated), str(r.merged), str(r.unchanged),
                      str(r.quarantined), _when(r.watermark))
    console.print(table)
    for r in reports:
        if r.ids_held is not None:
            gaps = (Text(f"{r.gaps_open} notice id(s) still missing, oldest {r.oldest_gap}", style="red")
                    + Text(" (asked for again on the next poll)") if r.gaps_open else Text("no notice id missing"))
            line = Text(f"{r.source}: {r.ids_held} notice ids held; ") + gaps + Text(
                f"; {r.gaps_filled} gap(s) filled by id, {r.residue} residue (ids never published); "
                f"{r.by_id_requests} by-id request(s)"
                + (f"; {r.parts_walked} full window(s) at the split floor read by links.next" if r.parts_walked else ""))
            console.print(line, highlight=False, soft_wrap=True)
    for r in reports:
        if r.error:
            err_console.print(styled("red", r.source, f": {r.error}"), highlight=False, soft_wrap=True)
    if any(r.error for r in reports):
        raise typer.Exit(1)
    if any(r.gaps_open for r in reports):
        err_console.print("incomplete: notice ids are missing (see above)")
        raise typer.Exit(3)


@sources_app.command("status")
def status(config: Path = ConfigOption) -> None:
    """Per source: last successful poll, watermark, notices stored, copies merged into another portal's
    notice, quarantined records, last error."""
    from sqlalchemy import func
    from sqlmodel import select

    from matcher.store.models import Notice, NoticeAlias, Quarantined, Watermark
    from matcher.store import session_scope

    cfg = load(config)
    with session_scope(engine_for(cfg)) as s:
        notices = dict(s.exec(select(Notice.source, func.count()).group_by(Notice.source)).all())
        merged = dict(s.exec(select(NoticeAlias.source, func.count()).where(NoticeAlias.first_seen.is_not(None))  # type: ignore[union-attr]
                             .group_by(NoticeAlias.source)).all())
        held = dict(s.exec(select(Quarantined.source, func.count()).group_by(Quarantined.source)).all())
        marks = {w.source: w for w in s.exec(select(Watermark))}
    table = _table("source", "last success", "watermark", "notices", "merged", "quarantined", "last error",
                   title="Sources (times UTC; failing in red; merged: copies stored as another portal's notice)")
    errors = []
    for name in sorted(set(cfg.sources) | set(marks) | set(notices)):
        wm = marks.get(name)
        src = cfg.sources.get(name)
        failing = bool(wm and wm.last_error and (wm.last_success_at is None
                                                 or (wm.last_error_at and wm.last_error_at >= wm.last_success_at)))
        if failing:
            errors.append(styled("red", name, f" failed at {_when(wm.last_error_at)}: {wm.last_error}"))
        state = "" if src and src.enabled else " (disabled)" if src else " (not configured)"
        last_error = f"{_when(wm.last_error_at)} {_short(wm.last_error)}" if wm and wm.last_error else "-"
        table.add_row(styled("red", name, state) if failing else name + state, _when(wm.last_success_at if wm else None),
                      _when(wm.position if wm else None), str(notices.get(name, 0)), str(merged.get(name, 0)),
                      str(held.get(name, 0)), last_error)
    console.print(table)
    for line in errors:
        console.print(line, highlight=False, soft_wrap=True)
    _audit_table(cfg)


def _audit_table(cfg) -> None:  # noqa: ANN001
    """Per source whose notice ids form a sequence (Find a Tender): ids held, open gaps, residue, oldest open
    gap, last complete window."""
    from sqlmodel import select

    from matcher.ingest.audit import sequence_state
    from matcher.sources.registry import SOURCES
    from matcher.store import session_scope
    from matcher.store.models import PollWindow

    names = [n for n, c in SOURCES.items() if getattr(c, "audits_ids", False) and n in cfg.sources]
    if not names:
        return
    table = _table("source", "ids held", "open gaps", "oldest open gap", "residue", "last complete window",
                   title="Completeness by notice id (gaps: ids missing between ids held; residue: ids never published)")
    with session_scope(engine_for(cfg)) as s:
        for name in names:
            state = sequence_state(s, name, cfg.sources[name].residue_retries)
            last = s.exec(select(PollWindow).where(PollWindow.source == name)
                          .order_by(PollWindow.end.desc(), PollWindow.id.desc())).first()  # type: ignore[union-attr]
            window = (f"{last.start:%Y-%m-%d %H:%M:%S} .. {last.end:%H:%M:%S}" + (" (links.next)" if last.walked else "")
                      if last else "-")
            gaps = str(len(state.open_ids))
            table.add_row(name, str(state.ids_held), Text(gaps, style="red") if state.open_ids else gaps,
                          state.oldest_gap or "-", str(state.residue), window)
    console.print(table)


def _short(text: str | None, limit: int = 60) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@replay_app.command("serve")
def serve(
    port: int = typer.Option(8765, "--port", "-p", help="Port on 127.0.0.1 (0 picks a free one)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    dm_day: str = typer.Option(None, "--dm-day", help="Digital Marketplace recording day to serve; default: the latest."),
    fault: list[str] = typer.Option([], "--fault", help="Inject a fault, e.g. 'rate_limit_403@/Published' or "
                                    "'status:status=429,retry_after=5'; repeatable, consumed in order."),
) -> None:
    """Serve the bundled portal recordings until interrupted (point base_url in config.toml at it)."""
    from matcher.replay import Fault, recording_dates, start_replay
    from matcher.replay.server import SERVED_SOURCES

    try:
        faults = [Fault.parse(f) for f in fault]
        server = start_replay(faults=faults, host=host, port=port, dm_day=dm_day)
    except (ValueError, OSError) as e:
        fail(str(e), 2)
    dates = recording_dates()
    console.print(f"replay server on {server.url}", highlight=False)
    for name in SERVED_SOURCES:
        day = server.dm_day if name == "digital_marketplace" else dates.get(name)
        console.print(f"  [sources.{name}] base_url = \"{server.base_url(name)}\"   (recorded {day})", highlight=False, markup=False)
    err_console.print("Ctrl-C to stop")
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


def register(app: typer.Typer) -> None:
    app.command("poll")(poll)
    app.add_typer(sources_app, name="sources")
    app.add_typer(replay_app, name="replay")
