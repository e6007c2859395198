"""decisions and their signal categories

Revision ID: 0003_decisions
Revises: 0002_consent
Create Date: 2026-11-28 21:34:36.948120
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import consentry.db

revision = '0003_decisions'
down_revision = '0002_consent'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('decisions',
    sa.Column('decision_id', sa.String(length=36), nullable=False),
    sa.Column('subject_id', sa.String(length=128), nullable=False),
    sa.Column('surface', sa.String(length=100), nullable=False),
    sa.Column('channel', sa.String(length=32), nullable=True),
    sa.Column('purpose', sa.String(length=64), nullable=False),
    sa.Column('item', sa.JSON(none_as_null=True), nullable=False),
    sa.Column('signals_used', sa.JSON(none_as_null=True), nullable=False),
    sa.Column('rule', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('decided_at', consentry.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('recorded_at', consentry.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('conformant', sa.Boolean(), nullable=False),
    sa.Column('violations', sa.JSON(none_as_null=True), nullable=False),
    sa.Column('policy_version', sa.String(length=100), nullable=False),
    sa.Column('actor', sa.String(length=100), nullable=False),
    sa.PrimaryKeyConstraint('decision_id', name=op.f('pk_decisions'))
    )
    with op.batch_alter_table('decisions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_decisions_decided_at'), ['decided_at'], unique=False)
        batch_op.create_index('ix_decisions_subject_id_decided_at', ['subject_id', 'decided_at'], unique=False)

    op.create_table('decision_signals',
    sa.Column('decision_id', sa.String(length=36), nullable=False),
    sa.Column('category', sa.String(length=64), nullable=False),
    sa.Column('surface', sa.String(length=100), nullable=False),
    sa.Column('decided_at', consentry.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['decision_id'], ['decisions.decision_id'], name=op.f('fk_decision_signals_decision_id_decisions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('decision_id', 'category', name=op.f('pk_decision_signals'))
    )
    with op.batch_alter_table('decision_signals', schema=None) as batch_op:
        batch_op.create_index('ix_decision_signals_decided_at_surface', ['decided_at', 'surface'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('decision_signals', schema=None) as batch_op:
        batch_op.drop_index('ix_decision_signals_decided_at_surface')

    op.drop_table('decision_signals')
    with op.batch_alter_table('decisions', schema=None) as batch_op:
        batch_op.drop_index('ix_decisions_subject_id_decided_at')
        batch_op.drop_index(batch_op.f('ix_decisions_decided_at'))

    op.drop_table('decisions')
