"""Admin commands on the stored matching: `matcher preview` (what SMEs would get with other settings) and
`matcher feedback` (store an SME's verdict on a notice; the email's links do the same)."""
from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.text import Text
from rich.table import Table

from matcher.cli.common import ConfigOption, NowOption, console, engine_for, err_console, fail, load, parse_now_option, styled


def preview_cmd(
    threshold: float = typer.Option(None, "--threshold", help="Proposed threshold (calibrated score, 0-1)."),
    weight: list[str] = typer.Option(None, "--weight", "-w", help="Proposed weight as name=value (dense, lexical, keyword, cpv); repeatable."),
    now: str = NowOption,
    profile: list[str] = typer.Option(None, "--profile", "-p", help="Only this profile (repeatable)."),
    show: int = typer.Option(5, "--show", min=0, help="Items listed per SME entering and leaving."),
    as_json: bool = typer.Option(False, "--json", help="Print the preview as JSON."),
    config: Path = ConfigOption,
) -> None:
    """How many items each SME would get this week with the proposed settings, and which items would enter or leave
    compared with the current config. Reads the stored notices, profiles and feedback; writes nothing."""
    from matcher.embed import EmbeddingError
    from matcher.quality.preview import PreviewError, preview, proposed_config

    cfg = load(config)
    when = parse_now_option(now)
    try:
        proposed = proposed_config(cfg.matching, threshold, weight or [])
    except PreviewError as e:
        fail(str(e), 2)
    engine = engine_for(cfg)
    try:
        report = preview(cfg, engine, when, proposed, profile or None)
    except EmbeddingError as e:
        fail(str(e), 2)
    finally:
        engine.dispose()
    if as_json:
        typer.echo(json.dumps(report.as_json(), indent=2))
        return
    changes = ", ".join(f"{k} {a:g} -> {b:g}" for k, (a, b) in report.changes.items()) or "no change (same as the config)"
    table = Table("SME", "now", "proposed", "entering", "leaving", "verdicts",
                  title=f"{report.week}: {report.candidates} candidate notices; proposed: {changes}")
    for sme in report.smes:
        table.add_row(f"{sme.profile_id} ({sme.name})", str(sme.now), str(sme.proposed), f"+{len(sme.entering)}",
                      f"-{len(sme.leaving)}", str(sme.verdicts))
    console.print(table)
    score = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731
    for sme in report.smes:
        for sign, items in (("+", sme.entering), ("-", sme.leaving)):
            for item in items[:show]:
                console.print(f"{sme.profile_id} {sign} {item.key}  {item.title[:70]}  (score now {score(item.score_now)}, "
                              f"proposed {score(item.score_proposed)})", highlight=False, markup=False, soft_wrap=True)
            if len(items) > show:
                console.print(f"{sme.profile_id} {sign} ... {len(items) - show} more", highlight=False)
    for err in report.errors:
        err_console.print(styled("yellow", "skipped", f" {err}"), highlight=False, soft_wrap=True)
    console.print("Nothing was written. A score of - is below that setting's threshold or filtered out."
                  + (f" {report.embedded_now} text(s) missing from the vector cache were embedded for this preview only."
                     if report.embedded_now else ""), highlight=False)


def feedback_cmd(
    profile_id: str = typer.Argument(..., metavar="PROFILE", help="The SME's profile id."),
    notice_key: str = typer.Argument(..., metavar="NOTICE", help="The notice key (OCDS ocid or dm-<id>)."),
    verdict: str = typer.Argument(..., metavar="VERDICT", help="relevant, not-relevant, or clear (undo: no verdict)"),
    reason: str = typer.Option(None, "--reason", help="What was wrong (a not-relevant verdict), as the email's page asks."),
    config: Path = ConfigOption,
) -> None:
    """Store an SME's verdict on a notice; its next rankings move towards what it liked and away from what it
    rejected, and rejected notices and their near-copies are no longer matched ([matching.feedback])."""
    from matcher.store.feedback import FeedbackError, clear_verdict, record_verdict
    from matcher.store import session_scope

    cfg = load(config)
    engine = engine_for(cfg)
    verdict = verdict.strip().lower().replace("_", "-").replace(" ", "-")
    try:
        with session_scope(engine) as s:
            if verdict == "clear":
                removed = clear_verdict(s, profile_id, notice_key)
                console.print(Text(f"cleared: {profile_id} / {notice_key}" + (f" (was {removed})" if removed else " (had no verdict)")))
                return
            done = record_verdict(s, profile_id, notice_key, verdict, via="cli", reason=reason)
    except FeedbackError as e:
        fail(str(e), 2)
    finally:
        engine.dispose()
    before = f" (was {done.replaced})" if done.replaced and done.replaced != done.verdict else ""
    console.print(f"stored: {done.profile_id} finds {done.notice_key} {done.verdict}{before}", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("preview")(preview_cmd)
    app.command("feedback")(feedback_cmd)
