"""The preference-center API: append-only events, state at any moment, receipts, GPC."""

import time
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select, text

from audit.models import AuditEntry
from consent.models import ConsentEvent
from consentry.schema import all_metadata
from consentry.signing import SignatureError, keys_by_kid, verify_document

GRANT_PERSONALIZATION = [{"purpose": "personalization", "status": "granted"}]


def entry(body, purpose, category, channel=None):
    return next(e for e in body["entries"] if e["purpose"] == purpose
                and e["category"] == category and e["channel"] == channel)


def test_write_returns_effective_state_and_a_receipt_that_verifies(put_consents, client):
    r = put_consents("u-42", [
        {"purpose": "personalization", "status": "granted"},
        {"purpose": "personalization", "category": "location_precise", "status": "denied"},
        {"purpose": "marketing", "channel": "email", "status": "granted"},
    ], jurisdiction="EU", notice_version="2026-11")
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["jurisdiction"] == "EU" and body["personalization_off"] is False
    assert entry(body, "personalization", "behavioral")["reason"] == "explicit_grant"
    assert entry(body, "personalization", "location_precise") == {
        "purpose": "personalization", "category": "location_precise", "channel": None,
        "allowed": False, "reason": "explicit_denial",
        "since": entry(body, "personalization", "location_precise")["since"],
        "purpose_label": "Personalization", "category_label": "Your precise location"}
    assert entry(body, "marketing", "behavioral", "email")["allowed"] is True
    assert entry(body, "marketing", "behavioral")["reason"] == "requires_explicit_consent"
    assert body["evaluated_at"].endswith("Z")
    receipt = body["receipt"]
    for name in ("receipt_id", "issued_at", "jurisdiction", "collection_method",
                 "notice_version", "controller", "policy_url", "choices", "signature"):
        assert receipt[name], name
    assert [c["status"] for c in receipt["choices"]] == ["granted", "denied", "granted"]
    keys = keys_by_kid(client.get("/.well-known/consentry-keys").get_json())
    document = {k: v for k, v in receipt.items() if k != "signature"}
    verify_document(keys, document, receipt["signature"])
    with pytest.raises(SignatureError):
        verify_document(keys, {**document, "jurisdiction": "US-CA"}, receipt["signature"])


def test_receipt_can_be_fetched_again_but_not_by_another_subject(put_consents, client, writer):
    receipt = put_consents("u-1", GRANT_PERSONALIZATION).get_json()["receipt"]
    again = client.get(f"/v1/subjects/u-1/receipts/{receipt['receipt_id']}", headers=writer)
    assert again.status_code == 200 and again.get_json() == receipt
    other = client.get(f"/v1/subjects/u-2/receipts/{receipt['receipt_id']}", headers=writer)
    assert other.status_code == 404


def test_events_are_appended_never_updated(put_consents, client, writer, session):
    put_consents("u-1", GRANT_PERSONALIZATION)
    first = session.scalars(select(ConsentEvent)).one()
    snapshot = (first.id, first.status, first.received_at)
    put_consents("u-1", [{"purpose": "personalization", "status": "withdrawn"}])
    session.rollback()
    rows = session.scalars(select(ConsentEvent).order_by(ConsentEvent.id)).all()
    assert (rows[0].id, rows[0].status, rows[0].received_at) == snapshot
    assert [r.status for r in rows] == ["granted", "withdrawn"]
    history = client.get("/v1/subjects/u-1/consents/history", headers=writer).get_json()
    assert [e["status"] for e in history["events"]] == ["withdrawn", "granted"]
    assert history["next"] is None


def test_history_paginates_with_a_cursor(put_consents, client, writer):
    for status in ["granted", "denied", "withdrawn", "granted", "denied"]:
        put_consents("u-5", [{"purpose": "analytics", "status": status}])
    seen, cursor = [], None
    while True:
        url = "/v1/subjects/u-5/consents/history?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(url, headers=writer).get_json()
        seen += [e["status"] for e in page["events"]]
        cursor = page["next"]
        if cursor is None:
            break
    assert seen == ["denied", "granted", "withdrawn", "denied", "granted"]
    bad = client.get("/v1/subjects/u-5/consents/history?cursor=%%%", headers=writer)
    assert bad.status_code == 422 and "cursor" in bad.get_json()["error"]["fields"]
    assert client.get("/v1/subjects/u-5/consents/history?limit=1001",
                      headers=writer).status_code == 422


