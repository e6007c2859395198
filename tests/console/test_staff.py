"""Staff accounts: the CLI, sign-in with a password and TOTP, roles, throttling, actors."""

from __future__ import annotations

import time

import pyotp
import pytest
from sqlalchemy import select

from consentry.db import get_db
from console.models import ConsoleSession, StaffAccount
from tests.console.conftest import csrf_of, html_client, new_key, post_form, sign_in
from tests.console.staffing import add_staff, enrol, password_sign_in, secret_of

PASSWORD = "correct horse battery"


def _sessions(app) -> list[ConsoleSession]:
    with app.app_context(), get_db(app).read_sessions() as s:
        return s.scalars(select(ConsoleSession).where(ConsoleSession.stage.is_(None))).all()


def _signed_in(app, email: str, role: str = "privacy_officer"):
    client = html_client(app)
    secret = enrol(client, email, add_staff(app, email, role), PASSWORD)
    return client, secret


def test_the_cli_adds_lists_disables_and_resets_staff(app):
    runner = app.test_cli_runner()
    one_time = add_staff(app, "Ada@Example.com", "legal")
    assert len(one_time) >= 16 and " " not in one_time
    again = runner.invoke(args=["staff", "add", "--email", "ada@example.com", "--role",
                                "legal"])
    assert again.exit_code != 0 and "exists already" in again.output
    bad = runner.invoke(args=["staff", "add", "--email", "ada", "--role", "legal"])
    assert bad.exit_code != 0
    unknown_role = runner.invoke(args=["staff", "add", "--email", "b@example.com",
                                       "--role", "boss"])
    assert unknown_role.exit_code == 2
    listed = runner.invoke(args=["staff", "list"])
    assert listed.exit_code == 0 and "ada@example.com\tlegal\ttotp=no" in listed.output
    with app.app_context(), get_db(app).read_sessions() as s:
        stored = s.scalar(select(StaffAccount))
        assert stored.password_hash.startswith("$argon2id$") and one_time not in \
            stored.password_hash
    reset = runner.invoke(args=["staff", "reset", "--email", "ada@example.com"])
    fresh = reset.output.strip().splitlines()[-1]
    assert reset.exit_code == 0 and fresh != one_time
    client = html_client(app)
    assert password_sign_in(client, "ada@example.com", one_time).status_code == 401
    assert password_sign_in(client, "ada@example.com", fresh).status_code == 303
    disabled = runner.invoke(args=["staff", "disable", "--email", "ada@example.com"])
    assert disabled.exit_code == 0
    assert "disabled=20" in runner.invoke(args=["staff", "list"]).output
    assert password_sign_in(html_client(app), "ada@example.com", fresh).status_code == 401
    missing = runner.invoke(args=["staff", "disable", "--email", "nobody@example.com"])
    assert missing.exit_code != 0 and "no staff account" in missing.output


def test_first_sign_in_sets_a_password_enrols_totp_and_later_ones_ask_for_a_code(app):
    email = "olga@example.com"
    one_time = add_staff(app, email, "privacy_officer")
    client = html_client(app)
    r = password_sign_in(client, email, one_time)
    assert r.status_code == 303 and r.headers["Location"].endswith("/console/account/password")
    assert client.get("/console/").status_code == 302  # no session until the end
    page = client.get("/console/account/password")
    short = client.post("/console/account/password", data={
        "password": one_time, "new_password": "short", "csrf_token": csrf_of(page.text)})
    assert short.status_code == 422 and "At least 12 characters" in short.text
    r = client.post("/console/account/password", data={
        "password": one_time, "new_password": PASSWORD, "csrf_token": csrf_of(page.text)})
    assert r.headers["Location"].endswith("/console/account/totp")
    enrolment = client.get("/console/account/totp")
    assert "otpauth://totp/Consentry:olga%40example.com?secret=" in enrolment.text
    assert 'src="data:image/svg+xml' in enrolment.text  # the QR code, drawn here
    assert "https://" not in enrolment.text.split("<main")[1]
    secret = secret_of(enrolment.text)
    wrong = client.post("/console/account/totp", data={
        "code": "000000" if pyotp.TOTP(secret).now() != "000000" else "111111",
        "csrf_token": csrf_of(enrolment.text)})
    assert wrong.status_code == 422 and _sessions(app) == []
    r = client.post("/console/account/totp", data={
        "code": pyotp.TOTP(secret).now(), "csrf_token": csrf_of(enrolment.text)})
    assert r.status_code == 303
    home = client.get("/console/")
    assert home.status_code == 200 and email in home.text and "privacy officer" in home.text

    later = html_client(app)
    assert password_sign_in(later, email, one_time).status_code == 401  # spent
    r = password_sign_in(later, email, PASSWORD)
    assert r.headers["Location"].endswith("/console/login/totp")
    assert later.get("/console/").status_code == 302
    form = later.get("/console/login/totp")
    bad = later.post("/console/login/totp", data={"code": "12345x",
                                                  "csrf_token": csrf_of(form.text)})
    assert bad.status_code == 401 and later.get("/console/").status_code == 302
    # the code just used to enrol is taken once only; wait for the next step's code
    totp = pyotp.TOTP(secret)
    code = totp.at(time.time() + 30)
    r = later.post("/console/login/totp", data={"code": code,
                                                "csrf_token": csrf_of(form.text)})
    assert r.status_code == 303 and later.get("/console/").status_code == 200


