"""Alembic environment, run by matcher.store.migrate (`matcher db upgrade`, `matcher init`, `matcher db revision`).

migrate opens the connection (one transaction, holding the migration lock) and passes it in
config.attributes["connection"]; revisions are compared against the SQLModel tables of matcher.store.models.
"""
from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import matcher.store.models as tables

config = context.config


def run(connection) -> None:  # noqa: ANN001
    assert tables.Notice  # the import registered the tables
    context.configure(
        connection=connection,
        target_metadata=SQLModel.metadata,
        render_as_batch=True,  # SQLite cannot ALTER most things: batch mode rebuilds the table, keeping its rows
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported: run `matcher db upgrade` against the store")
if config.attributes.get("connection") is None:
    raise SystemExit("run migrations through `matcher db upgrade` (matcher.store.migrate), which opens the store")
run(config.attributes["connection"])
