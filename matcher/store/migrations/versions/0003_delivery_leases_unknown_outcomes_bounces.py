"""delivery leases, unknown outcomes, bounces

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01

Digest: claim token, lease, handover time and unknown-outcome count (the delivery guarantee); Profile: hard
bounces and pause.
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('digest', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claim_token', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True))
        batch_op.add_column(sa.Column('lease_until', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('handed_over_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('unknown_outcomes', sa.Integer(), nullable=False, server_default='0'))

    with op.batch_alter_table('profile', schema=None) as batch_op:
        batch_op.add_column(sa.Column('bounces', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('bouncing_since', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('last_bounce', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('paused_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('paused_reason', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('profile', schema=None) as batch_op:
        batch_op.drop_column('paused_reason')
        batch_op.drop_column('paused_at')
        batch_op.drop_column('last_bounce')
        batch_op.drop_column('bouncing_since')
        batch_op.drop_column('bounces')

    with op.batch_alter_table('digest', schema=None) as batch_op:
        batch_op.drop_column('unknown_outcomes')
        batch_op.drop_column('handed_over_at')
        batch_op.drop_column('lease_until')
        batch_op.drop_column('claim_token')
