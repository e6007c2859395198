"""staff accounts with roles, passwords and TOTP; console sessions opened by staff

Revision ID: 0018_staff
Revises: 0016_trust_data
Create Date: 2026-12-07 13:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import consentry.db

revision = '0018_staff'
down_revision = '0016_trust_data'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'staff_accounts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('email', sa.String(length=254), nullable=False),
        sa.Column('role', sa.String(length=32), nullable=False),
        sa.Column('password_hash', sa.String(length=200), nullable=False),
        sa.Column('must_change_password', sa.Boolean(), nullable=False),
        sa.Column('totp_sealed', sa.LargeBinary(), nullable=True),
        sa.Column('totp_enrolled', sa.Boolean(), nullable=False),
        sa.Column('totp_last_step', sa.Integer(), nullable=True),
        sa.Column('created_at', consentry.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('disabled_at', consentry.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_accounts')),
        sa.UniqueConstraint('email', name=op.f('uq_staff_accounts_email')),
    )
    # a session of an unfinished sign-in may be left over: it never outlives the upgrade
    op.execute("DELETE FROM console_sessions")
    with op.batch_alter_table('console_sessions', schema=None) as batch_op:
        batch_op.alter_column('key_id', existing_type=sa.Integer(), nullable=True)
        batch_op.alter_column('key_name', existing_type=sa.String(length=100),
                              type_=sa.String(length=254), existing_nullable=False)
        batch_op.add_column(sa.Column('staff_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('stage', sa.String(length=16), nullable=True))
        batch_op.create_index(batch_op.f('ix_console_sessions_staff_id'), ['staff_id'],
                              unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_console_sessions_staff_id_staff_accounts'),
                                    'staff_accounts', ['staff_id'], ['id'], ondelete='CASCADE')


def downgrade() -> None:
    op.execute("DELETE FROM console_sessions WHERE staff_id IS NOT NULL")
    with op.batch_alter_table('console_sessions', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_console_sessions_staff_id_staff_accounts'),
                                 type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_console_sessions_staff_id'))
        batch_op.drop_column('stage')
        batch_op.drop_column('staff_id')
        batch_op.alter_column('key_name', existing_type=sa.String(length=254),
                              type_=sa.String(length=100), existing_nullable=False)
        batch_op.alter_column('key_id', existing_type=sa.Integer(), nullable=False)
    op.drop_table('staff_accounts')
