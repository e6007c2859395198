"""audit export: signed checkpoints (tree heads) and the record of each export bundle

Revision ID: 0005_audit_export
Revises: 0004_retention
Create Date: 2026-11-28 21:29:40.233660
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import consentry.db

revision = '0005_audit_export'
down_revision = "0004_retention"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('audit_checkpoints',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tree_size', sa.BigInteger(), nullable=False),
    sa.Column('root_hash', sa.String(length=64), nullable=False),
    sa.Column('ts', consentry.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('kid', sa.String(length=100), nullable=False),
    sa.Column('signature', sa.String(length=200), nullable=False),
    sa.Column('reason', sa.String(length=20), nullable=False),
    sa.Column('frontier', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_checkpoints')),
    sa.UniqueConstraint('tree_size', name=op.f('uq_audit_checkpoints_tree_size'))
    )
    op.create_table('audit_exports',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('created_at', consentry.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('exporter', sa.String(length=100), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('since', consentry.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('until', consentry.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('subject_ref', sa.String(length=64), nullable=True),
    sa.Column('action', sa.String(length=64), nullable=True),
    sa.Column('format', sa.String(length=10), nullable=False),
    sa.Column('checkpoint_size', sa.BigInteger(), nullable=False),
    sa.Column('count', sa.BigInteger(), nullable=False),
    sa.Column('path', sa.String(length=1000), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size_bytes', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_exports'))
    )
    with op.batch_alter_table('audit_exports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_exports_created_at'), ['created_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('audit_exports', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_exports_created_at'))

    op.drop_table('audit_exports')
    op.drop_table('audit_checkpoints')
