"""The `matcher` command: thin; each command module registers its commands and calls the rooms."""
from __future__ import annotations

import typer

app = typer.Typer(
    help="SME Opportunity Matcher: poll UK procurement portals, match notices to SME profiles, send weekly digests.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _main(
    ctx: typer.Context,
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log progress and retries."),
    log_format: str = typer.Option("text", "--log-format", envvar="MATCHER_LOG_FORMAT",
                                   help="text, or json: one JSON object per log line (for a log collector)."),
) -> None:
    from matcher.logs import setup_logging

    if log_format not in ("text", "json"):
        raise typer.BadParameter("must be text or json", param_hint="--log-format")
    redirect = setup_logging(verbose=verbose, json_lines=log_format == "json")
    if redirect is not None:  # progress bars on a terminal: log lines print above them, not through them
        ctx.with_resource(redirect)


def _register() -> None:
    from matcher.cli import (
        account_cmd, buyers_cmd, champion_cmd, core, db_cmd, digest_cmd, preview_cmd, quality_cmd, run_cmd, sources_cmd,
        tune_cmd,
    )

    for module in (core, account_cmd, db_cmd, sources_cmd, quality_cmd, tune_cmd, preview_cmd, digest_cmd, champion_cmd,
                   buyers_cmd, run_cmd):
        module.register(app)


_register()
