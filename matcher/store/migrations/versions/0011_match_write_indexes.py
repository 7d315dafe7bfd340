"""Fewer indexes kept up on every match row written: drop match.profile_id's (the unique key (profile_id,
notice_key, week) starts with it) and match.notice_key's (no query looks matches up by notice alone); the digest
items index holds only rows in a digest (a partial index, WHERE digest_id IS NOT NULL), so the week's new
matches skip it until a digest takes them

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

IN_A_DIGEST = sa.text('digest_id IS NOT NULL')


def upgrade() -> None:
    op.drop_index('ix_match_profile_id', table_name='match')
    op.drop_index('ix_match_notice_key', table_name='match')
    op.drop_index('ix_match_digest_items', table_name='match')
    op.create_index('ix_match_digest_items', 'match', ['digest_id', 'profile_id', 'notice_key'], unique=False,
                    sqlite_where=IN_A_DIGEST, postgresql_where=IN_A_DIGEST)


def downgrade() -> None:
    op.drop_index('ix_match_digest_items', table_name='match')
    op.create_index('ix_match_digest_items', 'match', ['digest_id', 'profile_id', 'notice_key'], unique=False)
    op.create_index('ix_match_notice_key', 'match', ['notice_key'], unique=False)
    op.create_index('ix_match_profile_id', 'match', ['profile_id'], unique=False)