def test_state_at_any_past_moment(put_consents, client, writer):
    before = client.get("/v1/subjects/u-7/consents?jurisdiction=EU", headers=writer).get_json()
    times = []
    for status in ["granted", "denied", "withdrawn"]:
        r = put_consents("u-7", [{"purpose": "marketing", "category": "behavioral",
                                  "status": status}], jurisdiction="EU")
        times.append(r.get_json()["receipt"]["issued_at"])
        time.sleep(0.01)
    assert entry(before, "marketing", "behavioral")["reason"] == "requires_explicit_consent"

    def at(moment):
        r = client.get(f"/v1/subjects/u-7/consents?at={moment}&jurisdiction=EU", headers=writer)
        assert r.status_code == 200, r.get_json()
        return entry(r.get_json(), "marketing", "behavioral")

    assert at("2020-01-01T00:00:00Z")["reason"] == "requires_explicit_consent"
    assert at(times[0])["reason"] == "explicit_grant"
    first, second = (datetime.fromisoformat(t) for t in times[:2])
    between = (first + (second - first) / 2).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert at(between)["reason"] == "explicit_grant"
    assert at(times[1])["reason"] == "explicit_denial"
    assert at(times[2])["reason"] == "withdrawn"
    assert client.get("/v1/subjects/u-7/consents?at=yesterday",
                      headers=writer).status_code == 422


def test_at_a_plain_date_is_the_start_of_that_day_in_utc(put_consents, client, writer):
    written = put_consents("u-8", [{"purpose": "marketing", "category": "behavioral",
                                    "status": "granted"}], jurisdiction="EU")
    day = datetime.fromisoformat(written.get_json()["receipt"]["issued_at"]).date()

    def at(moment):
        r = client.get(f"/v1/subjects/u-8/consents?at={moment}&jurisdiction=EU",
                       headers=writer)
        assert r.status_code == 200, r.get_json()
        return r.get_json()

    that_day, next_day = at(day.isoformat()), at((day + timedelta(days=1)).isoformat())
    assert that_day["at"] == f"{day.isoformat()}T00:00:00Z"  # before the write that day
    assert entry(that_day, "marketing", "behavioral")["reason"] == "requires_explicit_consent"
    assert entry(next_day, "marketing", "behavioral")["reason"] == "explicit_grant"
    assert that_day["entries"] == at(f"{day.isoformat()}T00:00:00Z")["entries"]
    for bad in ("2026-02-30", "2026-3-1", "20260301"):
        r = client.get(f"/v1/subjects/u-8/consents?at={bad}", headers=writer)
        assert r.status_code == 422 and "at" in r.get_json()["error"]["fields"], bad


@pytest.mark.parametrize("choice, field", [
    ({"purpose": "telepathy", "status": "granted"}, "choices.0.purpose"),
    ({"purpose": "marketing", "category": "dreams", "status": "granted"}, "choices.0.category"),
    ({"purpose": "marketing", "channel": "pigeon", "status": "granted"}, "choices.0.channel"),
    ({"purpose": "marketing", "status": "maybe"}, "choices.0.status"),
    ({"purpose": "marketing", "status": "granted", "extra": 1}, "choices.0.extra"),
])
def test_unknown_values_are_422_naming_field_and_value(put_consents, choice, field, session):
    r = put_consents("u-1", [choice])
    assert r.status_code == 422
    fields = r.get_json()["error"]["fields"]
    assert field in fields
    assert session.scalar(select(func.count()).select_from(ConsentEvent)) == 0


