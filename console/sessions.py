"""Console sessions: start one for a valid API key or staff account, find it, end it.

The browser gets a random session id (256 bits) in an HttpOnly cookie; the database
keeps only its SHA-256, the key's or staff account's id and name, and when the session
ends (8 hours at most). Every request reads the key or account again
(`consentry.auth.principal_of_key`, `console.staff`), so a revoked key or a disabled
account ends its sessions at once, and its scopes (a role's, for staff) are the page's.

A staff sign-in goes through stages before it is a session: `password` (a one-time
password to replace), `totp_enrol` (a second factor to enrol), `totp` (a code to enter).
A session in a stage has no scopes and opens only that stage's page, for 15 minutes;
each step to the next stage gives it a new id.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.orm import Session

from consentry.auth import Principal, principal_of_key
from console import staff
from console.models import ConsoleSession, StaffAccount

LIFETIME = timedelta(hours=8)
STAGE_LIFETIME = timedelta(minutes=15)
STAGES = ("password", "totp_enrol", "totp")
MAX_TOKEN_LENGTH = 100


@dataclass(frozen=True)
class SignedIn:
    """A live console session: who (the key's or the staff account's principal), and
    until when; `actor` is the name the audit log gives its actions."""

    token: str
    principal: Principal
    expires_at: datetime
    actor: str
    role: str | None = None  # a staff account's role; None for a key


@dataclass(frozen=True)
class Pending:
    """A staff sign-in part way: the account and the stage it is at."""

    token: str
    account: StaffAccount
    stage: str
    expires_at: datetime


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def key_actor(name: str) -> str:
    """The audit log's actor for a key session."""
    return f"key:{name}"


def _open(session: Session, now: datetime, **row) -> tuple[str, datetime]:
    session.execute(delete(ConsoleSession).where(ConsoleSession.expires_at <= now))
    token = secrets.token_urlsafe(32)
    expires_at = now + (STAGE_LIFETIME if row.get("stage") else LIFETIME)
    session.add(ConsoleSession(id_hash=_hash(token), created_at=now, expires_at=expires_at,
                               **row))
    return token, expires_at


def start_session(session: Session, principal: Principal, now: datetime) -> SignedIn:
    """Open a session for `principal` (a key just checked); sessions past their end go."""
    if principal.key_id is None:
        raise ValueError("a console session needs the key's id")
    token, expires_at = _open(session, now, key_id=principal.key_id, key_name=principal.name)
    return SignedIn(token, principal, expires_at, key_actor(principal.name))


def start_staff(session: Session, account: StaffAccount, now: datetime,
                stage: str | None) -> str:
    """Open a session (or a stage of one, see STAGES) for a staff account just checked;
    return its id."""
    if stage is not None and stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}")
    token, _ = _open(session, now, staff_id=account.id, key_name=account.email, stage=stage)
    return token


def next_stage(account: StaffAccount) -> str | None:
    """The stage a staff account signing in with its password goes to next."""
    if account.must_change_password:
        return "password"
    return "totp" if account.totp_enrolled else "totp_enrol"


def _row(session: Session, token: str | None, now: datetime) -> ConsoleSession | None:
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    row = session.get(ConsoleSession, _hash(token))
    return row if row is not None and row.expires_at > now else None


def _active_staff(session: Session, row: ConsoleSession) -> StaffAccount | None:
    account = session.get(StaffAccount, row.staff_id)
    return account if account is not None and account.disabled_at is None else None


def find_session(session: Session, token: str | None, now: datetime) -> SignedIn | None:
    """The live session of `token`; None if unknown, ended, expired, still in a stage, or
    its key revoked or account disabled."""
    row = _row(session, token, now)
    if row is None or row.stage is not None:
        return None
    if row.staff_id is not None:
        account = _active_staff(session, row)
        if account is None:
            return None
        principal = staff.staff_principal(account)
        return SignedIn(token, principal, row.expires_at, principal.name, account.role)
    principal = principal_of_key(session, row.key_id)
    if principal is None:
        return None
    return SignedIn(token, principal, row.expires_at, key_actor(principal.name))


def find_pending(session: Session, token: str | None, now: datetime,
                 stage: str) -> Pending | None:
    """The staff sign-in of `token` if it is at `stage` and its account is active."""
    row = _row(session, token, now)
    if row is None or row.stage != stage or row.staff_id is None:
        return None
    account = _active_staff(session, row)
    return Pending(token, account, stage, row.expires_at) if account is not None else None


def end_session(session: Session, token: str) -> None:
    """End the session of `token` (signing out); nothing happens for an unknown one."""
    session.execute(delete(ConsoleSession).where(ConsoleSession.id_hash == _hash(token)))
