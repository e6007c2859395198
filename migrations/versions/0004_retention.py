"""retention: runs, holds, erasures

Revision ID: 0004_retention
Revises: 0003_decisions
Create Date: 2026-11-28 21:25:45.855496
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import consentry.db

revision = '0004_retention'
down_revision = '0003_decisions'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('retention_erasures',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('subject_id', sa.String(length=128), nullable=True),
    sa.Column('subject_ref', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('requested_by', sa.String(length=100), nullable=False),
    sa.Column('report', sa.JSON(), nullable=False),
    sa.Column('certificate', sa.JSON(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('holder', sa.String(length=200), nullable=True),
    sa.Column('created_at', consentry.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('started_at', consentry.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('heartbeat_at', consentry.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('finished_at', consentry.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_retention_erasures'))
    )
    with op.batch_alter_table('retention_erasures', schema=None) as batch_op:
        batch_op.create_index('ix_retention_erasures_status_created_at', ['status', 'created_at'], unique=False)

    op.create_table('retention_holds',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('subject_id', sa.String(length=128), nullable=True),
    sa.Column('category', sa.String(length=64), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('until', consentry.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_by', sa.String(length=100), nullable=False),
    sa.Column('created_at', consentry.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('lifted_at', consentry.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('lifted_by', sa.String(length=100), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_retention_holds'))
    )
    with op.batch_alter_table('retention_holds', schema=None) as batch_op:
        batch_op.create_index('ix_retention_holds_created_at_id', ['created_at', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_retention_holds_subject_id'), ['subject_id'], unique=False)

    op.create_table('retention_runs',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('dry_run', sa.Boolean(), nullable=False),
    sa.Column('trigger', sa.String(length=16), nullable=False),
    sa.Column('requested_by', sa.String(length=100), nullable=False),
    sa.Column('targets', sa.JSON(), nullable=True),
    sa.Column('scheduled_for', consentry.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('resumes', sa.String(length=32), nullable=True),
    sa.Column('cutoffs', sa.JSON(), nullable=False),
    sa.Column('report', sa.JSON(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('holder', sa.String(length=200), nullable=True),
    sa.Column('created_at', consentry.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('started_at', consentry.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('heartbeat_at', consentry.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('finished_at', consentry.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_retention_runs')),
    sa.UniqueConstraint('scheduled_for', name=op.f('uq_retention_runs_scheduled_for'))
    )
    with op.batch_alter_table('retention_runs', schema=None) as batch_op:
        batch_op.create_index('ix_retention_runs_created_at_id', ['created_at', 'id'], unique=False)
        batch_op.create_index('ix_retention_runs_status_created_at', ['status', 'created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('retention_runs', schema=None) as batch_op:
        batch_op.drop_index('ix_retention_runs_status_created_at')
        batch_op.drop_index('ix_retention_runs_created_at_id')

    op.drop_table('retention_runs')
    with op.batch_alter_table('retention_holds', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_retention_holds_subject_id'))
        batch_op.drop_index('ix_retention_holds_created_at_id')

    op.drop_table('retention_holds')
    with op.batch_alter_table('retention_erasures', schema=None) as batch_op:
        batch_op.drop_index('ix_retention_erasures_status_created_at')

    op.drop_table('retention_erasures')
