"""POST /v1/decisions/batch: many decisions in one transaction, judged as one by one."""

import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from audit.models import AuditEntry
from consent.models import Decision, DecisionCategoryDay, DecisionSignal

BATCH = "/v1/decisions/batch"


def iso(moment):
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@pytest.fixture
def engine(make_key):
    return make_key("decisions:write", "explanations:read", name="engine-1")


def decision(subject="u-1", item="sku-1", categories=("behavioral",), decided_at=None,
             **extra):
    return {"subject_id": subject, "surface": "homepage_hero", "channel": "web",
            "purpose": "personalization", "item": {"id": item, "label": "Shoes"},
            "signals_used": [{"category": c, "summary": "did things"} for c in categories],
            "rule": {"id": "R1"}, "decided_at": decided_at or iso(datetime.now(UTC)),
            **extra}


def counts(session):
    session.rollback()  # a fresh snapshot: the client commits in its own transactions
    return (session.scalar(select(func.count()).select_from(Decision)),
            session.scalar(select(func.count()).select_from(DecisionSignal)),
            session.scalar(select(func.count()).select_from(AuditEntry)
                           .where(AuditEntry.action == "decision.violation")),
            session.scalar(select(func.count()).select_from(DecisionCategoryDay)))


def usage(session):
    session.rollback()  # a fresh snapshot: the client commits in its own transactions
    return {(r.day, r.category): (r.decisions, r.violations, r.last_used_at)
            for r in session.scalars(select(DecisionCategoryDay))}


def test_results_come_back_in_the_order_sent(client, engine, session):
    sent = [decision(subject=f"u-{i % 3}", item=f"sku-{i}",
                     categories=("behavioral", "health") if i % 4 == 0 else ("behavioral",))
            for i in range(12)]
    r = client.post(BATCH, json={"decisions": sent}, headers=engine)
    assert r.status_code == 201, r.get_json()
    results = r.get_json()["results"]
    assert len(results) == 12
    for i, result in enumerate(results):
        stored = session.get(Decision, result["decision_id"])
        assert stored.item["id"] == f"sku-{i}" and stored.subject_id == f"u-{i % 3}"
        # health is special: without a grant it is a violation, and only those used it
        assert result["conformant"] is (i % 4 != 0)
        assert result["violations"] == ([] if i % 4 else [
            {"category": "health", "reason": "requires_explicit_consent"}])


def test_one_bad_decision_stores_nothing_and_is_named(client, engine, session):
    sent = [decision(subject=f"u-{i}", categories=("behavioral", "health")) for i in range(10)]
    sent[6] = {**sent[6], "purpose": "mind_reading"}
    r = client.post(BATCH, json={"decisions": sent}, headers=engine)
    assert r.status_code == 422
    assert list(r.get_json()["error"]["fields"]) == ["decisions.6.purpose"]
    assert counts(session) == (0, 0, 0, 0)
    sent[6] = {k: v for k, v in decision(subject="u-6").items() if k != "surface"}
    r = client.post(BATCH, json={"decisions": sent}, headers=engine)
    assert r.status_code == 422
    assert list(r.get_json()["error"]["fields"]) == ["decisions.6.surface"]
    sent[6] = decision(subject="u-6", decided_at=iso(datetime.now(UTC) + timedelta(hours=1)))
    sent[8] = decision(subject="u-8", categories=("telepathy",))
    r = client.post(BATCH, json={"decisions": sent}, headers=engine)
    assert r.status_code == 422
    assert set(r.get_json()["error"]["fields"]) == {"decisions.6.decided_at",
                                                    "decisions.8.signals_used.0.category"}
    assert counts(session) == (0, 0, 0, 0)


def test_at_most_a_thousand_decisions(client, engine, session):
    many = [decision(subject=f"u-{i % 50}", item=f"sku-{i}") for i in range(1001)]
    r = client.post(BATCH, json={"decisions": many}, headers=engine)
    assert r.status_code == 422 and "decisions" in r.get_json()["error"]["fields"]
    assert client.post(BATCH, json={"decisions": []}, headers=engine).status_code == 422
    r = client.post(BATCH, json={"decisions": many[:1000]}, headers=engine)
    assert r.status_code == 201 and len(r.get_json()["results"]) == 1000
    assert counts(session)[:2] == (1000, 1000)
    assert usage(session)[(datetime.now(UTC).date(), "behavioral")][:2] == (1000, 0)


