"""The console's privacy requests over HTTP: the queue with its deadlines, a request's page,
its forms (CSRF, scopes), the CSV and the counts on the home page."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from html import unescape

from tests.console.conftest import csrf_of, post_form, run_exports, run_retention


def _ts(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _create(client, headers, **fields) -> str:
    body = {"subject_id": "alice", "type": "access", "jurisdiction": "EU", "source": "api",
            **fields}
    r = client.post("/v1/requests", headers=headers, json=body)
    assert r.status_code == 201, r.get_json()
    return r.get_json()["request_id"]


def _rows(html: str) -> list[str]:
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0] if "<tbody>" in html else ""
    return [unescape(re.sub(r"<[^>]+>", " ", row)) for row in body.split("</tr>") if "<td" in row]


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


def test_the_queue_needs_requests_read_and_its_forms_requests_write(app, console, admin):
    rid = _create(app.test_client(), admin)
    for path in ("/console/requests", f"/console/requests/{rid}", "/console/requests.csv"):
        refused, _ = console("audit:read")
        r = refused.get(path)
        assert r.status_code == 403 and "requests:read" in unescape(r.text), path
    reader, _ = console("requests:read")
    page = reader.get("/console/requests")
    assert page.status_code == 200 and "Record the request" not in page.text
    assert "Act on it" not in reader.get(f"/console/requests/{rid}").text
    token = csrf_of(page.text)
    r = reader.post("/console/requests", data={"csrf_token": token, "subject_id": "bob",
                                               "type": "access"})
    assert r.status_code == 403 and "requests:write" in unescape(r.text)
    r = reader.post(f"/console/requests/{rid}/transition",
                    data={"csrf_token": token, "to": "in_progress"})
    assert r.status_code == 403
    r = reader.post(f"/console/requests/{rid}/extend", data={"csrf_token": token, "reason": "x"})
    assert r.status_code == 403
    requests = app.test_client().get("/v1/requests", headers=admin).get_json()["requests"]
    assert [(q["request_id"], q["status"]) for q in requests] == [(rid, "received")]
    nav = reader.get("/console/").text.split("</nav>")[0]
    assert "/console/requests" in nav


def test_a_request_recorded_in_the_console_is_in_the_queue_with_its_days_left(app, console,
                                                                              admin):
    client, name = console("requests:read", "requests:write")
    r = post_form(client, "/console/requests", "/console/requests", {
        "subject_id": "alice", "type": "erasure", "jurisdiction": "US-CA",
        "received_at": "", "note": "asked by email, ticket DSR-9"})
    assert r.status_code == 303
    page = client.get(r.headers["Location"])
    assert page.status_code == 200 and "The request is recorded" in page.text
    assert "44 days left" in _text(page.text) and "DSR-9" in page.text
    [row] = _rows(client.get("/console/requests").text)
    assert "44 days left" in row and "erasure" in row and "alice" in row
    api = app.test_client().get("/v1/requests", headers=admin).get_json()["requests"]
    assert api[0]["source"] == "console" and api[0]["created_by"] == f"key:{name}"


def test_a_form_with_mistakes_is_shown_again_and_stores_nothing(app, console, admin):
    client, _ = console("requests:read", "requests:write")
    future = (datetime.now(UTC) + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
    r = post_form(client, "/console/requests", "/console/requests",
                  {"subject_id": "not an id", "type": "access", "received_at": future})
    assert r.status_code == 422 and 'aria-invalid="true"' in r.text
    assert 'value="not an id"' in r.text
    r = post_form(client, "/console/requests", "/console/requests",
                  {"subject_id": "alice", "type": "access", "received_at": future})
    assert r.status_code == 422 and "Must not be in the future." in r.text
    assert app.test_client().get("/v1/requests", headers=admin).get_json()["requests"] == []


def test_overdue_requests_are_marked_and_the_queue_filters(app, console, admin):
    api = app.test_client()
    now = datetime.now(UTC)
    late = _create(api, admin, received_at=_ts(now - timedelta(days=40)))
    _create(api, admin, subject_id="bob", type="objection", jurisdiction="US-CA")
    closed = _create(api, admin, subject_id="carol")
    api.post(f"/v1/requests/{closed}/transition", headers=admin,
             json={"to": "rejected", "reason": "duplicate"})
    client, _ = console("requests:read")
    page = client.get("/console/requests").text
    rows = _rows(page)
    assert len(rows) == 2  # open ones only, soonest due first
    assert "Overdue by" in rows[0] and "alice" in rows[0]
    marked = page.split('<tr class="is-overdue">')
    assert len(marked) == 2 and late in marked[1][:400]
    assert "bob" in rows[1] and "Overdue" not in rows[1]
    assert "carol" not in page.split("<tbody>")[1]
    assert [r for r in _rows(client.get("/console/requests?type=objection").text)
            if "bob" in r]
    assert len(_rows(client.get("/console/requests?type=objection").text)) == 1
    assert len(_rows(client.get("/console/requests?jurisdiction=EU").text)) == 1
    rejected = _rows(client.get("/console/requests?status=rejected").text)
    assert len(rejected) == 1 and "carol" in rejected[0]
    assert len(_rows(client.get("/console/requests?status=all").text)) == 3
    r = client.get("/console/requests?status=lost")
    assert r.status_code == 422 and "Check the filters" in r.text

    r = client.get("/console/requests.csv?status=all")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    assert "attachment" in r.headers["Content-Disposition"]
    table = list(csv.DictReader(io.StringIO(r.text)))
    assert [row["subject_id"] for row in table] == ["alice", "carol", "bob"]
    assert {row["subject_id"]: row["overdue"] for row in table} == {
        "alice": "yes", "bob": "no", "carol": "no"}
    assert len(list(csv.DictReader(io.StringIO(
        client.get("/console/requests.csv?type=objection").text)))) == 1


def test_the_home_page_counts_what_is_due_this_week_and_overdue(app, console, admin):
    api = app.test_client()
    now = datetime.now(UTC)
    _create(api, admin, received_at=_ts(now - timedelta(days=40)))  # overdue
    _create(api, admin, jurisdiction="US-CA", received_at=_ts(now - timedelta(days=41)))
    _create(api, admin, jurisdiction="US-CA", received_at=_ts(now - timedelta(days=40)))
    _create(api, admin)  # due in a month
    client, _ = console("requests:read")
    text = _text(client.get("/console/").text)
    assert "2 due this week, 1 overdue (4 open)" in text
    other, _ = console("audit:read")
    assert "due this week" not in other.get("/console/").text


def test_a_request_is_taken_in_hand_rejected_without_a_reason_refused_then_completed(
        app, console, admin):
    rid = _create(app.test_client(), admin, note="wants a copy")
    client, name = console("requests:read", "requests:write", "audit:export")
    page = f"/console/requests/{rid}"
    assert post_form(client, page, f"{page}/transition", {"to": "in_progress"}).status_code \
        == 303
    r = post_form(client, page, f"{page}/transition", {"to": "rejected", "reason": ""})
    assert r.status_code == 422 and "A rejection needs a reason." in r.text
    assert "in_progress" in r.text or "in progress" in r.text
    r = post_form(client, page, f"{page}/transition", {"to": "completed"})
    assert r.status_code == 303
    shown = client.get(page).text
    assert "The bundle is being written" in shown and 'role="status"' in shown
    assert "http-equiv" not in shown  # no meta refresh: a button checks again
    assert "Act on it" not in shown  # closed
    history = _text(shown.split('id="history-h"')[1])
    assert "received" in history and "in progress" in history and "completed" in history
    assert name in history and "wants a copy" in history
    assert run_exports(app) == 1
    shown = client.get(page).text
    export_id = app.test_client().get(f"/v1/requests/{rid}",
                                      headers=admin).get_json()["export_id"]
    link = f"/console/exports/{export_id}/bundle"
    assert link in shown and "Download the bundle" in shown
    bundle = client.get(link)
    assert bundle.status_code == 200 and bundle.mimetype == "application/zip"
    bundle.close()
    # a second transition of the closed request is refused, saying why
    token = csrf_of(shown)
    r = client.post(f"{page}/transition", data={"csrf_token": token, "to": "rejected",
                                                "reason": "late"})
    assert r.status_code == 409 and "request_closed" in r.text


def test_an_extension_is_offered_once(app, console, admin):
    rid = _create(app.test_client(), admin, received_at="2026-01-31T10:00:00Z")
    client, _ = console("requests:read", "requests:write")
    page = f"/console/requests/{rid}"
    assert "2026-02-28 10:00:00 UTC" in client.get(page).text
    r = post_form(client, page, f"{page}/extend", {"reason": ""})
    assert r.status_code == 422 and 'aria-invalid="true"' in r.text
    r = post_form(client, page, f"{page}/extend", {"reason": "many systems to search"})
    assert r.status_code == 303
    shown = client.get(r.headers["Location"]).text
    assert "The due date is now 2026-04-28 10:00:00 UTC" in shown
    assert "Extend the due date once" not in shown and "many systems to search" in shown


def test_a_form_without_its_csrf_token_changes_nothing(app, console, admin):
    rid = _create(app.test_client(), admin)
    client, _ = console("requests:read", "requests:write")
    for path, data in ((f"/console/requests/{rid}/transition", {"to": "completed"}),
                       (f"/console/requests/{rid}/extend", {"reason": "x"}),
                       ("/console/requests", {"subject_id": "bob", "type": "access"})):
        for extra in ({}, {"csrf_token": "forged"}):
            r = client.post(path, data={**data, **extra})
            assert r.status_code == 403 and "csrf_failed" in r.text
    requests = app.test_client().get("/v1/requests", headers=admin).get_json()["requests"]
    assert [(q["status"], q["extended"]) for q in requests] == [("received", False)]


def test_an_erasure_request_under_a_hold_says_its_erasure_waits(app, console, admin):
    api = app.test_client()
    hold = api.post("/v1/retention/holds", headers=admin,
                    json={"subject_id": "alice", "reason": "case 7"}).get_json()
    rid = _create(api, admin, type="erasure")
    client, _ = console("requests:read", "requests:write", "audit:read")
    page = f"/console/requests/{rid}"
    assert "starts the erasure" in client.get(page).text
    assert post_form(client, page, f"{page}/transition", {"to": "completed"}).status_code == 303
    run_retention(app)
    shown = client.get(page).text
    assert "The erasure waits: a legal hold is on this person" in shown
    assert hold["id"] in shown and "http-equiv" not in shown
    erasure_id = api.get(f"/v1/requests/{rid}", headers=admin).get_json()["erasure_id"]
    assert f"/console/retention/erasures/{erasure_id}" in shown


def test_every_post_form_on_the_request_pages_carries_a_csrf_token(app, console, admin):
    rid = _create(app.test_client(), admin)
    client, _ = console("admin")
    for path in ("/console/requests", f"/console/requests/{rid}"):
        html = client.get(path).text
        forms = re.findall(r'<form method="post".*?</form>', html, re.S)
        assert forms and all('name="csrf_token" value="' in f for f in forms), path
        assert "http-equiv" not in html
    assert client.get("/console/requests/nope").status_code == 404


def test_a_persons_page_lists_their_requests_and_records_a_new_one(app, console, admin):
    api = app.test_client()
    rid = _create(api, admin, received_at=_ts(datetime.now(UTC) - timedelta(days=40)))
    _create(api, admin, subject_id="bob")
    client, _ = console("preferences:read", "requests:read", "requests:write")
    page = client.get("/console/subjects/alice").text
    section = page.split('id="requests-h"')[1].split("</section>")[0]
    assert f"/console/requests/{rid}" in section and "Overdue by" in section
    assert "bob" not in section
    r = post_form(client, "/console/subjects/alice", "/console/requests",
                  {"subject_id": "alice", "jurisdiction": "US-CA", "type": "erasure"})
    assert r.status_code == 303
    listed = api.get("/v1/requests", headers=admin,
                     query_string={"subject_id": "alice"}).get_json()["requests"]
    assert [(q["type"], q["jurisdiction"], q["source"]) for q in listed][-1] == \
        ("erasure", "US-CA", "console")
    reader, _ = console("preferences:read")
    assert 'id="requests-h"' not in reader.get("/console/subjects/alice").text