def test_a_wrong_password_shows_the_form_again_and_opens_no_session(app):
    add_staff(app, "pia@example.com", "viewer")
    client = html_client(app)
    for email, password in (("pia@example.com", "wrong password!"),
                            ("nobody@example.com", "whatever it is")):
        r = password_sign_in(client, email, password)
        assert r.status_code == 401 and "do not match an active staff account" in r.text
        assert 'name="email"' in r.text
    assert client.get("/console/").status_code == 302
    with app.app_context(), get_db(app).read_sessions() as s:
        assert s.scalars(select(ConsoleSession)).all() == []


def test_failed_sign_ins_are_throttled_per_account_and_per_address(make_app):
    app = make_app(SIGN_IN_FAILURES=3, SIGN_IN_FAILURE_SECONDS=60)
    one_time = add_staff(app, "rui@example.com", "viewer")
    client = html_client(app)
    statuses = [password_sign_in(client, "rui@example.com", "not the password").status_code
                for _ in range(4)]
    assert statuses == [401, 401, 401, 429]
    limited = password_sign_in(client, "rui@example.com", one_time)  # even the right one
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    assert "Too many sign-in attempts" in limited.text
    # the address is spent too: another account from here waits as well
    add_staff(app, "sam@example.com", "viewer")
    assert password_sign_in(client, "sam@example.com", "x" * 12).status_code == 429
    key, _ = new_key(app, "audit:read")
    assert sign_in(client, key).status_code == 429
    with app.app_context(), get_db(app).read_sessions() as s:
        assert s.scalars(select(ConsoleSession)).all() == []


@pytest.mark.parametrize("how", ["disable", "reset"])
def test_a_disabled_or_reset_accounts_session_ends_at_once(app, how):
    client, _ = _signed_in(app, "tom@example.com", "viewer")
    assert client.get("/console/").status_code == 200
    result = app.test_cli_runner().invoke(args=["staff", how, "--email", "tom@example.com"])
    assert result.exit_code == 0
    assert client.get("/console/").status_code == 302
    assert client.get("/console/audit").headers["Location"].startswith("/console/login")


def test_a_viewer_sees_no_erasure_button_and_is_refused_the_erasure(app, admin):
    api = app.test_client()
    api.put("/v1/subjects/alice/consents", headers=admin, json={
        "source": "test", "jurisdiction": "EU", "choices": [
            {"purpose": "personalization", "category": "behavioral", "status": "granted"}]})
    viewer, _ = _signed_in(app, "vic@example.com", "viewer")
    page = viewer.get("/console/subjects/alice")
    assert page.status_code == 200 and "Erase this person" not in page.text
    r = viewer.post("/console/subjects/alice/erasure", data={
        "confirm": "1", "confirm_subject_id": "alice", "csrf_token": csrf_of(page.text)})
    assert r.status_code == 403 and "lacks the scope" in r.text and "erasure:write" in r.text
    assert "vic@example.com" in r.text and "viewer" in r.text
    erasures = api.get("/v1/erasures", headers=admin)
    assert erasures.status_code == 200 and erasures.get_json()["erasures"] == []
    officer, _ = _signed_in(app, "oli@example.com", "privacy_officer")
    assert "Erase this person" in officer.get("/console/subjects/alice").text


def test_staff_actions_are_audited_with_the_staff_account_as_actor(app, admin):
    client, _ = _signed_in(app, "lea@example.com", "legal")
    r = post_form(client, "/console/retention", "/console/retention/holds",
                  {"subject_id": "dora", "reason": "litigation 12"})
    assert r.status_code == 303
    holds = app.test_client().get("/v1/retention/holds", headers=admin).get_json()["holds"]
    assert holds[0]["created_by"] == "staff:lea@example.com"
    audit = client.get("/console/audit?subject_id=dora")
    assert "staff:lea@example.com" in audit.text