def test_needs_the_decisions_write_scope(client, make_key):
    reader = make_key("explanations:read")
    r = client.post(BATCH, json={"decisions": [decision()]}, headers=reader)
    assert r.status_code == 403


def test_idempotency_key_replays_the_batch(client, engine, session):
    sent = [decision(subject=f"u-{i}", categories=("health",)) for i in range(5)]
    headers = {**engine, "Idempotency-Key": f"batch-{uuid.uuid4()}"}
    first = client.post(BATCH, json={"decisions": sent}, headers=headers)
    again = client.post(BATCH, json={"decisions": sent}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json()
    assert counts(session)[:3] == (5, 5, 5)
    other = client.post(BATCH, json={"decisions": sent[:4]}, headers=headers)
    assert other.status_code == 409


def test_batch_equals_one_by_one(client, engine, session, put_consents, writer):
    """Every subject and moment the conformance check can meet, sent singly and batched:
    the same verdicts, the same audited violations, the same per-day usage."""
    put_consents("eu-granted", [{"purpose": "personalization", "category": "health",
                                 "status": "granted"}], jurisdiction="EU")
    put_consents("eu-denied", [{"purpose": "personalization", "category": "behavioral",
                                "status": "denied"}], jurisdiction="EU")
    put_consents("ca-off", [{"purpose": "personalization", "status": "granted"}],
                 jurisdiction="US-CA")
    assert client.post("/v1/subjects/ca-off/opt-out", json={"scope": "personalization"},
                       headers=writer).status_code == 200
    put_consents("changing", [{"purpose": "personalization", "category": "health",
                               "status": "granted"}], jurisdiction="EU")
    while_granted = iso(datetime.now(UTC))
    time.sleep(0.01)
    put_consents("changing", [{"purpose": "personalization", "category": "health",
                               "status": "withdrawn"}])
    now = datetime.now(UTC)
    yesterday, last_week = iso(now - timedelta(days=1)), iso(now - timedelta(days=7))
    subjects = ["eu-granted", "eu-denied", "ca-off", "changing", "stranger"]
    sets = [("behavioral",), ("health",), ("behavioral", "health"), ("cross_site",), ()]
    sent = []
    for i in range(40):
        moment = (while_granted, yesterday, last_week, None)[i % 4]
        sent.append(decision(subject=subjects[i % 5], item=f"sku-{i}",
                             categories=sets[(i // 5) % 5], decided_at=moment))
    sent.append({**decision(subject="eu-granted", categories=()), "signals_used": [
        {"category": "behavioral", "observed_at": iso(now - timedelta(days=400))}]})
    singles = []
    for body in sent:
        r = client.post("/v1/decisions", json=body, headers=engine)
        assert r.status_code == 201, r.get_json()
        singles.append(r.get_json())
    after_singles, used_singly = counts(session), usage(session)
    assert any(not s["conformant"] for s in singles) and any(s["conformant"] for s in singles)
    r = client.post(BATCH, json={"decisions": sent}, headers=engine)
    assert r.status_code == 201, r.get_json()
    batched = r.get_json()["results"]
    assert [(b["conformant"], b["violations"]) for b in batched] == \
        [(s["conformant"], s["violations"]) for s in singles]
    # the batch adds exactly what the singles added: rows, audit entries and usage
    decisions, signals, violations, days = counts(session)
    assert (decisions, signals, violations) == tuple(2 * n for n in after_singles[:3])
    assert days == after_singles[3]
    assert usage(session) == {key: (2 * n, 2 * bad, last)
                              for key, (n, bad, last) in used_singly.items()}
    entries = session.scalars(select(AuditEntry).where(
        AuditEntry.action == "decision.violation").order_by(AuditEntry.seq)).all()
    half = len(entries) // 2
    strip = ("decision_id",)
    assert [{k: v for k, v in e.details.items() if k not in strip} for e in entries[:half]] == \
        [{k: v for k, v in e.details.items() if k not in strip} for e in entries[half:]]
    assert {e.details["decision_id"] for e in entries[half:]} <= \
        {b["decision_id"] for b in batched}


def test_batched_decisions_are_explained(client, engine):
    r = client.post(BATCH, json={"decisions": [decision(subject="u-9", item="sku-9")]},
                    headers=engine)
    decision_id = r.get_json()["results"][0]["decision_id"]
    ex = client.get(f"/v1/subjects/u-9/explanations/{decision_id}", headers=engine)
    assert ex.status_code == 200
    assert ex.get_json()["headline"].startswith("You're seeing Shoes")
