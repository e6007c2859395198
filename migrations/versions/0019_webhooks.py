"""webhooks: endpoints, the outbox of deliveries, and the notices recipients acknowledged

Revision ID: 0019_webhooks
Revises: 0018_staff
Create Date: 2026-12-07 13:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import consentry.db

revision = '0019_webhooks'
down_revision = '0018_staff'
branch_labels = None
depends_on = None


def _id():
    return sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table(
        'webhook_endpoints',
        sa.Column('id', sa.String(length=64), nullable=False),
        sa.Column('url', sa.Text(), nullable=False),
        sa.Column('recipient', sa.String(length=64), nullable=True),
        sa.Column('events', sa.JSON(none_as_null=True), nullable=False),
        sa.Column('enabled', sa.Boolean(), nullable=False),
        sa.Column('disabled_reason', sa.String(length=32), nullable=True),
        sa.Column('secret', sa.JSON(none_as_null=True), nullable=False),
        sa.Column('previous_secret', sa.JSON(none_as_null=True), nullable=True),
        sa.Column('previous_secret_until', consentry.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column('failing_since', consentry.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column('created_at', consentry.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('updated_at', consentry.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_endpoints')),
    )
    op.create_table(
        'webhook_deliveries',
        sa.Column('id', _id(), autoincrement=True, nullable=False),
        sa.Column('delivery_id', sa.String(length=40), nullable=False),
        sa.Column('event_id', sa.String(length=40), nullable=False),
        sa.Column('endpoint_id', sa.String(length=64), nullable=False),
        sa.Column('type', sa.String(length=40), nullable=False),
        sa.Column('subject_id', sa.String(length=128), nullable=True),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', consentry.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column('last_response_status', sa.Integer(), nullable=True),
        sa.Column('last_response_body', sa.Text(), nullable=True),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.Column('last_duration_ms', sa.Integer(), nullable=True),
        sa.Column('first_sent_at', consentry.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column('delivered_at', consentry.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column('created_at', consentry.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_deliveries')),
        sa.UniqueConstraint('delivery_id', name=op.f('uq_webhook_deliveries_delivery_id')),
    )
    with op.batch_alter_table('webhook_deliveries', schema=None) as batch_op:
        batch_op.create_index('ix_webhook_deliveries_due', ['status', 'next_attempt_at'])
        batch_op.create_index('ix_webhook_deliveries_order',
                              ['endpoint_id', 'subject_id', 'status', 'id'])
        batch_op.create_index('ix_webhook_deliveries_subject', ['subject_id'])
        batch_op.create_index(batch_op.f('ix_webhook_deliveries_event_id'), ['event_id'])
    op.create_table(
        'webhook_notices',
        sa.Column('id', _id(), autoincrement=True, nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('ref', sa.String(length=40), nullable=False),
        sa.Column('event_id', sa.String(length=40), nullable=False),
        sa.Column('recipient', sa.String(length=64), nullable=False),
        sa.Column('first_sent_at', consentry.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column('acknowledged_at', consentry.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column('created_at', consentry.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_notices')),
    )
    with op.batch_alter_table('webhook_notices', schema=None) as batch_op:
        batch_op.create_index('ix_webhook_notices_ref', ['kind', 'ref'])
        batch_op.create_index(batch_op.f('ix_webhook_notices_event_id'), ['event_id'])


def downgrade() -> None:
    op.drop_table('webhook_notices')
    op.drop_table('webhook_deliveries')
    op.drop_table('webhook_endpoints')
