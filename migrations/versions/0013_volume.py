"""consent events keep when a choice was made (occurred_at) beside when it was received

Revision ID: 0013_volume
Revises: 0012_sar
Create Date: 2026-11-29 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import consentry.db

revision = '0013_volume'
down_revision = '0012_sar'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('consent_events') as batch:
        batch.add_column(sa.Column('occurred_at', consentry.db.UTCDateTime(timezone=True),
                                   nullable=True))
    # Every event so far was made when it was received.
    op.execute('UPDATE consent_events SET occurred_at = received_at')
    with op.batch_alter_table('consent_events') as batch:
        batch.alter_column('occurred_at', existing_type=consentry.db.UTCDateTime(timezone=True),
                           nullable=False)
    op.create_index('ix_consent_events_subject_id_occurred_at_id', 'consent_events',
                    ['subject_id', 'occurred_at', 'id'])


def downgrade() -> None:
    op.drop_index('ix_consent_events_subject_id_occurred_at_id', table_name='consent_events')
    with op.batch_alter_table('consent_events') as batch:
        batch.drop_column('occurred_at')
