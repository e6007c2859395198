"""Helpers for staff accounts in tests: made with the CLI, signed in through the forms."""

from __future__ import annotations

import re

import pyotp

from tests.console.conftest import csrf_of

OTPAUTH = re.compile(r"otpauth://totp/[^<\s\"]+")


def add_staff(app, email: str, role: str) -> str:
    """`flask staff add`; return the one-time password (the output's last line)."""
    result = app.test_cli_runner().invoke(args=["staff", "add", "--email", email,
                                                "--role", role])
    assert result.exit_code == 0, result.output
    return result.output.strip().splitlines()[-1]


def secret_of(html: str) -> str:
    """The TOTP secret in the enrolment page's otpauth:// URI."""
    found = OTPAUTH.search(html.replace("&amp;", "&"))
    assert found, "no otpauth URI on the page"
    return re.search(r"secret=([A-Z2-7]+)", found.group(0)).group(1)


def password_sign_in(client, email: str, password: str):
    form = client.get("/console/login")
    return client.post("/console/login", data={"email": email, "password": password,
                                                "csrf_token": csrf_of(form.text)})


def enrol(client, email: str, one_time: str, new_password: str) -> str:
    """First sign-in: one-time password, new password, TOTP; return the TOTP secret."""
    r = password_sign_in(client, email, one_time)
    assert r.status_code == 303 and r.headers["Location"].endswith("/console/account/password")
    page = client.get("/console/account/password")
    r = client.post("/console/account/password", data={
        "password": one_time, "new_password": new_password, "csrf_token": csrf_of(page.text)})
    assert r.status_code == 303 and r.headers["Location"].endswith("/console/account/totp")
    page = client.get("/console/account/totp")
    secret = secret_of(page.text)
    r = client.post("/console/account/totp", data={
        "code": pyotp.TOTP(secret).now(), "csrf_token": csrf_of(page.text)})
    assert r.status_code == 303, r.text
    return secret
