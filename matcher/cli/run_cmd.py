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
    """Run the scheduler in the foreground (poll every N minutes, weekly digest), or everything once."""
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
        console.print(f"poll: {report.poll}\nmatch: {report.match}\ndigest: {report.digest}", highlight=False)
        return
    from jobs.scheduler import run_forever

    console.print("scheduler running; Ctrl-C or SIGTERM stops it after running jobs finish")
    run_forever(cfg, engine)


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
    console.print(f"\n{sent} digests written to {outbox}\nconfig used: {(workdir / 'config.toml').resolve()}"
                  f"\ntry: matcher --config {workdir / 'config.toml'} digest preview "
                  f"{next((r.profile_id for r in rows if r.matches), 'PROFILE_ID')}",
                  highlight=False)


def register(app: typer.Typer) -> None:
    app.command("run")(run)
    app.command("demo")(demo)
