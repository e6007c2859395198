"""Governance models: every saved version of every recipe."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String, Text
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
