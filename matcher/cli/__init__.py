"""The `matcher` command: thin; each command module registers its commands and calls the rooms."""
from __future__ import annotations

import logging

import typer

app = typer.Typer(
    help="SME Opportunity Matcher: poll UK procurement portals, match notices to SME profiles, send weekly digests.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _main(verbose: bool = typer.Option(False, "--verbose", "-v", help="Log progress and retries.")) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _register() -> None:
    from matcher.cli import account_cmd, champion_cmd, core, db_cmd, digest_cmd, preview_cmd, quality_cmd, run_cmd, sources_cmd, tune_cmd

    for module in (core, account_cmd, db_cmd, sources_cmd, quality_cmd, tune_cmd, preview_cmd, digest_cmd, champion_cmd, run_cmd):
        module.register(app)


_register()
