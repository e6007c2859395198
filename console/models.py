"""Console sessions and the staff accounts that open them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from consentry.db import Base


class StaffAccount(Base):
    """A person who works in the console: an email, a role (a named set of scopes), an
    argon2id password hash and a TOTP secret sealed with the master key."""

    __tablename__ = "staff_accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    role: Mapped[str] = mapped_column(String(32))
    password_hash: Mapped[str] = mapped_column(String(200))
    # a one-time password (from `staff add` or `staff reset`): the next sign-in sets one
    must_change_password: Mapped[bool]
    totp_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    totp_enrolled: Mapped[bool]
    # the last TOTP time step accepted, so a code is never taken twice
    totp_last_step: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime]
    disabled_at: Mapped[datetime | None]


class ConsoleSession(Base):
    """A signed-in console user. The browser holds only a random session id; the row
    holds its SHA-256 and the key or staff account it was opened with, never the key.

    A staff session that has not finished signing in (a new password, a TOTP enrolment
    or a code still to come) has a `stage` and no scopes: it opens only that step."""

    __tablename__ = "console_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    key_id: Mapped[int | None] = mapped_column(
        ForeignKey("api_keys.id", ondelete="CASCADE"), index=True)
    staff_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_accounts.id", ondelete="CASCADE"), index=True)
    key_name: Mapped[str] = mapped_column(String(254))  # the key's name or the staff email
    stage: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)
