"""Baseline: the schema of release 0.1.0, the last made without migrations (SQLModel create_all).

Revision ID: 0001
Revises:
Create Date: 2026-12-01

A store made by 0.1.0 is stamped with this revision, not migrated by it (matcher.store.migrate.upgrade);
tests/data/store-0.1.0.sqlite.gz is such a store. Never edit this file: add a revision.
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('digest',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('profile_id', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('week', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('state', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('message_id', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True),
    sa.Column('item_count', sa.Integer(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('claimed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('sent_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('profile_id', 'week')
    )
    with op.batch_alter_table('digest', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_digest_profile_id'), ['profile_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_digest_state'), ['state'], unique=False)
        batch_op.create_index(batch_op.f('ix_digest_week'), ['week'], unique=False)

    op.create_table('embedding',
    sa.Column('text_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('model', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('dim', sa.Integer(), nullable=False),
    sa.Column('vector', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('text_hash', 'model')
    )
    op.create_table('feedback',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('profile_id', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('notice_key', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('verdict', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('via', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('profile_id', 'notice_key')
    )
    with op.batch_alter_table('feedback', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_feedback_profile_id'), ['profile_id'], unique=False)

    op.create_table('match',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('profile_id', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('notice_key', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('week', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('rank', sa.Integer(), nullable=False),
    sa.Column('dense', sa.Float(), nullable=False),
    sa.Column('lexical', sa.Float(), nullable=False),
    sa.Column('keyword', sa.Float(), nullable=False),
    sa.Column('cpv', sa.Float(), nullable=False),
    sa.Column('raw_score', sa.Float(), nullable=False),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('explanation', sa.JSON(), nullable=False),
    sa.Column('digest_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('profile_id', 'notice_key', 'week')
    )
    with op.batch_alter_table('match', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_match_digest_id'), ['digest_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_match_notice_key'), ['notice_key'], unique=False)
        batch_op.create_index(batch_op.f('ix_match_profile_id'), ['profile_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_match_week'), ['week'], unique=False)

    op.create_table('notice',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('release_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('title', sa.Text(), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('buyer', sa.Text(), nullable=True),
    sa.Column('cpv', sa.JSON(), nullable=False),
    sa.Column('regions', sa.JSON(), nullable=False),
    sa.Column('postcode', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
    sa.Column('value_min', sa.Float(), nullable=True),
    sa.Column('value_max', sa.Float(), nullable=True),
    sa.Column('currency', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=True),
    sa.Column('published_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('closes_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('url', sa.Text(), nullable=True),
    sa.Column('sme_suitable', sa.Boolean(), nullable=True),
    sa.Column('vcse_suitable', sa.Boolean(), nullable=True),
    sa.Column('stage', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('procurement_method', sa.Text(), nullable=True),
    sa.Column('sections', sa.JSON(), nullable=False),
    sa.Column('suppliers', sa.JSON(), nullable=False),
    sa.Column('links', sa.JSON(), nullable=False),
    sa.Column('raw', sa.JSON(), nullable=False),
    sa.Column('content_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('first_seen', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('last_seen', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('notice', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notice_closes_at'), ['closes_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_notice_first_seen'), ['first_seen'], unique=False)
        batch_op.create_index(batch_op.f('ix_notice_key'), ['key'], unique=True)
        batch_op.create_index(batch_op.f('ix_notice_source'), ['source'], unique=False)

    op.create_table('noticealias',
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('canonical_key', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('first_seen', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('merged_release_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('key')
    )
    with op.batch_alter_table('noticealias', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_noticealias_canonical_key'), ['canonical_key'], unique=False)
        batch_op.create_index(batch_op.f('ix_noticealias_source'), ['source'], unique=False)

    op.create_table('profile',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('email', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('capabilities', sa.Text(), nullable=False),
    sa.Column('keywords', sa.JSON(), nullable=False),
    sa.Column('cpv', sa.JSON(), nullable=False),
    sa.Column('regions', sa.JSON(), nullable=False),
    sa.Column('exclude', sa.JSON(), nullable=False),
    sa.Column('value_min', sa.Float(), nullable=True),
    sa.Column('value_max', sa.Float(), nullable=True),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('unsubscribed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('quarantined',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('payload_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('quarantined', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_quarantined_payload_hash'), ['payload_hash'], unique=False)
        batch_op.create_index(batch_op.f('ix_quarantined_source'), ['source'], unique=False)

    op.create_table('seenrelease',
    sa.Column('fingerprint', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('seen_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('fingerprint')
    )
    op.create_table('watermark',
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('position', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('cursor', sa.Text(), nullable=True),
    sa.Column('last_success_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('last_error_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('source')
    )


def downgrade() -> None:
    op.drop_table('watermark')
    op.drop_table('seenrelease')
    with op.batch_alter_table('quarantined', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_quarantined_source'))
        batch_op.drop_index(batch_op.f('ix_quarantined_payload_hash'))

    op.drop_table('quarantined')
    op.drop_table('profile')
    with op.batch_alter_table('noticealias', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_noticealias_source'))
        batch_op.drop_index(batch_op.f('ix_noticealias_canonical_key'))

    op.drop_table('noticealias')
    with op.batch_alter_table('notice', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notice_source'))
        batch_op.drop_index(batch_op.f('ix_notice_key'))
        batch_op.drop_index(batch_op.f('ix_notice_first_seen'))
        batch_op.drop_index(batch_op.f('ix_notice_closes_at'))

    op.drop_table('notice')
    with op.batch_alter_table('match', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_match_week'))
        batch_op.drop_index(batch_op.f('ix_match_profile_id'))
        batch_op.drop_index(batch_op.f('ix_match_notice_key'))
        batch_op.drop_index(batch_op.f('ix_match_digest_id'))

    op.drop_table('match')
    with op.batch_alter_table('feedback', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_feedback_profile_id'))

    op.drop_table('feedback')
    op.drop_table('embedding')
    with op.batch_alter_table('digest', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_digest_week'))
        batch_op.drop_index(batch_op.f('ix_digest_state'))
        batch_op.drop_index(batch_op.f('ix_digest_profile_id'))

    op.drop_table('digest')
