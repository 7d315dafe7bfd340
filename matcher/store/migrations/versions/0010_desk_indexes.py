"""Indexes for the champions' overview: a digest's items by (digest, SME, notice) read from the index alone
(replaces the index on match.digest_id alone), and notice.last_seen (the desk's data fingerprint reads its max)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""
from alembic import op


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('match', schema=None) as batch_op:
        batch_op.create_index('ix_match_digest_items', ['digest_id', 'profile_id', 'notice_key'], unique=False)
        batch_op.drop_index('ix_match_digest_id')
    with op.batch_alter_table('notice', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notice_last_seen'), ['last_seen'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('notice', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notice_last_seen'))
    with op.batch_alter_table('match', schema=None) as batch_op:
        batch_op.create_index('ix_match_digest_id', ['digest_id'], unique=False)
        batch_op.drop_index('ix_match_digest_items')
