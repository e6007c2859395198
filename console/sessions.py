"""Console sessions: start one for a valid API key, find it again, end it.

The browser gets a random session id (256 bits) in an HttpOnly cookie; the database
keeps only its SHA-256, the key's id and name, and when the session ends (8 hours at
most). Every request reads the key again (`consentry.auth.principal_of_key`), so a
revoked key ends its sessions at once, and its scopes are the page's scopes.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.orm import Session

from consentry.auth import Principal, principal_of_key
from console.models import ConsoleSession

LIFETIME = timedelta(hours=8)
MAX_TOKEN_LENGTH = 100


@dataclass(frozen=True)
class SignedIn:
    """A live console session: who (the key's principal), and until when."""

    token: str
    principal: Principal
    expires_at: datetime


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def start_session(session: Session, principal: Principal, now: datetime) -> SignedIn:
    """Open a session for `principal` (a key just checked); sessions past their end go."""
    if principal.key_id is None:
        raise ValueError("a console session needs the key's id")
    session.execute(delete(ConsoleSession).where(ConsoleSession.expires_at <= now))
    token = secrets.token_urlsafe(32)
    expires_at = now + LIFETIME
    session.add(ConsoleSession(id_hash=_hash(token), key_id=principal.key_id,
                               key_name=principal.name, created_at=now, expires_at=expires_at))
    return SignedIn(token, principal, expires_at)


def find_session(session: Session, token: str | None, now: datetime) -> SignedIn | None:
    """The live session of `token`; None if unknown, ended, expired or its key revoked."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    row = session.get(ConsoleSession, _hash(token))
    if row is None or row.expires_at <= now:
        return None
    principal = principal_of_key(session, row.key_id)
    if principal is None:
        return None
    return SignedIn(token, principal, row.expires_at)


def end_session(session: Session, token: str) -> None:
    """End the session of `token` (signing out); nothing happens for an unknown one."""
    session.execute(delete(ConsoleSession).where(ConsoleSession.id_hash == _hash(token)))
