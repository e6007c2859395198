"""recipes (every version), the recipe a decision cites, per-day category usage

Revision ID: 0010_recipes
Revises: 0009_console_sessions
Create Date: 2026-11-29 08:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import consentry.db

revision = '0010_recipes'
down_revision = '0009_console_sessions'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'recipe_versions',
        sa.Column('recipe_id', sa.String(length=100), nullable=False),
        sa.Column('version', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('purpose', sa.String(length=64), nullable=False),
        sa.Column('channels', sa.JSON(none_as_null=True), nullable=False),
        sa.Column('surface', sa.String(length=100), nullable=True),
        sa.Column('trigger', sa.Text(), nullable=False),
        sa.Column('audience', sa.Text(), nullable=False),
        sa.Column('action', sa.Text(), nullable=False),
        sa.Column('categories', sa.JSON(none_as_null=True), nullable=False),
        sa.Column('explicit_grants', sa.JSON(none_as_null=True), nullable=False),
        sa.Column('fallback', sa.Text(), nullable=True),
        sa.Column('success_metric', sa.Text(), nullable=False),
        sa.Column('owner', sa.String(length=100), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('saved_at', consentry.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('saved_by', sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint('recipe_id', 'version', name=op.f('pk_recipe_versions')),
    )
    op.create_table(
        'decision_category_days',
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('category', sa.String(length=64), nullable=False),
        sa.Column('decisions', sa.Integer(), nullable=False),
        sa.Column('violations', sa.Integer(), nullable=False),
        sa.Column('last_used_at', consentry.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('day', 'category', name=op.f('pk_decision_category_days')),
    )
    with op.batch_alter_table('decisions') as batch:
        batch.add_column(sa.Column('recipe_id', sa.String(length=100), nullable=True))
        batch.add_column(sa.Column('recipe_version', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('decisions') as batch:
        batch.drop_column('recipe_version')
        batch.drop_column('recipe_id')
    op.drop_table('decision_category_days')
    op.drop_table('recipe_versions')
