"""Webhook tables: endpoints, their deliveries (the outbox) and the notices legal proves."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from consentry.db import Base


class WebhookEndpoint(Base):
    """Where one recipient (or, `recipient` null, an engine of the service) is told."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    recipient: Mapped[str | None] = mapped_column(String(64))
    events: Mapped[list[str]]
    enabled: Mapped[bool] = mapped_column(Boolean)
    # "failing": switched off after failing for days (its deliveries are kept)
    disabled_reason: Mapped[str | None] = mapped_column(String(32))
    # the signing secrets, sealed under the master key (never stored in clear)
    secret: Mapped[dict[str, Any]]
    previous_secret: Mapped[dict[str, Any] | None]
    previous_secret_until: Mapped[datetime | None]
    failing_since: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class WebhookDelivery(Base):
    """One event for one endpoint: written in the transaction of the change (the outbox),
    then sent by the scheduler until a 2xx acknowledges it."""

    __tablename__ = "webhook_deliveries"

    # the order of the outbox: an endpoint gets one subject's events in this order
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                    primary_key=True, autoincrement=True)
    delivery_id: Mapped[str] = mapped_column(String(40), unique=True)
    event_id: Mapped[str] = mapped_column(String(40), index=True)  # the webhook-id
    endpoint_id: Mapped[str] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(40))
    subject_id: Mapped[str | None] = mapped_column(String(128))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))  # pending | delivered | failed
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime | None]
    last_response_status: Mapped[int | None] = mapped_column(Integer)
    last_response_body: Mapped[str | None] = mapped_column(Text)  # at most 1 kB
    last_error: Mapped[str | None] = mapped_column(Text)
    last_duration_ms: Mapped[int | None] = mapped_column(Integer)
    first_sent_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    created_at: Mapped[datetime]

    __table_args__ = (
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_order", "endpoint_id", "subject_id", "status", "id"),
        Index("ix_webhook_deliveries_subject", "subject_id"),
    )


class WebhookNotice(Base):
    """Proof for legal: a notice a recipient had to get (an erasure, a sale/sharing
    opt-out), when it was first sent and when a 2xx acknowledged it. Names no subject."""

    __tablename__ = "webhook_notices"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                    primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))  # erasure | sale_sharing
    ref: Mapped[str] = mapped_column(String(40))  # the erasure id, or the event id
    event_id: Mapped[str] = mapped_column(String(40), index=True)
    recipient: Mapped[str] = mapped_column(String(64))
    first_sent_at: Mapped[datetime | None]
    acknowledged_at: Mapped[datetime | None]
    created_at: Mapped[datetime]

    __table_args__ = (Index("ix_webhook_notices_ref", "kind", "ref"),)
