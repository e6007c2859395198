"""Staff in a real browser: the CLI's account signs in, sets a password, enrols TOTP and
finds a person; single sign-on through a real OpenID provider (oidc-provider in Node)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pyotp
import pytest
from sqlalchemy import select

from audit.models import AuditEntry
from consentry.db import get_db
from console.models import ConsoleSession
from tests.conftest import serious_accessibility_violations, shoot
from tests.console.conftest import html_client, write_consent
from tests.console.staffing import add_staff, secret_of

pytestmark = pytest.mark.browser

PROVIDER_DIR = Path(__file__).resolve().parent / "oidc"
REQUIRE_NODE = os.environ.get("REQUIRE_NODE") == "1" or os.environ.get("REQUIRE_BROWSER") == "1"
CLIENT = {"client_id": "consentry-console", "client_secret": "a client secret for tests"}
ACCOUNTS = {"olga": {"email": "olga@example.com", "email_verified": True},
            "mallory": {"email": "mallory@example.com", "email_verified": True},
            "unverified": {"email": "olga@example.com", "email_verified": False}}


def _expect():
    from playwright.sync_api import expect

    return expect


def _accessible(page, name: str) -> None:
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        assert serious_accessibility_violations(page) == [], (name, width)
    page.set_viewport_size({"width": 1280, "height": 900})
    shoot(page, f"console-{name}")


def test_a_new_staff_member_signs_in_sets_a_password_enrols_totp_and_finds_a_person(
        app, live_server, page, admin):
    expect = _expect()
    write_consent(app.test_client(), admin, "alice")
    one_time = add_staff(app, "olga@example.com", "privacy_officer")

    page.goto(f"{live_server}/console/")
    _accessible(page, "staff-login")
    page.get_by_label("Email").fill("olga@example.com")
    page.get_by_label("Password", exact=True).fill(one_time)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_role("heading", name="Choose a password")).to_be_visible()
    _accessible(page, "account-password")
    page.get_by_label("One-time password").fill(one_time)
    page.get_by_label("New password").fill("a long new password")
    page.get_by_role("button", name="Save the password").click()
    expect(page.get_by_role("heading", name="Enrol a second factor")).to_be_visible()
    qr = page.get_by_role("img", name="QR code of the otpauth URI below")
    assert qr.evaluate("img => img.complete && img.naturalWidth > 0")  # drawn, no request
    _accessible(page, "account-totp")
    secret = secret_of(page.locator("#otpauth-uri").inner_text())
    page.get_by_label("Code from the app").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Enrol and sign in").click()
    expect(page.get_by_role("banner").get_by_text("olga@example.com", exact=True)).to_be_visible()

    page.get_by_label("Find a person").fill("alice")
    page.get_by_role("button", name="Find").click()
    assert page.url.endswith("/console/subjects/alice")
    expect(page.get_by_role("button", name="Erase this person")).to_be_visible()

    page.get_by_role("button", name="Sign out").click()
    page.get_by_label("Email").fill("olga@example.com")
    page.get_by_label("Password", exact=True).fill("a long new password")
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_role("heading", name="Enter your code")).to_be_visible()
    _accessible(page, "login-totp")
    page.get_by_label("Code").fill(pyotp.TOTP(secret).at(time.time() + 30))
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("banner").get_by_text("olga@example.com", exact=True)).to_be_visible()


# -- single sign-on against oidc-provider ----------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def provider_install():
    """oidc-provider installed from tests/console/oidc/package-lock.json."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        if REQUIRE_NODE:
            pytest.fail("REQUIRE_NODE=1 (or REQUIRE_BROWSER=1) but node/npm are not "
                        "installed", pytrace=False)
        pytest.skip("SSO tests skipped: node/npm are not installed")
    if not (PROVIDER_DIR / "node_modules" / "oidc-provider").exists():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=PROVIDER_DIR, check=True,
                       capture_output=True, timeout=300)
    return node


