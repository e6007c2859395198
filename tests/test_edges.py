"""Edges of issue 21 that are not pages: the console's `next`, request ids, role labels
that people see instead of key and staff names (items 6, 13, 19)."""

from __future__ import annotations

import json
import re

from tests.console.conftest import csrf_of, html_client, new_key
from tests.governance.test_access import _export, _files


def test_a_cr_or_lf_in_the_consoles_next_lands_on_the_console_home(app):
    key, _ = new_key(app, "audit:read")
    for bad in ("/console/audit\r\nSet-Cookie: x=1", "/console/audit\nX: y", "/console/\x07"):
        client = html_client(app)
        form = client.get("/console/login")
        r = client.post("/console/login", data={"api_key": key, "next": bad,
                                                "csrf_token": csrf_of(form.text)})
        assert r.status_code == 303 and r.headers["Location"] == "/console/", bad
        assert "Set-Cookie: x" not in str(r.headers)


def test_a_request_id_that_could_forge_a_log_line_is_replaced(client, admin):
    for sent, kept in (("abc.DEF_12-3", True), ("a" * 128, True), ("a" * 129, False),
                       ("two words", False), ("x\ty", False), ("ünï", False), ("", False)):
        for path in ("/v1/policy",
                     "/v1/subjects/u-1/allowed-signals?purpose=personalization"):  # fast path
            answer = client.get(path, headers={**admin, "X-Request-Id": sent})
            got = answer.headers["X-Request-Id"]
            assert (got == sent) is kept, (sent, path)
            assert re.fullmatch(r"[A-Za-z0-9._-]{1,128}", got)


def test_people_see_role_labels_never_key_or_staff_names(app, client, make_key, tmp_path):
    secret_name = "acme-crm-prod-key"
    writer = make_key("preferences:write", "preferences:read", name=secret_name)
    assert client.put("/v1/subjects/rita/consents", headers=writer, json={
        "source": "crm", "choices": [{"purpose": "marketing", "status": "granted"}]}
    ).status_code == 200
    link = client.post("/v1/subjects/rita/preference-link", json={}, headers=writer).get_json()
    path = "/" + link["url"].split("/", 3)[3]
    assert secret_name not in link["url"]
    from tests.pages.conftest import Form

    form = Form(client.get(path).get_data(as_text=True))
    assert client.post(path, data=form.submission(toggle=("purpose:marketing",))
                       ).status_code == 303
    legal = make_key("audit:export", "audit:read", name="legal-team-key")
    legal_hold = make_key("retention:admin", name="counsel-smith")
    client.post("/v1/retention/holds", headers=legal_hold,
                json={"subject_id": "rita", "reason": "case 7"})
    files = _files(_export(app, client, legal, "rita", tmp_path))
    person = {name: body for name, body in files.items() if name.startswith("subject/")}
    everything = b"".join(person.values())
    for name in (secret_name, "counsel-smith", "page-link:"):
        assert name.encode() not in everything, name
    events = json.loads(person["subject/consent_events.json"])
    assert {e["recorded_by"] for e in events} == {"staff", "preference_page"}
    holds = json.loads(person["subject/holds.json"])
    assert [h["created_by"] for h in holds] == ["staff"]
    # The audit log keeps who it was.
    entries = client.get("/v1/audit/entries?subject_id=rita&action=consent.",
                         headers=legal).get_json()["entries"]
    assert {e["actor"] for e in entries} >= {secret_name, f"page-link:{secret_name}"}


def test_a_nul_in_a_console_form_field_is_a_422_naming_it_and_changes_nothing(app, admin):
    from tests.console.conftest import post_form, sign_in

    key, _ = new_key(app, "retention:admin")
    client = html_client(app)
    assert sign_in(client, key).status_code == 303
    r = post_form(client, "/console/retention", "/console/retention/holds",
                  {"subject_id": "dora", "reason": "litigation\x00 12"})
    assert r.status_code == 422 and "reason" in r.text
    assert app.test_client().get("/v1/retention/holds", headers=admin).get_json()["holds"] == []


def test_console_sign_in_is_rate_limited_per_address_and_account_and_opens_no_session(
        make_app):
    from sqlalchemy import select

    from consentry.db import get_db
    from console.models import ConsoleSession

    app = make_app(RATE_LIMIT_PER_SECOND=1.0)
    key, _ = new_key(app, "audit:read")
    client = html_client(app)
    token = csrf_of(client.get("/console/login").text)
    statuses = [client.post("/console/login", data={"api_key": "csk_00000000_wrong",
                                                    "csrf_token": token}).status_code
                for _ in range(3)]
    assert statuses[:2] == [401, 401] and statuses[2] == 429
    limited = client.post("/console/login", data={"api_key": key, "csrf_token": token})
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    assert "Too many sign-in attempts" in limited.text
    with app.app_context(), get_db(app).read_sessions() as s:
        assert s.scalars(select(ConsoleSession)).all() == []
