"""subject state snapshots, so `?at=` replays from near the asked moment

Revision ID: 0008_state_snapshots
Revises: 0007_holds_and_shredding
Create Date: 2026-11-29 08:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import consentry.db

revision = '0008_state_snapshots'
down_revision = '0007_holds_and_shredding'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'subject_state_snapshots',
        sa.Column('subject_id', sa.String(length=128), nullable=False),
        sa.Column('event_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
                  autoincrement=False, nullable=False),
        sa.Column('taken_at', consentry.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('state', sa.JSON(none_as_null=True), nullable=False),
        sa.PrimaryKeyConstraint('subject_id', 'event_id', name=op.f('pk_subject_state_snapshots')),
    )


def downgrade() -> None:
    op.drop_table('subject_state_snapshots')
