"""Notice: notice type, lots, engagement deadline, reserved, framework, gross value (OCDS fields of every portal)

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01

The columns commit 6327d4d added to the model (landed before migrations existed on main).
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('notice', schema=None) as batch_op:
        batch_op.add_column(sa.Column('notice_type', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True))
        batch_op.add_column(sa.Column('notice_type_raw', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True))
        batch_op.add_column(sa.Column('lots', sa.JSON(), nullable=False, server_default='[]'))  # rows already there: no lots
        batch_op.add_column(sa.Column('engagement_deadline', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('reserved', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True))
        batch_op.add_column(sa.Column('is_framework', sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column('value_gross', sa.Float(), nullable=True))
        batch_op.create_index(batch_op.f('ix_notice_notice_type'), ['notice_type'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('notice', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notice_notice_type'))
        batch_op.drop_column('value_gross')
        batch_op.drop_column('is_framework')
        batch_op.drop_column('reserved')
        batch_op.drop_column('engagement_deadline')
        batch_op.drop_column('lots')
        batch_op.drop_column('notice_type_raw')
        batch_op.drop_column('notice_type')
