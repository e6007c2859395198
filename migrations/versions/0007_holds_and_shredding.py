"""legal holds: a subject hold's reason lives only sealed in its audit entry; audit
subject keys note the chain's head seq when destroyed

Revision ID: 0007_holds_and_shredding
Revises: 0006_audit_export_jobs
Create Date: 2026-12-02 10:00:00.000000

The reason of a subject hold is free text that may name the person. It has always
been sealed under the subject's audit key in the `retention.hold.created` entry;
this revision points each subject hold at that entry (`audit_seq`) and clears the
copy in clear. A subject hold whose entry is not found keeps its reason.

`audit_subject_keys.destroyed_seq` lets an export tell whether a key was destroyed
while it was written (keys destroyed before this revision have none: long gone).
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = '0007_holds_and_shredding'
down_revision = '0006_audit_export_jobs'
branch_labels = None
depends_on = None

holds = sa.table('retention_holds', sa.column('id', sa.String), sa.column('subject_id', sa.String),
                 sa.column('reason', sa.Text), sa.column('audit_seq', sa.BigInteger))
entries = sa.table('audit_entries', sa.column('seq', sa.BigInteger),
                   sa.column('action', sa.String), sa.column('details', sa.Text))


def upgrade() -> None:
    with op.batch_alter_table('audit_subject_keys', schema=None) as batch_op:
        batch_op.add_column(sa.Column('destroyed_seq', sa.BigInteger(), nullable=True))
    with op.batch_alter_table('retention_holds', schema=None) as batch_op:
        batch_op.add_column(sa.Column('audit_seq', sa.BigInteger(), nullable=True))
        batch_op.alter_column('reason', existing_type=sa.Text(), nullable=True)
    conn = op.get_bind()
    sealed = {}
    for seq, details in conn.execute(
            sa.select(entries.c.seq, sa.cast(entries.c.details, sa.Text))
            .where(entries.c.action == 'retention.hold.created')):
        body = json.loads(details)
        if (body.get('personal') or {}).get('ct') and body.get('hold_id'):
            sealed[body['hold_id']] = seq
    for hold_id in conn.execute(sa.select(holds.c.id).where(holds.c.subject_id.is_not(None))
                                ).scalars().all():
        if hold_id in sealed:
            conn.execute(holds.update().where(holds.c.id == hold_id)
                         .values(reason=None, audit_seq=sealed[hold_id]))


def downgrade() -> None:
    conn = op.get_bind()
    conn.execute(holds.update().where(holds.c.reason.is_(None))
                 .values(reason=sa.literal('(sealed in audit entry ')
                         + sa.cast(holds.c.audit_seq, sa.String) + sa.literal(')')))
    conn.execute(holds.update().where(holds.c.reason.is_(None)).values(reason='(sealed)'))
    with op.batch_alter_table('retention_holds', schema=None) as batch_op:
        batch_op.alter_column('reason', existing_type=sa.Text(), nullable=False)
        batch_op.drop_column('audit_seq')
    with op.batch_alter_table('audit_subject_keys', schema=None) as batch_op:
        batch_op.drop_column('destroyed_seq')
