"""Retention and erasure reach the service's own stores: decisions, evidence, idempotency."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from consent.models import ConsentEvent, Decision
from consentry.db import get_db
from consentry.models import IdempotencyRecord
from tests.retention.conftest import by_target, run_now
from tests.retention.test_api import poll


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def count(app, model, **where):
    with app.app_context(), get_db(app).transaction(write=False) as s:
        query = select(func.count()).select_from(model)
        for name, value in where.items():
            query = query.where(getattr(model, name) == value)
        return s.scalar(query)


def test_erasure_clears_decisions_evidence_and_idempotency_but_keeps_consent_proof(
        app, client, make_key):
    admin = make_key("admin")
    r = client.put("/v1/subjects/u-42/consents", headers={**admin, "Idempotency-Key": "k-1"},
                   json={"source": "pc", "choices": [{"purpose": "personalization",
                                                      "status": "granted"}],
                         "evidence": {"user_agent": "Firefox", "ip": "203.0.113.7"}})
    assert r.status_code == 200
    client.post("/v1/decisions", headers=admin, json={
        "subject_id": "u-42", "surface": "hero", "item": {"id": "1", "label": "Shoes"},
        "signals_used": [{"category": "behavioral", "summary": "viewed shoes"}],
        "decided_at": iso(datetime.now(UTC))})
    erasure_id = client.post("/v1/subjects/u-42/erasure", headers=admin).get_json()["erasure_id"]
    poll(app)
    body = client.get(f"/v1/erasures/{erasure_id}", headers=admin).get_json()
    assert body["status"] == "succeeded", body
    targets = body["certificate"]["document"]["targets"]
    assert targets["decisions"]["deleted"] == 1
    assert targets["idempotency_records"]["deleted"] == 1
    assert targets["consent_evidence"]["deleted"] == 1
    assert count(app, Decision, subject_id="u-42") == 0
    assert count(app, IdempotencyRecord, subject_id="u-42") == 0
    with app.app_context(), get_db(app).transaction(write=False) as s:
        events = s.scalars(select(ConsentEvent).where(ConsentEvent.subject_id == "u-42")).all()
    assert [(e.status, e.evidence) for e in events] == [("granted", None)]
    # The events are proof only: the current state is gone, so the gate no longer acts
    # on the erased subject's grant (it answers as for a subject never seen), while a
    # look back at a moment before the erasure still replays the proof.
    state = client.get("/v1/subjects/u-42/consents", headers=admin).get_json()
    assert next(e for e in state["entries"] if e["purpose"] == "personalization"
                and e["category"] == "behavioral")["reason"] != "explicit_grant"
    before = client.get("/v1/subjects/u-42/consents", headers=admin, query_string={
        "at": body["started_at"]}).get_json()
    assert next(e for e in before["entries"] if e["purpose"] == "personalization"
                and e["category"] == "behavioral")["reason"] == "explicit_grant"


def test_an_erased_subjects_refusals_still_hold_and_their_grants_do_not(app, client,
                                                                        make_key):
    admin = make_key("admin")
    assert client.put("/v1/subjects/u-5/consents", headers=admin, json={
        "source": "pc", "jurisdiction": "EU", "choices": [
            {"purpose": "analytics", "category": "behavioral", "status": "denied"},
            {"purpose": "marketing", "status": "granted"},
            {"purpose": "personalization", "category": "location_precise",
             "status": "granted"}]}).status_code == 200
    assert client.post("/v1/subjects/u-5/opt-out", headers=admin,
                       json={"scope": "sale_sharing"}).status_code == 200
    client.post("/v1/subjects/u-5/erasure", headers=admin)
    poll(app)

    def reason(purpose, category, channel="web"):
        body = client.get("/v1/subjects/u-5/allowed-signals", headers=admin, query_string={
            "purpose": purpose, "channel": channel, "categories": category}).get_json()
        return body["denied"][0]["reason"] if body["denied"] else "allowed"

    assert reason("analytics", "behavioral") == "explicit_denial"  # the refusal holds
    assert reason("advertising", "behavioral") == "sale_sharing_opt_out"
    assert reason("personalization", "location_precise") == "requires_explicit_consent"
    assert reason("marketing", "behavioral", "email") == "requires_explicit_consent"
    state = client.get("/v1/subjects/u-5/consents", headers=admin).get_json()
    assert all(e["since"] in (None, "1970-01-01T00:00:00Z") for e in state["entries"])


def test_a_purge_deletes_decisions_past_the_behavioral_window(app, client, make_key):
    admin = make_key("admin")
    now = datetime.now(UTC)
    # Decisions may be back-dated only within their retention: the runs happen as of
    # five days on, when the 88- and 89-day-old ones have passed 90 days.
    for subject, age in [("old", 88), ("new", 80), ("held", 89)]:
        client.post("/v1/decisions", headers=admin, json={
            "subject_id": subject, "surface": "hero", "item": {"id": "1"},
            "signals_used": [{"category": "behavioral"}],
            "decided_at": iso(now - timedelta(days=age))})
    client.post("/v1/retention/holds", headers=admin,
                json={"subject_id": "held", "reason": "litigation"})
    later = now + timedelta(days=5)
    dry = by_target(run_now(app, dry_run=True, as_of=later))["decisions"]
    assert (dry["matched"], dry["deleted"], dry["held"]) == (1, 0, 1)
    report = run_now(app, as_of=later)
    assert by_target(report)["decisions"]["deleted"] == 1
    assert by_target(report)["decisions"]["held"] == 1
    with app.app_context(), get_db(app).transaction(write=False) as s:
        left = set(s.scalars(select(Decision.subject_id)))
    assert left == {"new", "held"}


def test_retention_writes_honour_idempotency_keys(app, client, make_key):
    admin = {**make_key("admin"), "Idempotency-Key": "erase-u-7-once"}
    first = client.post("/v1/subjects/u-7/erasure", headers=admin)
    again = client.post("/v1/subjects/u-7/erasure", headers=admin)
    assert first.status_code == again.status_code == 202
    assert again.get_json() == first.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"
    hold = {**make_key("admin"), "Idempotency-Key": "hold-1"}
    body = {"subject_id": "u-8", "reason": "litigation"}
    assert client.post("/v1/retention/holds", json=body, headers=hold).status_code == 201
    assert client.post("/v1/retention/holds", json={**body, "reason": "other"},
                       headers=hold).status_code == 409