def test_unknown_jurisdiction_too_many_choices_and_bad_subject(put_consents):
    r = put_consents("u-1", GRANT_PERSONALIZATION, jurisdiction="MARS")
    assert r.status_code == 422 and "MARS" in r.get_json()["error"]["fields"]["jurisdiction"][0]
    r = put_consents("u-1", GRANT_PERSONALIZATION * 101)
    assert r.status_code == 422 and "choices" in r.get_json()["error"]["fields"]
    assert put_consents("u-1", GRANT_PERSONALIZATION * 100).status_code == 200
    r = put_consents("bad id!", GRANT_PERSONALIZATION)
    assert r.status_code == 422 and "subject_id" in r.get_json()["error"]["fields"]
    assert put_consents("x" * 129, GRANT_PERSONALIZATION).status_code == 422


def test_no_raw_ip_is_stored_anywhere(put_consents, app, session):
    r = put_consents("u-9", GRANT_PERSONALIZATION,
                     evidence={"user_agent": "Mozilla/5.0", "ip": "203.0.113.77"},
                     headers={"X-Forwarded-For": "203.0.113.77"})
    assert r.status_code == 200
    event = session.scalars(select(ConsentEvent)).one()
    assert event.evidence["ip_prefix"] == "203.0.113.0/24" and len(event.evidence["ip_hash"]) == 64
    for table in all_metadata().sorted_tables:
        for row in session.execute(text(f"SELECT * FROM {table.name}")):
            assert "203.0.113.77" not in repr(tuple(row)), table.name
    bad = put_consents("u-9", GRANT_PERSONALIZATION, evidence={"ip": "not-an-ip"})
    assert bad.status_code == 422 and "evidence.ip" in bad.get_json()["error"]["fields"]


def test_sec_gpc_header_records_a_sale_sharing_opt_out_that_wins(put_consents, client, writer):
    grant = [{"purpose": "advertising", "status": "granted"}]
    r = put_consents("u-ca", grant, jurisdiction="US-CA", headers={"Sec-GPC": "1"})
    body = r.get_json()
    assert body["gpc"] is True and body["sale_sharing_opt_out"] is True
    assert entry(body, "advertising", "behavioral") == {
        **entry(body, "advertising", "behavioral"), "allowed": False, "reason": "gpc"}
    assert entry(body, "personalization", "behavioral")["allowed"] is True
    events = client.get("/v1/subjects/u-ca/consents/history", headers=writer).get_json()
    gpc = [e for e in events["events"] if e["switch"] == "sale_sharing_opt_out"]
    assert gpc and gpc[0]["source"] == "gpc" and gpc[0]["status"] == "on"
    # a later grant without the header does not override the stored signal
    later = put_consents("u-ca", grant).get_json()
    assert entry(later, "advertising", "behavioral")["reason"] == "gpc"


def test_opt_out_switches_and_undo(client, writer, put_consents):
    put_consents("u-3", GRANT_PERSONALIZATION, jurisdiction="US-CA")
    r = client.post("/v1/subjects/u-3/opt-out", json={"scope": "all", "source": "app"},
                    headers=writer)
    body = r.get_json()
    assert r.status_code == 200 and body["personalization_off"] and body["sale_sharing_opt_out"]
    assert entry(body, "personalization", "behavioral")["reason"] == "personalization_off"
    assert entry(body, "advertising", "behavioral")["reason"] == "sale_sharing_opt_out"
    r = client.delete("/v1/subjects/u-3/opt-out?scope=personalization", headers=writer)
    body = r.get_json()
    assert body["personalization_off"] is False and body["sale_sharing_opt_out"] is True
    assert entry(body, "personalization", "behavioral")["reason"] == "explicit_grant"
    # undoing sale/sharing in a request that carries GPC keeps it off
    r = client.delete("/v1/subjects/u-3/opt-out?scope=sale_sharing",
                      headers={**writer, "Sec-GPC": "1"})
    assert entry(r.get_json(), "advertising", "behavioral")["allowed"] is False
    r = client.delete("/v1/subjects/u-3/opt-out?scope=sale_sharing", headers=writer)
    assert entry(r.get_json(), "advertising", "behavioral")["allowed"] is True
    assert client.post("/v1/subjects/u-3/opt-out", json={"scope": "everything"},
                       headers=writer).status_code == 422
    assert client.delete("/v1/subjects/u-3/opt-out", headers=writer).status_code == 422


