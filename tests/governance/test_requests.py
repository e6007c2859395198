"""Privacy requests (DSAR): deadlines from the jurisdiction, one extension, transitions,
the queue's filters and pages, scopes, audit, and what completing a request starts."""

from __future__ import annotations

import io
import json
import tomllib
import uuid
import zipfile
from datetime import UTC, datetime, timedelta
from importlib import resources

import pytest
from sqlalchemy import select

from audit.jobs import run_export_queue
from consentry.db import get_db
from consentry.policy import PolicyError, parse_policy
from governance.models import PrivacyRequest, RequestTransition
from tests.retention.test_api import poll

SUBJECT = "alice@example.com"


@pytest.fixture
def app(make_app, tmp_path):
    return make_app(AUDIT_EXPORT_DIR=str(tmp_path / "exports"))


def _ts(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def create(client, headers, expect=201, **fields):
    body = {"subject_id": SUBJECT, "type": "access", "jurisdiction": "EU", "source": "api",
            **fields}
    r = client.post("/v1/requests", headers=headers, json=body)
    assert r.status_code == expect, r.get_json()
    return r.get_json()


def step(client, headers, request_id, expect=200, **body):
    r = client.post(f"/v1/requests/{request_id}/transition", headers=headers, json=body)
    assert r.status_code == expect, r.get_json()
    return r.get_json()


def extend(client, headers, request_id, expect=200, **body):
    r = client.post(f"/v1/requests/{request_id}/extend", headers=headers, json=body)
    assert r.status_code == expect, r.get_json()
    return r.get_json()


def show(client, headers, request_id):
    r = client.get(f"/v1/requests/{request_id}", headers=headers)
    assert r.status_code == 200, r.get_json()
    return r.get_json()


# -- due dates ----------------------------------------------------------------------------


@pytest.mark.parametrize(("jurisdiction", "received", "due"), [
    ("EU", "2026-01-31T09:30:00Z", "2026-02-28T09:30:00Z"),   # a month ends on its last day
    ("EU", "2024-01-31T09:30:00Z", "2024-02-29T09:30:00Z"),   # a leap year's
    ("EU", "2026-03-15T00:00:00Z", "2026-04-15T00:00:00Z"),   # else the same day
    ("EU", "2025-12-31T23:59:59Z", "2026-01-31T23:59:59Z"),   # over the year's end
    ("US-CA", "2026-03-01T12:00:00Z", "2026-04-15T12:00:00Z"),  # 45 days
    ("DEFAULT", "2026-01-31T12:00:00Z", "2026-03-17T12:00:00Z"),
])
def test_the_due_date_is_the_jurisdictions_deadline_from_receipt(client, admin, jurisdiction,
                                                                  received, due):
    body = create(client, admin, jurisdiction=jurisdiction, received_at=received)
    assert {k: body[k] for k in ("subject_id", "type", "status", "jurisdiction", "source",
                                 "received_at", "due_at", "extended")} == {
        "subject_id": SUBJECT, "type": "access", "status": "received",
        "jurisdiction": jurisdiction, "source": "api", "received_at": received, "due_at": due,
        "extended": False}
    assert body["request_id"]
    assert show(client, admin, body["request_id"])["due_at"] == due


def test_a_request_without_a_jurisdiction_or_time_gets_the_default_and_now(client, admin):
    before = datetime.now(UTC)
    body = create(client, admin, jurisdiction=None)
    received = datetime.fromisoformat(body["received_at"])
    assert before - timedelta(seconds=1) <= received <= datetime.now(UTC)
    assert body["jurisdiction"] == "DEFAULT"
    assert datetime.fromisoformat(body["due_at"]) - received == timedelta(days=45)
    assert body["days_left"] == 44  # whole days left: 44 days and some hours


@pytest.mark.parametrize(("fields", "field"), [
    ({"received_at": _ts(datetime.now(UTC) + timedelta(hours=1))}, "received_at"),
    ({"received_at": "2026-01-31T09:30:00"}, "received_at"),  # no zone
    ({"jurisdiction": "MARS"}, "jurisdiction"),
    ({"type": "deletion"}, "type"),
    ({"subject_id": "not a subject id"}, "subject_id"),
    ({"source": ""}, "source"),
    ({"note": "x" * 2001}, "note"),
    ({"extra": 1}, "extra"),
])
def test_a_request_that_breaks_a_rule_is_a_422_naming_the_field(client, admin, fields, field):
    body = create(client, admin, expect=422, **fields)
    assert body["error"]["code"] == "validation_error"
    assert field in body["error"]["fields"], body


def test_received_at_in_the_future_is_refused_and_nothing_is_stored(app, client, admin):
    create(client, admin, expect=422, received_at=_ts(datetime.now(UTC) + timedelta(days=2)))
    assert client.get("/v1/requests", headers=admin).get_json()["requests"] == []


# -- extension ----------------------------------------------------------------------------


def test_an_eu_request_is_extended_once_by_two_months_from_its_due_date(client, admin):
    body = create(client, admin, received_at="2026-01-31T10:00:00Z")
    assert body["due_at"] == "2026-02-28T10:00:00Z"
    extend(client, admin, body["request_id"], expect=422)  # a reason is required
    extend(client, admin, body["request_id"], expect=422, reason="  ")
    extended = extend(client, admin, body["request_id"],
                      reason="complex request: several systems to search")
    assert extended["due_at"] == "2026-04-28T10:00:00Z"
    assert extended["extended"] is True and extended["status"] == "extended"
    again = extend(client, admin, body["request_id"], expect=409, reason="more time")
    assert again["error"]["code"] == "request_extended"
    assert show(client, admin, body["request_id"])["due_at"] == "2026-04-28T10:00:00Z"
    steps = show(client, admin, body["request_id"])["history"]
    assert [(s["status"], s["reason"], s["due_at"]) for s in steps] == [
        ("received", None, "2026-02-28T10:00:00Z"),
        ("extended", "complex request: several systems to search", "2026-04-28T10:00:00Z")]
    # an extended request is still open and goes on as any other
    assert step(client, admin, body["request_id"], to="in_progress")["extended"] is True


def test_a_californian_request_is_extended_by_45_days(client, admin):
    body = create(client, admin, jurisdiction="US-CA", received_at="2026-03-01T12:00:00Z")
    assert extend(client, admin, body["request_id"], reason="reasonably necessary")[
        "due_at"] == "2026-05-30T12:00:00Z"


# -- transitions ---------------------------------------------------------------------------


def test_a_request_moves_through_its_statuses_and_a_closed_one_stays_closed(
        client, make_key):
    officer = make_key("requests:write", "requests:read", name="privacy-officer")
    body = create(client, officer, type="rectification", note="wrong postcode on file")
    rid = body["request_id"]
    assert step(client, officer, rid, to="in_progress")["status"] == "in_progress"
    assert step(client, officer, rid, expect=409, to="in_progress")["error"]["code"] \
        == "request_unchanged"
    refused = step(client, officer, rid, expect=422, to="rejected")
    assert "reason" in refused["error"]["fields"]
    step(client, officer, rid, expect=422, to="received")  # not a status one moves to
    step(client, officer, rid, expect=422, to="completed", reason="x" * 1001)
    done = step(client, officer, rid, to="rejected", reason="identity not verified")
    assert done["status"] == "rejected" and done["closed_at"] and done["days_left"] is None
    for to in ("in_progress", "completed", "rejected"):
        assert step(client, officer, rid, expect=409, to=to, reason="again")["error"]["code"] \
            == "request_closed"
    assert extend(client, officer, rid, expect=409, reason="late")["error"]["code"] \
        == "request_closed"
    history = show(client, officer, rid)["history"]
    assert [(s["status"], s["actor"], s["reason"]) for s in history] == [
        ("received", "privacy-officer", "wrong postcode on file"),
        ("in_progress", "privacy-officer", None),
        ("rejected", "privacy-officer", "identity not verified")]
    assert all(s["at"].endswith("Z") for s in history)


def test_an_unknown_request_is_a_404(client, admin):
    assert client.get("/v1/requests/nope", headers=admin).status_code == 404
    assert client.get("/v1/requests/" + "a" * 40, headers=admin).status_code == 404
    r = client.post("/v1/requests/nope/transition", headers=admin, json={"to": "in_progress"})
    assert r.status_code == 404
    r = client.post("/v1/requests/nope/extend", headers=admin, json={"reason": "x"})
    assert r.status_code == 404


def test_each_step_is_audited_with_its_reason_sealed_under_the_subject(client, admin):
    rid = create(client, admin, type="objection", note="stop the newsletter")["request_id"]
    step(client, admin, rid, to="in_progress")
    extend(client, admin, rid, reason="waiting for the CRM team")
    step(client, admin, rid, to="completed", reason="unsubscribed")
    entries = client.get("/v1/audit/entries", headers=admin,
                         query_string={"subject_id": SUBJECT, "action": "request."}
                         ).get_json()["entries"]
    assert [e["action"] for e in entries] == ["request.created", "request.started",
                                              "request.extended", "request.completed"]
    assert {e["actor"] for e in entries} == {"test-admin"}
    assert all(e["details"]["request_id"] == rid for e in entries)
    assert [(e.get("personal") or {}).get("reason") for e in entries] == [
        "stop the newsletter", None, "waiting for the CRM team", "unsubscribed"]
    assert "stop the newsletter" not in str([e["details"] for e in entries])


# -- the queue -----------------------------------------------------------------------------


def _seed_queue(client, admin) -> dict[str, str]:
    now = datetime.now(UTC)
    ids = {
        "eu_old": create(client, admin, received_at=_ts(now - timedelta(days=40)))["request_id"],
        "ca_erase": create(client, admin, type="erasure", jurisdiction="US-CA", subject_id="u-2",
                           received_at=_ts(now - timedelta(days=10)))["request_id"],
        "eu_new": create(client, admin, type="objection", subject_id="u-3")["request_id"],
        "default_done": create(client, admin, jurisdiction="DEFAULT", subject_id="u-4",
                               received_at=_ts(now - timedelta(days=20)))["request_id"],
    }
    step(client, admin, ids["default_done"], to="rejected", reason="duplicate")
    step(client, admin, ids["ca_erase"], to="in_progress")
    return ids


def _ids(client, headers, **query) -> list[str]:
    r = client.get("/v1/requests", headers=headers, query_string=query)
    assert r.status_code == 200, r.get_json()
    return [q["request_id"] for q in r.get_json()["requests"]]


def test_the_queue_is_soonest_due_first_and_filters(client, admin):
    ids = _seed_queue(client, admin)
    # due: eu_old 10 days ago, default_done in 25 days, eu_new in a month, ca_erase in 35
    order = [ids["eu_old"], ids["default_done"], ids["eu_new"], ids["ca_erase"]]
    assert _ids(client, admin) == order
    listed = client.get("/v1/requests", headers=admin).get_json()["requests"]
    first = listed[0]
    assert first["overdue"] is True and first["days_left"] < 0 and "history" not in first
    assert _ids(client, admin, status="open") == [ids["eu_old"], ids["eu_new"], ids["ca_erase"]]
    assert _ids(client, admin, status="rejected") == [ids["default_done"]]
    assert _ids(client, admin, status="in_progress") == [ids["ca_erase"]]
    assert _ids(client, admin, type="erasure") == [ids["ca_erase"]]
    assert _ids(client, admin, jurisdiction="EU") == [ids["eu_old"], ids["eu_new"]]
    soon = _ts(datetime.now(UTC) + timedelta(days=26))
    assert _ids(client, admin, due_before=soon) == [ids["eu_old"], ids["default_done"]]
    assert _ids(client, admin, subject_id="u-3") == [ids["eu_new"]]
    assert _ids(client, admin, type="access", status="open") == [ids["eu_old"]]


def test_the_queue_pages_with_cursors(client, admin):
    ids = _seed_queue(client, admin)
    seen, cursor = [], None
    while True:
        query = {"limit": 1, **({"cursor": cursor} if cursor else {})}
        body = client.get("/v1/requests", headers=admin, query_string=query).get_json()
        seen += [q["request_id"] for q in body["requests"]]
        cursor = body["next"]
        if cursor is None:
            break
    assert seen == _ids(client, admin) and len(seen) == len(ids)
    body = client.get("/v1/requests", headers=admin,
                      query_string={"limit": 2, "status": "open"}).get_json()
    rest = client.get("/v1/requests", headers=admin,
                      query_string={"limit": 2, "status": "open", "cursor": body["next"]}
                      ).get_json()
    assert [q["request_id"] for q in body["requests"] + rest["requests"]] == \
        _ids(client, admin, status="open")
    assert rest["next"] is None


@pytest.mark.parametrize("query", [{"cursor": "nonsense"}, {"limit": 0}, {"limit": 1001},
                                   {"status": "closed"}, {"type": "deletion"},
                                   {"due_before": "tomorrow"}, {"subject_id": "a b"}])
def test_a_bad_list_query_is_a_422(client, admin, query):
    r = client.get("/v1/requests", headers=admin, query_string=query)
    assert r.status_code == 422, r.get_json()


# -- scopes --------------------------------------------------------------------------------


def test_requests_need_their_scopes(client, admin, make_key):
    reader, writer = make_key("requests:read"), make_key("requests:write")
    other = make_key("audit:read", "erasure:write", "audit:export")
    rid = create(client, writer)["request_id"]
    create(client, reader, expect=403)
    create(client, other, expect=403)
    assert client.post("/v1/requests", json={}).status_code == 401
    assert client.get("/v1/requests", headers=reader).status_code == 200
    assert client.get(f"/v1/requests/{rid}", headers=reader).status_code == 200
    assert client.get("/v1/requests", headers=other).status_code == 403
    assert client.get(f"/v1/requests/{rid}", headers=other).status_code == 403
    assert client.get("/v1/requests", headers=writer).status_code == 403  # write only
    step(client, reader, rid, expect=403, to="in_progress")
    extend(client, reader, rid, expect=403, reason="x")
    step(client, writer, rid, to="in_progress")
    extend(client, writer, rid, reason="x")
    assert client.get("/v1/requests", headers=admin).status_code == 200


def test_a_retried_create_with_its_idempotency_key_is_stored_once(app, client, admin):
    headers = {**admin, "Idempotency-Key": uuid.uuid4().hex}
    body = {"subject_id": SUBJECT, "type": "erasure", "jurisdiction": "EU", "source": "api"}
    first = client.post("/v1/requests", headers=headers, json=body)
    again = client.post("/v1/requests", headers=headers, json=body)
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json()["request_id"] == first.get_json()["request_id"]
    assert len(_ids(client, admin)) == 1
    other = client.post("/v1/requests", headers=headers, json={**body, "type": "access"})
    assert other.status_code == 409
    rid = first.get_json()["request_id"]
    key = {**admin, "Idempotency-Key": uuid.uuid4().hex}
    assert client.post(f"/v1/requests/{rid}/extend", headers=key,
                       json={"reason": "x"}).status_code == 200
    replay = client.post(f"/v1/requests/{rid}/extend", headers=key, json={"reason": "x"})
    assert replay.status_code == 200 and replay.headers["Idempotent-Replayed"] == "true"


# -- what completing a request starts ------------------------------------------------------


def test_completing_an_access_request_builds_the_subject_access_bundle(app, client, admin):
    client.put(f"/v1/subjects/{SUBJECT}/consents", headers=admin, json={
        "source": "pc", "jurisdiction": "EU",
        "choices": [{"purpose": "personalization", "status": "granted"}]})
    rid = create(client, admin, note="asked by email")["request_id"]
    assert "export_id" in show(client, admin, rid) and show(client, admin, rid)["export_id"] \
        is None
    extend(client, admin, rid, reason="we hold data in several systems")
    done = step(client, admin, rid, to="completed", reason="internal: checked by Bob")
    assert done["status"] == "completed" and done["export_id"]
    assert done["export_status"] == "queued"
    assert run_export_queue(app, "test") == 1
    assert show(client, admin, rid)["export_status"] == "ready"
    r = client.get(f"/v1/audit/exports/{done['export_id']}", headers=admin)
    assert r.status_code == 200 and r.mimetype == "application/zip"
    with zipfile.ZipFile(io.BytesIO(r.data)) as bundle:
        manifest = json.loads(bundle.read("manifest.json"))
        assert manifest["kind"] == "subject_access"
        assert manifest["subject_access"]["subject_id"] == SUBJECT
        assert "request.created" in bundle.read("entries.csv").decode()
        # the request itself, with the reason the person is owed and not staff's notes
        [listed] = json.loads(bundle.read("subject/requests.json"))
        assert listed["request_id"] == rid and listed["status"] == "completed"
        assert listed["note"] == "[withheld]"
        assert [(h["status"], h["reason"]) for h in listed["history"]] == [
            ("received", "[withheld]"), ("extended", "we hold data in several systems"),
            ("completed", "[withheld]")]
        assert manifest["subject_access"]["counts"]["requests"] == 1
        everything = b"".join(bundle.read(n) for n in bundle.namelist()).decode()
        assert "asked by email" not in everything and "checked by Bob" not in everything
    r.close()


def test_completing_an_erasure_request_starts_the_erasure_which_waits_under_a_hold(
        app, client, admin):
    hold = client.post("/v1/retention/holds", headers=admin, json={
        "subject_id": SUBJECT, "reason": "litigation 2026-031"}).get_json()
    rid = create(client, admin, type="erasure", note="Alice Example, 12 Main St")["request_id"]
    step(client, admin, rid, to="in_progress", reason="identity checked by phone")
    done = step(client, admin, rid, to="completed", reason="erasure started")
    assert done["erasure_id"] and done["erasure_status"] == "queued"
    poll(app)
    waiting = show(client, admin, rid)
    assert waiting["status"] == "completed"
    assert waiting["erasure_status"] == "held"
    assert waiting["waiting_for_holds"] == [hold["id"]]
    erasure = client.get(f"/v1/erasures/{done['erasure_id']}", headers=admin).get_json()
    assert erasure["status"] == "held" and erasure["reason"] == f"privacy request {rid}"

    assert client.delete(f"/v1/retention/holds/{hold['id']}", headers=admin).status_code == 200
    poll(app)
    erased = show(client, admin, rid)
    assert erased["erasure_status"] == "succeeded" and erased["waiting_for_holds"] == []
    # the request stays as the record of the erasure: its subject id, dates and steps,
    # without what anyone wrote about the person
    assert erased["subject_id"] == SUBJECT and erased["note"] is None
    assert [s["status"] for s in erased["history"]] == ["received", "in_progress", "completed"]
    assert all(s["reason"] is None for s in erased["history"])
    certificate = client.get(f"/v1/erasures/{done['erasure_id']}",
                             headers=admin).get_json()["certificate"]["document"]
    assert certificate["targets"]["privacy_requests"]["deleted"] == 1
    with app.app_context(), get_db(app).transaction(write=False) as s:
        rows = [*s.scalars(select(PrivacyRequest)), *s.scalars(select(RequestTransition))]
        assert "Main St" not in repr([vars(r) for r in rows])
        assert "by phone" not in repr([vars(r) for r in rows])


def test_completing_an_objection_attaches_nothing(client, admin):
    rid = create(client, admin, type="objection")["request_id"]
    done = step(client, admin, rid, to="completed")
    assert done["export_id"] is None and done["erasure_id"] is None
    assert "export_status" not in done and "erasure_status" not in done


# -- the policy ------------------------------------------------------------------------------


def _raw() -> dict:
    return tomllib.loads(resources.files("consentry").joinpath("default_policy.toml")
                         .read_text("utf-8"))


def test_the_shipped_policy_states_each_jurisdictions_deadlines(client, make_key, runner):
    body = client.get("/v1/policy", headers=make_key("policy:read")).get_json()
    deadlines = {j["id"]: (j["request_due"], j["request_extension"])
                 for j in body["jurisdictions"]}
    assert deadlines == {"EU": ("P1M", "P2M"), "US-CA": ("P45D", "P45D"),
                         "DEFAULT": ("P45D", "P45D")}
    shown = tomllib.loads(runner.invoke(args=["policy", "show"]).output)
    assert shown["jurisdictions"]["EU"]["request_due"] == "P1M"
    assert shown["jurisdictions"]["US-CA"]["request_extension"] == "P45D"


@pytest.mark.parametrize("value", ["1M", "P", "PT12H", "P0D", "P1.5M", "one month", 30, ""])
def test_a_policy_with_a_bad_duration_is_refused(value):
    data = _raw()
    data["jurisdictions"]["EU"]["request_due"] = value
    with pytest.raises(PolicyError) as info:
        parse_policy(data)
    assert "jurisdictions.EU.request_due" in str(info.value)
    data = _raw()
    data["jurisdictions"]["US-CA"]["request_extension"] = value
    with pytest.raises(PolicyError, match="jurisdictions.US-CA.request_extension"):
        parse_policy(data)


def test_a_jurisdiction_without_deadlines_gets_the_gdprs_and_weeks_are_read():
    data = _raw()
    del data["jurisdictions"]["DEFAULT"]["request_due"]
    del data["jurisdictions"]["DEFAULT"]["request_extension"]
    data["jurisdictions"]["US-CA"]["request_due"] = "P6W"
    policy = parse_policy(data)
    assert (policy.jurisdictions["DEFAULT"].request_due.text,
            policy.jurisdictions["DEFAULT"].request_extension.text) == ("P1M", "P2M")
    start = datetime(2026, 1, 1, tzinfo=UTC)
    assert policy.jurisdictions["US-CA"].request_due.after(start) == datetime(
        2026, 2, 12, tzinfo=UTC)
    assert parse_policy(tomllib.loads(policy.to_toml())) == policy


def test_two_staff_completing_one_request_at_once_start_one_bundle(app, client, admin):
    import threading

    rid = create(client, admin)["request_id"]
    barrier, statuses = threading.Barrier(4), []

    def complete():
        own = app.test_client()
        barrier.wait()
        r = own.post(f"/v1/requests/{rid}/transition", headers=admin, json={"to": "completed"})
        statuses.append(r.status_code)

    threads = [threading.Thread(target=complete) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200, 409, 409, 409]
    history = show(client, admin, rid)["history"]
    assert [s["status"] for s in history] == ["received", "completed"]
    assert run_export_queue(app, "test") == 1
    assert run_export_queue(app, "test") == 0
