"""Match sets: the match job stores what it chose for each SME and period as one MatchSet (a JSON list of items,
shared by SMEs with the same list), named by the SME's week outcome (weekoutcome.match_set); Match rows are now
only the items a digest lists

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01

Match rows no digest took are moved into sets: per (SME, period), in rank order, one set per distinct list, named
by the SME's week outcome (one is made, from the items, where the period had none), then deleted from match.
"""
import hashlib
import json
from datetime import UTC, datetime
from itertools import groupby

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

# the items' fields, in this order (store/match_sets.py ITEM_FIELDS at this revision)
FIELDS = ('notice_key', 'rank', 'dense', 'lexical', 'keyword', 'cpv', 'raw_score', 'score', 'explanation')

match = sa.table('match', sa.column('id', sa.Integer), sa.column('profile_id', sa.String), sa.column('week', sa.String),
                 sa.column('digest_id', sa.Integer), *(sa.column(f, sa.JSON if f == 'explanation' else None)
                                                       for f in FIELDS))
matchset = sa.table('matchset', sa.column('week', sa.String), sa.column('key', sa.String), sa.column('items', sa.Text),
                    sa.column('created_at', sqlmodel.sql.sqltypes.UTCDateTime()))
outcome = sa.table('weekoutcome', sa.column('profile_id', sa.String), sa.column('week', sa.String),
                   sa.column('matched', sa.Integer), sa.column('best_score', sa.Float),
                   sa.column('best_notice_key', sa.String), sa.column('match_set', sa.String),
                   sa.column('created_at', sqlmodel.sql.sqltypes.UTCDateTime()))


def upgrade() -> None:
    op.create_table('matchset',
    sa.Column('week', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('items', sa.Text(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('week', 'key')
    )
    with op.batch_alter_table('weekoutcome', schema=None) as batch_op:
        batch_op.add_column(sa.Column('match_set', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True))
    _move_unattached_matches(op.get_bind())


def _move_unattached_matches(conn) -> None:  # noqa: ANN001
    now = datetime.now(UTC)
    rows = conn.execute(sa.select(match.c.profile_id, match.c.week, *(match.c[f] for f in FIELDS))
                        .where(match.c.digest_id.is_(None))
                        .order_by(match.c.week, match.c.profile_id, match.c.rank, match.c.notice_key)).all()
    have = {(p, w) for p, w in conn.execute(sa.select(outcome.c.profile_id, outcome.c.week))}
    made: set[tuple[str, str]] = set()
    for (pid, week), group in groupby(rows, key=lambda r: (r[0], r[1])):
        items = [dict(zip(FIELDS, r[2:])) for r in group]
        text = json.dumps(items, separators=(',', ':'), ensure_ascii=False)
        key = hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
        if (week, key) not in made:
            made.add((week, key))
            conn.execute(matchset.insert().values(week=week, key=key, items=text, created_at=now))
        if (pid, week) in have:
            conn.execute(outcome.update().where(outcome.c.profile_id == pid, outcome.c.week == week)
                         .values(match_set=key))
        else:
            best = max(items, key=lambda i: i['score'])
            conn.execute(outcome.insert().values(profile_id=pid, week=week, matched=len(items), best_score=best['score'],
                                                 best_notice_key=best['notice_key'], match_set=key, created_at=now))
    conn.execute(match.delete().where(match.c.digest_id.is_(None)))


def downgrade() -> None:
    with op.batch_alter_table('weekoutcome', schema=None) as batch_op:
        batch_op.drop_column('match_set')
    op.drop_table('matchset')
