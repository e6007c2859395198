"""Staff sign-in with a password: the one-time password replaced, TOTP enrolled, codes.

`POST /console/login` with `email` and `password` opens the account's next stage (see
console/sessions.py): `/console/account/password` after a one-time password, then
`/console/account/totp` to enrol the second factor (the `otpauth://` URI as text and as a
QR code drawn here), or `/console/login/totp` for the code of an enrolled account. Only
the last step opens a session with the role's scopes. Every wrong password or code is a
failed sign-in, throttled per account and per address like a wrong key.
"""

from __future__ import annotations

from flask import Response, g, redirect, request, url_for

from consentry.clock import utcnow
from consentry.db import get_session
from consentry.errors import Invalid
from consentry.html import csrf_token
from consentry.secretstore import get_keys
from console import sessions, staff
from console.views import (
    COOKIE,
    Refused,
    _check_csrf,
    _render,
    bp,
    limit_sign_in,
    login_form,
    set_session_cookie,
    sign_in_failed,
)

STAGE_PAGES = {"password": "console.account_password", "totp_enrol": "console.account_totp",
               "totp": "console.login_totp"}


def _to_stage(account, stage: str | None, previous: str | None = None) -> Response:
    """Move the sign-in to `stage` (None: signed in) under a new session id."""
    session, now = get_session(), utcnow()
    if previous is not None:
        sessions.end_session(session, previous)
    token = sessions.start_staff(session, account, now, stage)
    target = url_for(STAGE_PAGES[stage]) if stage else url_for("console.home")
    expires = now + (sessions.STAGE_LIFETIME if stage else sessions.LIFETIME)
    return set_session_cookie(redirect(target, code=303), token, expires)


def password_sign_in() -> Response:
    """`POST /console/login` with an email and password (called by `login_post`)."""
    email = request.form.get("email", "")
    address = staff.normal_email(email) or email.strip().lower()[:254]
    limit_sign_in(address)
    account = staff.check_password(get_session(), email, request.form.get("password", ""))
    if account is None:
        sign_in_failed(address)
        return login_form("That email and password do not match an active staff account. "
                          "Check them and try again.", 401)
    return _to_stage(account, sessions.next_stage(account))


def _pending(stage: str) -> sessions.Pending:
    found = sessions.find_pending(get_session(), request.cookies.get(COOKIE), utcnow(), stage)
    if found is None:
        raise Refused("This sign-in step has expired or was never started. Sign in again.",
                      code="unauthorized", status=401)
    g.principal = staff.staff_principal(found.account)  # the request log names the account
    if request.method == "POST":
        _check_csrf(f"console-stage:{found.token}")
    return found


def _stage_page(template: str, pending: sessions.Pending, status: int = 200,
                **context) -> Response:
    return _render(template, status=status, account=pending.account,
                   stage_csrf=csrf_token(get_keys(), f"console-stage:{pending.token}"),
                   **context)


@bp.get("/account/password")
def account_password():
    """Choose a password in place of the one-time password."""
    return _stage_page("console/account_password.html", _pending("password"),
                       problems={}, minimum=staff.MIN_PASSWORD_LENGTH)


@bp.post("/account/password")
def account_password_post():
    """Check the one-time password again, keep the new one, go on to the second factor."""
    pending = _pending("password")
    limit_sign_in(pending.account.email)
    try:
        staff.set_password(pending.account, request.form.get("password", ""),
                           request.form.get("new_password", ""))
    except Invalid as problem:
        if "password" in (problem.fields or {}):
            sign_in_failed(pending.account.email)
        return _stage_page("console/account_password.html", pending, 422,
                           problems=problem.fields or {}, minimum=staff.MIN_PASSWORD_LENGTH)
    return _to_stage(pending.account, sessions.next_stage(pending.account), pending.token)


def _enrol_page(pending: sessions.Pending, status: int = 200, problem: str | None = None):
    uri = staff.totp_uri(get_keys(), pending.account)
    return _stage_page("console/account_totp.html", pending, status, uri=uri,
                       secret=staff.totp_secret(get_keys(), pending.account),
                       qr=staff.qr_data_uri(uri), problem=problem)


@bp.get("/account/totp")
def account_totp():
    """The TOTP secret as an `otpauth://` URI and a QR code, and the form for a code."""
    return _enrol_page(_pending("totp_enrol"))


def _code_checked(pending: sessions.Pending) -> bool:
    limit_sign_in(pending.account.email)
    if staff.check_totp(get_keys(), pending.account, request.form.get("code", ""), utcnow()):
        return True
    sign_in_failed(pending.account.email)
    return False


@bp.post("/account/totp")
def account_totp_post():
    """A code from the new authenticator enrols it and opens the session."""
    pending = _pending("totp_enrol")
    if not _code_checked(pending):
        return _enrol_page(pending, 422, "That code does not match: check the clock of the "
                                         "device and enter the code it shows now.")
    pending.account.totp_enrolled = True
    return _to_stage(pending.account, None, pending.token)


@bp.get("/login/totp")
def login_totp():
    """The second factor: the code the account's authenticator shows."""
    return _stage_page("console/login_totp.html", _pending("totp"), problem=None)


@bp.post("/login/totp")
def login_totp_post():
    """A right code opens the session; a wrong one shows the form again."""
    pending = _pending("totp")
    if not _code_checked(pending):
        return _stage_page("console/login_totp.html", pending, 401,
                           problem="That code does not match. Enter the code your "
                                   "authenticator shows now.")
    return _to_stage(pending.account, None, pending.token)
