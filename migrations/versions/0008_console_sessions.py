"""erasures keep a reason and list newest first

Revision ID: 0008_console_sessions
Revises: 0006_audit_export_jobs
Create Date: 2026-12-02 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008_console_sessions'
down_revision = '0006_audit_export_jobs'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('retention_erasures', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reason', sa.String(length=500), nullable=True))
        batch_op.create_index('ix_retention_erasures_created_at_id', ['created_at', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('retention_erasures', schema=None) as batch_op:
        batch_op.drop_index('ix_retention_erasures_created_at_id')
        batch_op.drop_column('reason')
