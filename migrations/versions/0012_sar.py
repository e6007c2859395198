"""export kinds: a subject access export (GDPR Art. 15) is an export of its own kind

Revision ID: 0012_sar
Revises: 0011_notices
Create Date: 2026-11-29 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0012_sar'
down_revision = '0011_notices'
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ('audit_exports', 'audit_export_jobs'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('kind', sa.String(length=20), nullable=False,
                                          server_default='audit'))


def downgrade() -> None:
    for table in ('audit_export_jobs', 'audit_exports'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('kind')