def test_idempotency_key_replays_and_conflicts(put_consents, session):
    headers = {"Idempotency-Key": "retry-1"}
    first = put_consents("u-1", GRANT_PERSONALIZATION, headers=headers)
    again = put_consents("u-1", GRANT_PERSONALIZATION, headers=headers)
    assert again.status_code == 200 and again.get_json() == first.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert session.scalar(select(func.count()).select_from(ConsentEvent)) == 1
    other = put_consents("u-1", [{"purpose": "personalization", "status": "denied"}],
                         headers=headers)
    assert other.status_code == 409
    assert other.get_json()["error"]["code"] == "idempotency_key_reused"
    assert session.scalar(select(func.count()).select_from(ConsentEvent)) == 1


def test_every_write_is_audited_with_evidence_encrypted(put_consents, session):
    put_consents("u-1", GRANT_PERSONALIZATION, evidence={"user_agent": "UA-XYZ"})
    entries = session.scalars(select(AuditEntry).where(
        AuditEntry.action == "consent.recorded")).all()
    assert len(entries) == 1
    assert entries[0].details["events"][0]["purpose"] == "personalization"
    assert "UA-XYZ" not in repr(entries[0].details) and "u-1" not in repr(entries[0].details)
    assert entries[0].actor == "preference-center"


def test_evidence_opens_with_the_subjects_key_and_is_not_sealed_once_it_is_destroyed(
        put_consents, client, make_key, app):
    from audit.service import destroy_subject_key
    from consentry.db import get_db
    from consentry.secretstore import get_keys

    def evidence_of_writes():
        r = client.get("/v1/audit/entries", headers=make_key("audit:read"),
                       query_string={"subject_id": "u-1", "action": "consent.recorded"})
        return [(e["personal"], e["shredded"]) for e in r.get_json()["entries"]]

    put_consents("u-1", GRANT_PERSONALIZATION, evidence={"user_agent": "UA-1"})  # key made
    put_consents("u-1", GRANT_PERSONALIZATION, evidence={"user_agent": "UA-2"})  # key read
    assert evidence_of_writes() == [({"evidence": {"user_agent": "UA-1"}}, False),
                                    ({"evidence": {"user_agent": "UA-2"}}, False)]
    with app.app_context(), get_db(app).transaction() as s:
        assert destroy_subject_key(s, get_keys(), "u-1")
    r = put_consents("u-1", GRANT_PERSONALIZATION, evidence={"user_agent": "UA-3"})
    assert r.status_code == 200
    assert evidence_of_writes() == [(None, True)] * 3


def test_scopes(client, make_key):
    reader = make_key("preferences:read")
    r = client.put("/v1/subjects/u-1/consents", headers=reader,
                   json={"source": "x", "choices": GRANT_PERSONALIZATION})
    assert r.status_code == 403
    assert client.get("/v1/subjects/u-1/consents", headers=make_key("signals:read")
                      ).status_code == 403


def events_of(client, writer, subject):
    return client.get(f"/v1/subjects/{subject}/consents/history?limit=1000",
                      headers=writer).get_json()["events"]


def test_gpc_alone_is_recorded_with_empty_choices(put_consents, client, writer):
    # a preference center forwards the browser's signal on page load, before any choice
    r = put_consents("u-page", [], headers={"Sec-GPC": "1"})
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["gpc"] is True and body["sale_sharing_opt_out"] is True
    assert body["receipt"]["choices"] == [{**body["receipt"]["choices"][0],
                                           "switch": "sale_sharing_opt_out", "status": "on",
                                           "source": "gpc"}]
    assert [(e["switch"], e["source"]) for e in events_of(client, writer, "u-page")] == [
        ("sale_sharing_opt_out", "gpc")]
    assert put_consents("u-body", [], gpc=True).status_code == 200
    for headers in ({}, {"Sec-GPC": "0"}):
        r = put_consents("u-none", [], headers=headers)
        assert r.status_code == 422 and "choices" in r.get_json()["error"]["fields"]
    assert events_of(client, writer, "u-none") == []


