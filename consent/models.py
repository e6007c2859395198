"""Consent models."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from consentry.db import Base


class PolicyState(Base):
    """The last policy version this deployment loaded (one row), to audit changes."""

    __tablename__ = "policy_state"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    version: Mapped[str] = mapped_column(String(100))
    digest: Mapped[str] = mapped_column(String(64))
    loaded_at: Mapped[datetime]
