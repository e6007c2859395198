"""notices: every recorded version of a privacy notice (append-only)

Revision ID: 0011_notices
Revises: 0010_recipes
Create Date: 2026-11-29 09:45:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import consentry.db

revision = '0011_notices'
down_revision = '0010_recipes'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'notices',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('notice_id', sa.String(length=32), nullable=False),
        sa.Column('version', sa.String(length=31), nullable=False),
        sa.Column('url', sa.String(length=2048), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('material', sa.Boolean(), nullable=False),
        sa.Column('recorded_at', consentry.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('recorded_by', sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_notices')),
        sa.UniqueConstraint('notice_id', 'version', name=op.f('uq_notices_notice_id')),
    )


def downgrade() -> None:
    op.drop_table('notices')
