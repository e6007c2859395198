"""Console sessions: an API key exchanged for a short server-side session."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from consentry.db import Base


class ConsoleSession(Base):
    """A signed-in console user. The browser holds only a random session id; the row
    holds its SHA-256 and the key it was opened with, never the key itself."""

    __tablename__ = "console_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id", ondelete="CASCADE"),
                                        index=True)
    key_name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)
