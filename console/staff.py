"""Staff accounts: who may sign in to the console, with which role, and how they prove it.

A password is kept as an argon2id hash; a one-time password (from `staff add` or `staff
reset`) must be replaced at the next sign-in, and the account then enrols a TOTP second
factor (RFC 6238), whose secret is sealed with the master key (AES-GCM, bound to the
account). A role is a named set of scopes (`consentry.auth.ROLES`); a disabled account
signs in no more and its sessions end at once.
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime

import pyotp
import segno
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from consentry.auth import ROLES, Principal
from consentry.errors import Conflict, Invalid, NotFound
from consentry.secretstore import SecretStore
from console.models import ConsoleSession, StaffAccount

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1000
MAX_EMAIL_LENGTH = 254
TOTP_ISSUER = "Consentry"
ACTOR_PREFIX = "staff:"

_EMAIL = re.compile(r"[^@\s\x00-\x1f]{1,64}@[^@\s\x00-\x1f]{1,189}")
_hasher = PasswordHasher()  # argon2id, the library's RFC 9106 low-memory profile
# checked against when no account has the email, so a miss takes as long as a hit
_NO_ACCOUNT = _hasher.hash(secrets.token_urlsafe(16))


def normal_email(email: str) -> str | None:
    """The email as accounts keep it (trimmed, lower case); None when it is not one."""
    email = (email or "").strip().lower()
    return email if len(email) <= MAX_EMAIL_LENGTH and _EMAIL.fullmatch(email) else None


def _one_time_password() -> str:
    return secrets.token_urlsafe(15)  # 120 bits, 20 characters


def _account(session: Session, email: str) -> StaffAccount:
    found = session.scalar(select(StaffAccount).where(
        StaffAccount.email == (normal_email(email) or email)))
    if found is None:
        raise NotFound(f"no staff account {email!r}")
    return found


def _end_sessions(session: Session, account: StaffAccount) -> None:
    session.execute(delete(ConsoleSession).where(ConsoleSession.staff_id == account.id))


def add_staff(session: Session, email: str, role: str, now: datetime) -> str:
    """Create a staff account with `role`; return its one-time password."""
    address = normal_email(email)
    if address is None:
        raise Invalid("not an email address", fields={"email": ["Not an email address."]})
    if role not in ROLES:
        raise Invalid(f"unknown role {role!r}: one of {', '.join(ROLES)}",
                      fields={"role": [f"One of {', '.join(ROLES)}."]})
    if session.scalar(select(StaffAccount.id).where(StaffAccount.email == address)):
        raise Conflict(f"a staff account {address!r} exists already")
    password = _one_time_password()
    session.add(StaffAccount(email=address, role=role, password_hash=_hasher.hash(password),
                             must_change_password=True, totp_enrolled=False,
                             created_at=now))
    return password


def list_staff(session: Session) -> list[StaffAccount]:
    """Every staff account, disabled ones included, by email."""
    return list(session.scalars(select(StaffAccount).order_by(StaffAccount.email)))


def disable_staff(session: Session, email: str, now: datetime) -> StaffAccount:
    """Disable the account: it signs in no more, and its sessions end now."""
    account = _account(session, email)
    if account.disabled_at is None:
        account.disabled_at = now
    _end_sessions(session, account)
    return account


def reset_staff(session: Session, email: str) -> str:
    """A new one-time password for the account (its TOTP is enrolled again, its sessions
    end); return it."""
    account = _account(session, email)
    if account.disabled_at is not None:
        raise Conflict(f"the staff account {account.email!r} is disabled")
    password = _one_time_password()
    account.password_hash = _hasher.hash(password)
    account.must_change_password = True
    account.totp_sealed, account.totp_enrolled, account.totp_last_step = None, False, None
    _end_sessions(session, account)
    return password


def check_password(session: Session, email: str, password: str) -> StaffAccount | None:
    """The active account whose email and password these are; None otherwise."""
    address = normal_email(email)
    account = (session.scalar(select(StaffAccount).where(StaffAccount.email == address))
               if address and len(password) <= MAX_PASSWORD_LENGTH else None)
    try:
        _hasher.verify(account.password_hash if account else _NO_ACCOUNT, password)
    except (VerificationError, InvalidHashError):
        return None
    if account is None or account.disabled_at is not None:
        return None
    if _hasher.check_needs_rehash(account.password_hash):
        account.password_hash = _hasher.hash(password)
    return account


def set_password(account: StaffAccount, current: str, new: str) -> None:
    """Replace the password (the one-time one) with `new`, at least 12 characters."""
    try:
        _hasher.verify(account.password_hash, current[:MAX_PASSWORD_LENGTH])
    except (VerificationError, InvalidHashError):
        raise Invalid("the current password is wrong",
                      fields={"password": ["This is not your current password."]}) from None
    problems = []
    if len(new) < MIN_PASSWORD_LENGTH:
        problems.append(f"At least {MIN_PASSWORD_LENGTH} characters.")
    if len(new) > MAX_PASSWORD_LENGTH:
        problems.append(f"At most {MAX_PASSWORD_LENGTH} characters.")
    if new == current:
        problems.append("Choose a password other than the one-time password.")
    if problems:
        raise Invalid("the new password is not acceptable", fields={"new_password": problems})
    account.password_hash = _hasher.hash(new)
    account.must_change_password = False


def _aead(keys: SecretStore, account: StaffAccount) -> tuple[AESGCM, bytes]:
    return AESGCM(keys.master_key), f"staff-totp:{account.id}".encode()


def totp_secret(keys: SecretStore, account: StaffAccount) -> str:
    """The account's TOTP secret (base32), made and sealed on first use."""
    aead, bound = _aead(keys, account)
    if account.totp_sealed is None:
        secret = pyotp.random_base32()
        nonce = secrets.token_bytes(12)
        account.totp_sealed = nonce + aead.encrypt(nonce, secret.encode(), bound)
        return secret
    sealed = account.totp_sealed
    return aead.decrypt(sealed[:12], sealed[12:], bound).decode()


