"""Commands that run the pipeline: run (scheduler or --once) and demo."""
from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from matcher.cli.common import ConfigOption, NowOption, console, engine_for, fail, load, parse_now_option


def run(
    once: bool = typer.Option(False, "--once", help="Run poll -> match -> digest once, then exit."),
    now: str = NowOption,
    config: Path = ConfigOption,
) -> None:
    """Run the scheduler in the foreground (poll every N minutes, weekly and daily digests), or everything once."""
    cfg = load(config)
    engine = engine_for(cfg)
    from matcher.deliver.secrets import ensure_secret

    ensure_secret(cfg)
    if once:
        from jobs.pipeline import run_once
        from matcher.store.leader import leader_lock

        lock = leader_lock(engine)
        if not lock.try_acquire():
            fail("a `matcher run` scheduler leads on this store: `run --once` would poll and send beside it; "
                 "stop it first (or let it do the work)")
        try:
            report = run_once(cfg, engine, parse_now_option(now))
        finally:
            lock.release()
        for table in summary_tables(report):
            console.print(table)
        return
    from jobs.scheduler import run_forever

    console.print("scheduler running; Ctrl-C or SIGTERM stops it after running jobs finish")
    run_forever(cfg, engine)


def summary_tables(report) -> list[Table]:  # noqa: ANN001 - a pipeline.PipelineReport
    """What `run --once` did: notices per source, matches, digests by state."""
    polled = Table(title="Poll")
    polled.add_column("source", no_wrap=True)
    for name in ("new", "updated", "unchanged", "quarantined", "requests", "seconds"):
        polled.add_column(name, justify="right")
    polled.add_column("result", overflow="fold")
    for r in report.poll or []:
        polled.add_row(r.source, str(r.inserted), str(r.updated + r.merged), str(r.unchanged + r.skipped),
                       str(r.quarantined), str(r.requests), f"{r.seconds:.1f}", "ok" if r.ok else f"failed: {r.error}")
    tables = [polled]
    runs = [m for m in (report.match, getattr(report, "daily_match", None)) if m is not None]
    if runs:
        matched = Table("week", "SMEs", "candidate notices", "matches", "SMEs with none", "errors", title="Match")
        for m in runs:
            nothing = sum(1 for n in m.per_profile.values() if not n)
            matched.add_row(m.week, str(m.profiles), str(m.candidates), str(m.written), str(nothing), str(len(m.errors)))
        tables.append(matched)
    sends = [d for d in (report.digest, getattr(report, "daily_digest", None)) if d is not None]
    if sends:
        digests = Table("week", "sent", "failed", "empty", "other", title="Digests")
        for d in sends:
            states = dict(d.states)
            other = ", ".join(f"{n} {s}" for s, n in sorted(states.items()) if s not in ("sent", "failed", "empty")) or "-"
            digests.add_row(d.week, str(states.get("sent", 0)), str(states.get("failed", 0)), str(states.get("empty", 0)), other)
        tables.append(digests)
    return tables


def demo(
    workdir: Path = typer.Option(Path("demo"), "--dir", help="Where the demo's store, config and outbox go."),
    now: str = typer.Option(None, "--now", help="Override 'today' (default: the recording date of the data)."),
) -> None:
    """Run the whole pipeline offline on the bundled real recordings (replayed on 127.0.0.1)."""
    from matcher.replay.demo import run_demo

    cfg, rows, today = run_demo(workdir, parse_now_option(now) if now else None)
    outbox = cfg.path(cfg.delivery.outbox_dir).resolve()
    table = Table("SME", "name", "matches", "digest", "top item", "score", title=f"Digests as of {today:%Y-%m-%d}")
    for r in rows:
        table.add_row(r.profile_id, r.name, str(r.matches), r.state, (r.top_title or "-")[:60],
                      f"{r.top_score:.2f}" if r.top_score is not None else "-")
    console.print(table)
    sent = sum(1 for r in rows if r.matches)
    reminders = sorted((outbox / "reminders").glob("*.eml")) if (outbox / "reminders").is_dir() else []
    from matcher.digest.buyers import buyer_index
    from matcher.store import session_scope

    with session_scope(engine_for(cfg)) as s:
        buyers = [b for b in buyer_index(s).ranked() if b.contracts]
    console.print(f"\n{len(reminders)} deadline reminder(s) written to {outbox / 'reminders'} (the reminder job run for "
                  f"each of the next 14 days)\n{len(buyers)} buyers with award history from the recordings' award "
                  f"notices: matcher buyers --config {workdir / 'config.toml'}", highlight=False)
    console.print(f"\n{sent} digests written to {outbox}\nconfig used: {(workdir / 'config.toml').resolve()}"
                  f"\ntry: matcher digest preview {next((r.profile_id for r in rows if r.matches), 'PROFILE_ID')} "
                  f"--config {workdir / 'config.toml'}",
                  highlight=False)


def register(app: typer.Typer) -> None:
    app.command("run")(run)
    app.command("demo")(demo)
