"""export verification: a bundle is verified once, when it is built, and the result kept

Revision ID: 0016_trust_data
Revises: 0014_writepath
Create Date: 2026-12-07 06:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0016_trust_data'
down_revision = '0017_requests'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('audit_exports', schema=None) as batch_op:
        batch_op.add_column(sa.Column('verification', sa.JSON(none_as_null=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('audit_exports', schema=None) as batch_op:
        batch_op.drop_column('verification')
