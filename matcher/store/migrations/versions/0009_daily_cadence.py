"""Daily cadence: each week outcome keeps the cut-off of its match run (week_outcome.seen_until)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01

Rows already there keep none: a daily SME's next digest then counts from the start of that period.
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('weekoutcome', schema=None) as batch_op:
        batch_op.add_column(sa.Column('seen_until', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('weekoutcome', schema=None) as batch_op:
        batch_op.drop_column('seen_until')
