"""`matcher db`: the store's schema: upgrade it (Alembic migrations), show its revision, write a new revision."""
from __future__ import annotations

from pathlib import Path

import typer

from matcher.config import mask_url
from matcher.cli.common import ConfigOption, console, fail, load
from matcher.config import Config

db_app = typer.Typer(help="The store's schema: upgrade it after installing a new release.", no_args_is_help=True)


def upgrade_store(cfg: Config) -> None:
    """Upgrade (or create) the configured store, printing from which revision to which; SchemaError -> exit 1."""
    from matcher.store import make_engine
    from matcher.store.migrate import SchemaError, upgrade

    try:
        before, after = upgrade(make_engine(cfg.database_url()))
    except SchemaError as e:
        fail(f"{mask_url(cfg.database_url())}: {e}")
    if before == after:
        console.print(f"schema: at revision {after} (this release's)", highlight=False)
    else:
        console.print(f"schema: upgraded from {'an empty store or release 0.1.0' if before is None else before} "
                      f"to {after}", highlight=False)


@db_app.command("upgrade")
def db_upgrade(config: Path = ConfigOption) -> None:
    """Upgrade the store to this release's schema, keeping every row (back it up first). Safe to run twice."""
    upgrade_store(load(config))


@db_app.command("current")
def db_current(config: Path = ConfigOption) -> None:
    """Show the store's schema revision and this release's."""
    from matcher.store import make_engine
    from matcher.store.migrate import current_revision, head_revision

    cfg = load(config)
    current, head = current_revision(make_engine(cfg.database_url())), head_revision()
    state = "up to date" if current == head else "run `matcher db upgrade`"
    console.print(f"store: {current or 'no revision (empty, or made by release 0.1.0)'}\nthis release: {head}\n{state}", highlight=False)


@db_app.command("revision")
def db_revision(message: str = typer.Option(..., "--message", "-m", help="What the models changed.")) -> None:
    """For developers: write a migration for what the models changed since the newest revision."""
    from matcher.store.migrate import new_revision

    files = new_revision(message)
    for f in files:
        console.print(f"wrote {f}: review it (autogenerate cannot see renames) and commit it", highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
