"""foundation: api keys, leases, audit chain, policy state

Revision ID: 0001_foundation
Revises: 
Create Date: 2026-11-28 21:22:49.739759
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import consentry.db

revision = '0001_foundation'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('api_keys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('prefix', sa.String(length=16), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('scopes', sa.JSON(), nullable=False),
    sa.Column('created_at', consentry.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', consentry.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_keys')),
    sa.UniqueConstraint('name', name=op.f('uq_api_keys_name'))
    )
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_keys_prefix'), ['prefix'], unique=False)

    op.create_table('audit_entries',
    sa.Column('seq', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('ts', consentry.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=100), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('subject_ref', sa.String(length=64), nullable=True),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('entry_hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_audit_entries'))
    )
    with op.batch_alter_table('audit_entries', schema=None) as batch_op:
        batch_op.create_index('ix_audit_entries_action_seq', ['action', 'seq'], unique=False)
        batch_op.create_index('ix_audit_entries_subject_ref_seq', ['subject_ref', 'seq'], unique=False)
        batch_op.create_index('ix_audit_entries_ts', ['ts'], unique=False)

    op.create_table('audit_head',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('entry_hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_head'))
    )
    # The chain starts empty: seq 0 and the all-zero genesis hash.
    op.execute("INSERT INTO audit_head (id, seq, entry_hash) VALUES (1, 0, '" + "0" * 64 + "')")
    op.create_table('audit_subject_keys',
    sa.Column('subject_ref', sa.String(length=64), nullable=False),
    sa.Column('wrapped_key', sa.LargeBinary(), nullable=True),
    sa.Column('created_at', consentry.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('destroyed_at', consentry.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('subject_ref', name=op.f('pk_audit_subject_keys'))
    )
    op.create_table('leases',
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('holder', sa.String(length=200), nullable=True),
    sa.Column('acquired_at', consentry.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('expires_at', consentry.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_leases'))
    )
    op.create_table('policy_state',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('version', sa.String(length=100), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('loaded_at', consentry.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_policy_state'))
    )


def downgrade() -> None:
    op.drop_table('policy_state')
    op.drop_table('leases')
    op.drop_table('audit_subject_keys')
    op.drop_table('audit_head')
    with op.batch_alter_table('audit_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_entries_ts')
        batch_op.drop_index('ix_audit_entries_subject_ref_seq')
        batch_op.drop_index('ix_audit_entries_action_seq')

    op.drop_table('audit_entries')
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_keys_prefix'))

    op.drop_table('api_keys')
