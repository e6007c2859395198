"""audit export jobs: exports are queued work the scheduler carries out

Revision ID: 0006_audit_export_jobs
Revises: 0005_audit_export
Create Date: 2026-12-01 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import consentry.db

revision = '0006_audit_export_jobs'
down_revision = '0005_audit_export'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('audit_export_jobs',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('requested_by', sa.String(length=100), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('since', consentry.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('until', consentry.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('subject_id', sa.String(length=128), nullable=True),
    sa.Column('subject_ref', sa.String(length=64), nullable=True),
    sa.Column('action', sa.String(length=64), nullable=True),
    sa.Column('format', sa.String(length=10), nullable=False),
    sa.Column('export_id', sa.String(length=32), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('holder', sa.String(length=200), nullable=True),
    sa.Column('created_at', consentry.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('started_at', consentry.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('heartbeat_at', consentry.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('finished_at', consentry.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_export_jobs'))
    )
    with op.batch_alter_table('audit_export_jobs', schema=None) as batch_op:
        batch_op.create_index('ix_audit_export_jobs_status_created_at',
                              ['status', 'created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('audit_export_jobs', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_export_jobs_status_created_at')

    op.drop_table('audit_export_jobs')