@pytest.mark.parametrize("headers", [[("Sec-GPC", "0"), ("Sec-GPC", "1")],
                                     [("Sec-GPC", "1"), ("Sec-GPC", "0")],
                                     [("Sec-GPC", "0, 1")]])
def test_any_sec_gpc_1_counts(client, writer, headers):
    r = client.put("/v1/subjects/u-two/consents", headers=[*writer.items(), *headers],
                   json={"source": "pc", "choices": GRANT_PERSONALIZATION})
    assert r.status_code == 200 and r.get_json()["gpc"] is True
    r = client.post("/v1/subjects/u-two2/opt-out", headers=[*writer.items(), *headers],
                    json={"scope": "personalization"})
    assert r.status_code == 200 and r.get_json()["gpc"] is True


def last_audit(session):
    session.rollback()
    return session.scalars(select(AuditEntry).order_by(AuditEntry.seq.desc())).first()


def test_an_undo_that_gpc_refuses_is_recorded_as_such(put_consents, client, writer, session):
    gpc = {**writer, "Sec-GPC": "1"}
    put_consents("u-k", GRANT_PERSONALIZATION, jurisdiction="US-CA", headers={"Sec-GPC": "1"})
    before = events_of(client, writer, "u-k")
    r = client.delete("/v1/subjects/u-k/opt-out?scope=sale_sharing", headers=gpc)
    assert r.status_code == 200
    body = r.get_json()
    assert body["kept"] == [{"switch": "sale_sharing_opt_out", "reason": "gpc"}]
    assert body["sale_sharing_opt_out"] is True and body["receipt"]["choices"] == []
    assert events_of(client, writer, "u-k") == before  # nothing changed, nothing written
    audit = last_audit(session)
    assert audit.action == "consent.opt_out_kept"
    assert audit.details["events"] == [] and audit.details["kept"] == ["sale_sharing_opt_out"]

    # `all` undoes what it can and says what it kept
    client.post("/v1/subjects/u-k/opt-out", json={"scope": "personalization"}, headers=writer)
    r = client.delete("/v1/subjects/u-k/opt-out?scope=all", headers=gpc).get_json()
    assert r["personalization_off"] is False and r["sale_sharing_opt_out"] is True
    assert r["kept"] == [{"switch": "sale_sharing_opt_out", "reason": "gpc"}]
    audit = last_audit(session)
    assert audit.action == "consent.opt_out_undone"
    assert [e["switch"] for e in audit.details["events"]] == ["personalization_off"]

    # without GPC the undo is an undo
    r = client.delete("/v1/subjects/u-k/opt-out?scope=sale_sharing", headers=writer)
    assert r.get_json()["sale_sharing_opt_out"] is False and r.get_json()["kept"] == []
    assert last_audit(session).action == "consent.opt_out_undone"


def test_an_undo_carrying_gpc_records_the_signal_when_it_is_new(client, writer, session):
    client.post("/v1/subjects/u-n/opt-out", json={"scope": "sale_sharing"}, headers=writer)
    r = client.delete("/v1/subjects/u-n/opt-out?scope=sale_sharing",
                      headers={**writer, "Sec-GPC": "1"}).get_json()
    assert r["gpc"] is True and r["sale_sharing_opt_out"] is True
    assert r["kept"] == [{"switch": "sale_sharing_opt_out", "reason": "gpc"}]
    newest = events_of(client, writer, "u-n")[0]
    assert (newest["switch"], newest["status"], newest["source"]) == (
        "sale_sharing_opt_out", "on", "gpc")
    assert last_audit(session).action == "consent.opt_out_kept"