def totp_uri(keys: SecretStore, account: StaffAccount) -> str:
    """The `otpauth://totp/...` URI an authenticator app reads."""
    return pyotp.TOTP(totp_secret(keys, account)).provisioning_uri(
        name=account.email, issuer_name=TOTP_ISSUER)


def qr_data_uri(text: str) -> str:
    """A QR code of `text` as an SVG `data:` URI, drawn here (no request leaves the page)."""
    return segno.make(text, error="m").svg_data_uri(scale=5, border=4)


def check_totp(keys: SecretStore, account: StaffAccount, code: str, now: datetime) -> bool:
    """Whether `code` is the account's current TOTP (±1 step of 30 s); each step's code
    is taken once."""
    code = (code or "").strip().replace(" ", "")
    if account.totp_sealed is None or not re.fullmatch(r"[0-9]{6}", code):
        return False
    totp = pyotp.TOTP(totp_secret(keys, account))
    step = int(now.timestamp()) // totp.interval
    for candidate in (step, step - 1, step + 1):
        if secrets.compare_digest(totp.generate_otp(candidate), code):
            if account.totp_last_step is not None and candidate <= account.totp_last_step:
                return False  # already used: a code seen over a shoulder opens nothing
            account.totp_last_step = candidate
            return True
    return False


def staff_principal(account: StaffAccount) -> Principal:
    """What a staff session may do: its role's scopes, named `staff:<email>`."""
    return Principal(ACTOR_PREFIX + account.email, ROLES.get(account.role, frozenset()))


def active_account(session: Session, email: str | None) -> StaffAccount | None:
    """The account of `email` unless there is none or it is disabled."""
    address = normal_email(email or "")
    account = session.scalar(select(StaffAccount).where(StaffAccount.email == address)) \
        if address else None
    return account if account is not None and account.disabled_at is None else None