@pytest.fixture
def provider(provider_install, app, live_server):
    """A real OpenID provider on a free port, the app configured to use it; its issuer."""
    port = _free_port()
    config = {"client": {**CLIENT, "redirect_uri": f"{live_server}/console/oidc/callback"},
              "accounts": ACCOUNTS}
    process = subprocess.Popen([provider_install, "provider.mjs", str(port)], cwd=PROVIDER_DIR,
                               env={**os.environ, "CONFIG": json.dumps(config)},
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = process.stdout.readline()
        assert line.startswith("ready "), line
        issuer = line.split()[1]
        app.config.update(OIDC_ISSUER=issuer, OIDC_CLIENT_ID=CLIENT["client_id"],
                          OIDC_CLIENT_SECRET=CLIENT["client_secret"])
        yield issuer
    finally:
        process.terminate()
        process.wait(timeout=10)
        process.stdout.close()


def _sso(page, live_server: str, login: str) -> None:
    """Through the provider's own login and consent pages."""
    page.goto(f"{live_server}/console/login")
    page.get_by_role("link", name="Sign in with SSO").click()
    page.locator("input[name=login]").fill(login)
    page.locator("input[name=password]").fill("any password")
    page.locator("button[type=submit]").click()
    page.wait_for_load_state()
    if "/interaction/" in page.url:  # the consent page
        page.locator("button[type=submit]").click()
    page.wait_for_load_state()


def _refusals(app) -> list[dict]:
    with app.app_context(), get_db(app).read_sessions() as s:
        return [e.details for e in s.scalars(select(AuditEntry).where(
            AuditEntry.action == "console.sign_in_refused"))]


def test_sso_signs_a_staff_member_in_with_their_role(app, live_server, page, provider):
    expect = _expect()
    add_staff(app, "olga@example.com", "viewer")
    page.goto(f"{live_server}/console/login")
    _accessible(page, "login-sso")
    _sso(page, live_server, "olga")
    expect(page.get_by_role("heading", name="Signed in")).to_be_visible()
    _accessible(page, "sso-signed-in")
    page.get_by_role("link", name="Continue to the console").click()
    expect(page.get_by_role("banner").get_by_text("olga@example.com", exact=True)).to_be_visible()
    nav = page.get_by_role("navigation", name="Console pages")
    expect(nav.get_by_role("link", name="Audit log")).to_be_visible()
    expect(nav.get_by_role("link", name="Retention")).to_have_count(0)  # not a viewer's


@pytest.mark.parametrize("login, reason", [("mallory", "unknown_staff"),
                                           ("unverified", "email_not_verified")])
def test_sso_refuses_an_unknown_or_unverified_email_and_audits_it(
        app, live_server, page, provider, login, reason):
    expect = _expect()
    add_staff(app, "olga@example.com", "viewer")
    _sso(page, live_server, login)
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    assert "/console/oidc/callback" in page.url
    assert _refusals(app) == [{"method": "oidc", "email": ACCOUNTS[login]["email"],
                               "reason": reason}]
    with app.app_context(), get_db(app).read_sessions() as s:
        assert s.scalars(select(ConsoleSession)).all() == []


def test_sso_with_a_state_not_this_browsers_or_another_issuer_is_refused(
        app, live_server, page, provider):
    page.goto(f"{live_server}/console/oidc/start")  # sets this browser's state cookie
    r = page.goto(f"{live_server}/console/oidc/callback?code=abc&state=forged")
    assert r.status == 400 and "state does not match" in page.content()
    state = next(c["value"] for c in page.context.cookies()
                 if c["name"] == "consentry_console_oidc").split(".")[0]
    r = page.goto(f"{live_server}/console/oidc/callback?code=abc&state={state}"
                  "&iss=https://evil.example.com")  # RFC 9207: another provider's answer
    assert r.status == 400 and "another provider" in page.content()
    client = html_client(app)  # no cookie at all
    r = client.get("/console/oidc/callback?code=abc&state=x")
    assert r.status_code == 400
