"""Governance models: every saved version of every recipe; privacy requests and their history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from consentry.db import Base


class RecipeVersion(Base):
    """One version of a recipe. Inserted, never updated: a change is a new version."""

    __tablename__ = "recipe_versions"

    recipe_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    version: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(200))
    purpose: Mapped[str] = mapped_column(String(64))
    channels: Mapped[list[str]] = mapped_column(JSON(none_as_null=True))
    surface: Mapped[str | None] = mapped_column(String(100))
    trigger: Mapped[str] = mapped_column(Text)
    audience: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(Text)
    categories: Mapped[list[str]] = mapped_column(JSON(none_as_null=True))
    explicit_grants: Mapped[list[str]] = mapped_column(JSON(none_as_null=True))
    fallback: Mapped[str | None] = mapped_column(Text)
    success_metric: Mapped[str] = mapped_column(Text)
    owner: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16))
    saved_at: Mapped[datetime]
    saved_by: Mapped[str] = mapped_column(String(100))

    def content(self) -> dict[str, Any]:
        """What a PUT sets: two versions with equal content are the same recipe."""
        return {name: getattr(self, name) for name in CONTENT_FIELDS}


CONTENT_FIELDS = ("name", "purpose", "channels", "surface", "trigger", "audience", "action",
                  "categories", "explicit_grants", "fallback", "success_metric", "owner",
                  "status")


class PrivacyRequest(Base):
    """A privacy request (DSAR) from a person: what they asked, under which law, by when.

    The request is the legal record of how it was answered, so it is kept; an erasure
    of its subject clears its free text (`note`, and the reasons of its history) but
    keeps the row, its dates, statuses and the subject id (docs/API.md "Privacy requests").
    """

    __tablename__ = "privacy_requests"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    subject_id: Mapped[str] = mapped_column(String(128), index=True)
    type: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    jurisdiction: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime]
    due_at: Mapped[datetime]
    extended: Mapped[bool] = mapped_column(Boolean)
    export_id: Mapped[str | None] = mapped_column(String(32))
    erasure_id: Mapped[str | None] = mapped_column(String(32))
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]

    __table_args__ = (
        Index("ix_privacy_requests_due_at_id", "due_at", "id"),
        Index("ix_privacy_requests_status_due_at", "status", "due_at"),
    )


class RequestTransition(Base):
    """One step of a request's history. Inserted, never updated (but for an erasure of
    the subject, which blanks `reason`): `seq` numbers the steps of one request."""

    __tablename__ = "privacy_request_history"

    request_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("privacy_requests.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    status: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str | None] = mapped_column(Text)
    due_at: Mapped[datetime | None]  # the due date this step set (creation, extension)
