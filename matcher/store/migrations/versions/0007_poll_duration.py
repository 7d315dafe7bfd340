"""Watermark: how long the last poll took, and when (metrics)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 10:30:48.304835
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('watermark', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_poll_seconds', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('last_poll_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('watermark', schema=None) as batch_op:
        batch_op.drop_column('last_poll_at')
        batch_op.drop_column('last_poll_seconds')

