"""privacy requests (DSAR) and their append-only history of transitions

Revision ID: 0017_requests
Revises: 0014_writepath
Create Date: 2026-12-07 06:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import consentry.db

revision = '0017_requests'
down_revision = '0014_writepath'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'privacy_requests',
        sa.Column('id', sa.String(length=32), nullable=False),
        sa.Column('subject_id', sa.String(length=128), nullable=False),
        sa.Column('type', sa.String(length=16), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('jurisdiction', sa.String(length=64), nullable=False),
        sa.Column('source', sa.String(length=64), nullable=False),
        sa.Column('note', sa.Text(), nullable=True),
        sa.Column('received_at', consentry.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('due_at', consentry.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('extended', sa.Boolean(), nullable=False),
        sa.Column('export_id', sa.String(length=32), nullable=True),
        sa.Column('erasure_id', sa.String(length=32), nullable=True),
        sa.Column('created_by', sa.String(length=100), nullable=False),
        sa.Column('created_at', consentry.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('closed_at', consentry.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_privacy_requests')),
    )
    with op.batch_alter_table('privacy_requests', schema=None) as batch_op:
        batch_op.create_index('ix_privacy_requests_due_at_id', ['due_at', 'id'], unique=False)
        batch_op.create_index('ix_privacy_requests_status_due_at', ['status', 'due_at'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_privacy_requests_subject_id'), ['subject_id'],
                              unique=False)
    op.create_table(
        'privacy_request_history',
        sa.Column('request_id', sa.String(length=32), nullable=False),
        sa.Column('seq', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('at', consentry.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('actor', sa.String(length=100), nullable=False),
        sa.Column('reason', sa.Text(), nullable=True),
        sa.Column('due_at', consentry.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['request_id'], ['privacy_requests.id'],
                                name=op.f('fk_privacy_request_history_request_id_privacy_requests'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('request_id', 'seq', name=op.f('pk_privacy_request_history')),
    )


def downgrade() -> None:
    op.drop_table('privacy_request_history')
    with op.batch_alter_table('privacy_requests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_privacy_requests_subject_id'))
        batch_op.drop_index('ix_privacy_requests_status_due_at')
        batch_op.drop_index('ix_privacy_requests_due_at_id')
    op.drop_table('privacy_requests')
