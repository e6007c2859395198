"""`POST /v1/subjects/{id}/consents/reject-all`: every purpose denied on every channel,
in one write and one receipt, over whatever was granted before and by any route."""

import uuid

from sqlalchemy import func, select

from consent.models import ConsentEvent, Receipt
from consentry.policy import load_policy
from consentry.signing import keys_by_kid, verify_document

POLICY = load_policy()


def reject_all(client, key, subject, headers=None, **body):
    return client.post(f"/v1/subjects/{subject}/consents/reject-all",
                       json={"source": "preference_center", **body},
                       headers={**key, **(headers or {})})


def ask(client, key, subject, purpose, channel):
    r = client.get(f"/v1/subjects/{subject}/allowed-signals",
                   query_string={"purpose": purpose, "channel": channel}, headers=key)
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def count(session, model, subject):
    session.rollback()
    return session.scalar(select(func.count()).select_from(model)
                          .where(model.subject_id == subject))


def test_reject_all_denies_every_purpose_on_every_channel_with_one_receipt(
        client, put_consents, writer, make_key, session):
    subject = f"s-{uuid.uuid4().hex[:8]}"
    granted = put_consents(subject, [
        {"purpose": "marketing", "channel": "email", "status": "granted"},
        {"purpose": "marketing", "category": "declared", "channel": "email",
         "status": "granted"},
        {"purpose": "personalization", "category": "health", "status": "granted"},
        {"purpose": "analytics", "status": "granted"},
        {"purpose": "advertising", "category": "behavioral", "channel": "web",
         "status": "granted"}], jurisdiction="EU")
    assert granted.status_code == 200
    assert client.post(f"/v1/subjects/{subject}/opt-out", json={"scope": "personalization"},
                       headers=writer).status_code == 200
    receipts_before = count(session, Receipt, subject)

    r = reject_all(client, writer, subject, notice_version="2026-11")
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert count(session, Receipt, subject) == receipts_before + 1  # one receipt
    receipt = body["receipt"]
    assert sorted((c["purpose"], c.get("category"), c.get("channel"), c["status"])
                  for c in receipt["choices"]) == sorted(
        (p, None, None, "denied") for p in POLICY.purposes)
    keys = keys_by_kid(client.get("/.well-known/consentry-keys").get_json())
    verify_document(keys, {k: v for k, v in receipt.items() if k != "signature"},
                    receipt["signature"])
    assert body["personalization_off"] is True  # the switches are unchanged
    assert not any(e["allowed"] for e in body["entries"])

    engine = make_key("signals:read", name="engine")
    for purpose in POLICY.purposes:
        for channel in POLICY.channels:
            answer = ask(client, engine, subject, purpose, channel)
            assert answer["allowed"] == [], (purpose, channel)
            reasons = {d["reason"] for d in answer["denied"]}
            assert reasons <= {"purpose_denied", "personalization_off",
                               "not_permitted_for_purpose"}, (purpose, channel, reasons)


def test_a_grant_after_reject_all_allows_only_what_it_names(client, put_consents, writer,
                                                           make_key):
    subject = f"s-{uuid.uuid4().hex[:8]}"
    assert reject_all(client, writer, subject, jurisdiction="EU").status_code == 200
    assert put_consents(subject, [{"purpose": "marketing", "channel": "email",
                                   "status": "granted"}]).status_code == 200
    engine = make_key("signals:read", name="engine")
    assert "declared" in ask(client, engine, subject, "marketing", "email")["allowed"]
    assert ask(client, engine, subject, "marketing", "sms")["allowed"] == []


def test_reject_all_honours_idempotency_key(client, writer, session):
    subject = f"s-{uuid.uuid4().hex[:8]}"
    headers = {"Idempotency-Key": "reject-1"}
    first = reject_all(client, writer, subject, headers=headers)
    again = reject_all(client, writer, subject, headers=headers)
    assert again.status_code == 200 and again.get_json() == first.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert count(session, ConsentEvent, subject) == len(POLICY.purposes)
    assert count(session, Receipt, subject) == 1
    other = reject_all(client, writer, subject, headers=headers, source="other")
    assert other.status_code == 409
    assert other.get_json()["error"]["code"] == "idempotency_key_reused"


def test_reject_all_refuses_what_a_consent_write_refuses(client, writer, make_key, session):
    subject = f"s-{uuid.uuid4().hex[:8]}"
    reader = make_key("preferences:read")
    assert reject_all(client, reader, subject).status_code == 403
    assert client.post(f"/v1/subjects/{subject}/consents/reject-all", json={},
                       headers=writer).status_code == 422
    bad = reject_all(client, writer, subject, jurisdiction="MARS")
    assert bad.status_code == 422 and "jurisdiction" in bad.get_json()["error"]["fields"]
    assert reject_all(client, writer, subject, choices=[]).status_code == 422
    assert count(session, ConsentEvent, subject) == 0
