"""audit entries queued for the sequencer (the chain's head is locked per batch, not per write)

Revision ID: 0014_writepath
Revises: 0013_volume
Create Date: 2026-11-29 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import consentry.db

revision = '0014_writepath'
down_revision = '0013_volume'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'audit_queue',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
                  autoincrement=True, nullable=False),
        sa.Column('ts', consentry.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('actor', sa.String(length=100), nullable=False),
        sa.Column('action', sa.String(length=64), nullable=False),
        sa.Column('subject_ref', sa.String(length=64), nullable=True),
        sa.Column('details', sa.JSON(none_as_null=True), nullable=False),
        sa.Column('changed_subject', sa.String(length=128), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_queue')),
    )


def downgrade() -> None:
    op.drop_table('audit_queue')
