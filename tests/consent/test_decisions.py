"""Decisions, explanations a person can read, conformance at decided_at, transparency."""

import time
from datetime import UTC, datetime, timedelta

import pytest
import tomli_w
from sqlalchemy import select

from audit.models import AuditEntry
from consent.models import Decision
from consent.stores import erase_decisions
from consentry.db import get_db
from consentry.policy import load_policy
from consentry.stores import Held


def iso(moment):
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@pytest.fixture
def engine(make_key):
    return make_key("decisions:write", "explanations:read", "policy:read", name="engine-1")


def decide(client, key, subject="u-42", signals=None, decided_at=None, **extra):
    body = {
        "subject_id": subject, "surface": "homepage_hero", "channel": "web",
        "purpose": "personalization",
        "item": {"id": "sku-123", "label": "Trail running shoes"},
        "signals_used": signals if signals is not None else [
            {"category": "behavioral", "summary": "viewed Running Shoes 3 times this month"}],
        "rule": {"id": "R1", "description": "3+ views of a category → show its top items"},
        "decided_at": decided_at or iso(datetime.now(UTC)),
        **extra,
    }
    return client.post("/v1/decisions", json=body, headers=key)


def test_conformant_decision_and_its_explanation(client, engine, put_consents):
    put_consents("u-42", [{"purpose": "personalization", "status": "granted"}], jurisdiction="EU")
    r = decide(client, engine)
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert body["conformant"] is True and body["violations"] == []
    ex = client.get(f"/v1/subjects/u-42/explanations/{body['decision_id']}", headers=engine)
    assert ex.status_code == 200 and ex.headers["Content-Language"] == "en"
    ex = ex.get_json()
    assert ex["headline"] == ("You're seeing Trail running shoes because you viewed Running "
                              "Shoes 3 times this month.")
    assert ex["reasons"] == [{"category": "behavioral", "label": "Activity in our product",
                              "summary": "viewed Running Shoes 3 times this month",
                              "allowed_at_the_time": True}]
    assert {"action": "deny_category", "category": "behavioral", "purpose": "personalization",
            "label": "Stop using my activity in our product"} in ex["controls"]
    assert {"action": "personalization_off", "label": "Turn off personalization"} in ex["controls"]
    link = next(c for c in ex["controls"] if c["action"] == "open_preference_center")
    assert link["url"].startswith("https://")


def test_explanation_in_german(client, engine):
    decision_id = decide(client, engine, signals=[
        {"category": "transactional", "summary": {"en": "bought hiking boots",
                                                  "de": "Wanderschuhe gekauft haben"}}],
        item={"id": "sku-9", "label": {"en": "Hiking socks", "de": "Wandersocken"}}
    ).get_json()["decision_id"]
    ex = client.get(f"/v1/subjects/u-42/explanations/{decision_id}",
                    headers={**engine, "Accept-Language": "de-DE,de;q=0.9,en;q=0.5"})
    assert ex.headers["Content-Language"] == "de"
    body = ex.get_json()
    assert body["headline"] == "Sie sehen Wandersocken, weil Sie Wanderschuhe gekauft haben."
    assert body["reasons"][0]["label"] == "Ihre Käufe"
    assert {"action": "personalization_off", "label": "Personalisierung ausschalten"} in \
        body["controls"]
    assert any(c.get("label") == "Meine Käufe nicht mehr verwenden" for c in body["controls"])


def test_decision_without_signals_reads_as_not_personal(client, engine):
    decision_id = decide(client, engine, signals=[], rule=None).get_json()["decision_id"]
    ex = client.get(f"/v1/subjects/u-42/explanations/{decision_id}", headers=engine).get_json()
    assert ex["headline"] == ("You're seeing Trail running shoes. We did not use information "
                              "about you to choose it.")
    assert [c["action"] for c in ex["controls"]][:1] == ["personalization_off"]


def test_violation_is_stored_audited_counted_and_explained_truthfully(
        client, engine, put_consents, session):
    put_consents("u-42", [{"purpose": "personalization", "status": "granted"}], jurisdiction="EU")
    r = decide(client, engine, signals=[
        {"category": "behavioral", "summary": "viewed shoes"},
        {"category": "location_precise", "summary": "are near our Berlin store"}])
    body = r.get_json()
    assert r.status_code == 201 and body["conformant"] is False
    assert body["violations"] == [{"category": "location_precise",
                                   "reason": "requires_explicit_consent"}]
    audit = session.scalars(select(AuditEntry).where(
        AuditEntry.action == "decision.violation")).all()
    assert [(a.details["category"], a.details["decision_id"]) for a in audit] == [
        ("location_precise", body["decision_id"])]
    metrics = client.get("/metrics").get_data(as_text=True)
    # the shipped policy lists no surfaces: engine text never becomes a label
    assert ('consentry_decision_violations_total{category="location_precise",'
            'surface="other"} 1.0') in metrics
    ex = client.get(f"/v1/subjects/u-42/explanations/{body['decision_id']}",
                    headers=engine).get_json()
    assert [r["category"] for r in ex["reasons"]] == ["behavioral", "location_precise"]
    assert ex["reasons"][1]["allowed_at_the_time"] is False and ex["reasons"][1]["note"]
    assert ex["conformant"] is False


def test_audit_names_only_the_surfaces_the_policy_lists(make_app, make_key, tmp_path,
                                                        session):
    # The audit chain keeps its details in clear after an erasure: an engine's own surface
    # text (which may name the person) is audited as `other`, as /metrics counts it.
    data = load_policy().to_dict()
    data["surfaces"] = ["homepage_hero"]
    policy_file = tmp_path / "policy.toml"
    policy_file.write_text(tomli_w.dumps(data))
    client = make_app(POLICY_FILE=str(policy_file)).test_client()
    key = make_key("decisions:write", "explanations:read")
    signals = [{"category": "location_precise", "summary": "near the store"}]
    listed = decide(client, key, subject="u-s1", signals=signals).get_json()
    mine = decide(client, key, subject="u-s1", signals=signals,
                  surface="profile-of-jane.doe@example.com").get_json()
    batch = client.post("/v1/decisions/batch", headers=key, json={"decisions": [
        {"subject_id": "u-s2", "surface": "inbox:jane.doe", "purpose": "personalization",
         "item": {"id": "sku-1"}, "signals_used": signals,
         "decided_at": iso(datetime.now(UTC))}]})
    assert batch.status_code == 201, batch.get_json()
    batch_id = batch.get_json()["results"][0]["decision_id"]
    surfaces = {a.details["decision_id"]: a.details["surface"] for a in session.scalars(
        select(AuditEntry).where(AuditEntry.action == "decision.violation"))}
    assert surfaces == {listed["decision_id"]: "homepage_hero",
                        mine["decision_id"]: "other", batch_id: "other"}
    entries = session.scalars(select(AuditEntry)).all()
    assert not any("jane" in repr(e.details) for e in entries)
    # the decision itself (erased with the subject) keeps what the engine sent
    assert client.get(f"/v1/subjects/u-s1/explanations/{mine['decision_id']}",
                      headers=key).status_code == 200
    assert session.get(Decision, mine["decision_id"]).surface == \
        "profile-of-jane.doe@example.com"


def test_conformance_is_judged_at_decided_at(client, engine, put_consents):
    put_consents("u-7", [{"purpose": "personalization", "category": "health",
                          "status": "granted"}], jurisdiction="EU")
    while_granted = iso(datetime.now(UTC))
    time.sleep(0.01)
    put_consents("u-7", [{"purpose": "personalization", "category": "health",
                          "status": "withdrawn"}])
    signals = [{"category": "health", "summary": "logged runs"}]
    late = decide(client, engine, subject="u-7", signals=signals, decided_at=while_granted)
    assert late.get_json()["conformant"] is True
    now = decide(client, engine, subject="u-7", signals=signals)
    assert now.get_json()["violations"] == [{"category": "health", "reason": "withdrawn"}]
    before = decide(client, engine, subject="u-7", signals=signals,
                    decided_at=iso(datetime.now(UTC) - timedelta(days=30)))
    assert before.get_json()["conformant"] is False  # before the grant was given


def test_decided_at_limits_and_validation(client, engine):
    future = iso(datetime.now(UTC) + timedelta(minutes=6))
    r = decide(client, engine, decided_at=future)
    assert r.status_code == 422 and "decided_at" in r.get_json()["error"]["fields"]
    assert decide(client, engine, decided_at=iso(datetime.now(UTC) + timedelta(minutes=4))
                  ).status_code == 201
    assert decide(client, engine, decided_at=iso(datetime.now(UTC) - timedelta(days=89))
                  ).status_code == 201
    r = decide(client, engine, decided_at=iso(datetime.now(UTC) - timedelta(days=91)))
    assert r.status_code == 422  # past the decisions' 90-day retention
    assert "90 days in the past" in r.get_json()["error"]["fields"]["decided_at"][0]
    r = decide(client, engine, signals=[{"category": "auras", "summary": "x"}])
    assert r.status_code == 422 and "signals_used.0.category" in r.get_json()["error"]["fields"]
    r = decide(client, engine, purpose="mind_control")
    assert r.status_code == 422 and "purpose" in r.get_json()["error"]["fields"]
    assert decide(client, engine, subject="bad subject").status_code == 422
    assert decide(client, engine, decided_at="2025-01-01T00:00:00").status_code == 422


def test_another_subjects_decision_is_404(client, engine):
    decision_id = decide(client, engine, subject="u-1").get_json()["decision_id"]
    assert client.get(f"/v1/subjects/u-2/explanations/{decision_id}",
                      headers=engine).status_code == 404
    assert client.get("/v1/subjects/u-1/explanations/nope", headers=engine).status_code == 404


def test_recent_explanations_filter_and_paginate(client, engine):
    for i in range(5):
        decide(client, engine, subject="u-5", surface="email" if i % 2 else "homepage_hero",
               decided_at=iso(datetime(2026, 11, 1, 12, i, tzinfo=UTC)))
    page = client.get("/v1/subjects/u-5/explanations?surface=homepage_hero&limit=2",
                      headers=engine).get_json()
    assert [e["decided_at"] for e in page["explanations"]] == [
        "2026-11-01T12:04:00Z", "2026-11-01T12:02:00Z"]
    rest = client.get(f"/v1/subjects/u-5/explanations?surface=homepage_hero&cursor={page['next']}",
                      headers=engine).get_json()
    assert [e["decided_at"] for e in rest["explanations"]] == ["2026-11-01T12:00:00Z"]
    assert rest["next"] is None


def test_transparency_summary_matches_stored_decisions(client, engine):
    now = datetime.now(UTC)
    decide(client, engine, subject="a", signals=[{"category": "behavioral", "summary": "x"}])
    decide(client, engine, subject="b", signals=[{"category": "behavioral", "summary": "x"},
                                                 {"category": "transactional", "summary": "y"}])
    decide(client, engine, subject="c", signals=[])
    decide(client, engine, subject="d", signals=[], surface="email")
    decide(client, engine, subject="e", signals=[{"category": "behavioral", "summary": "x"}],
           decided_at=iso(now - timedelta(days=31)))
    body = client.get("/v1/transparency/recommenders", headers=engine).get_json()
    hero = next(s for s in body["surfaces"] if s["surface"] == "homepage_hero")
    assert hero["decisions"] == 3 and hero["without_personal_signals"] == 1
    assert hero["non_profiling_share"] == round(1 / 3, 4)
    assert hero["categories"] == [
        {"category": "behavioral", "decisions": 2, "share": round(2 / 3, 4)},
        {"category": "transactional", "decisions": 1, "share": round(1 / 3, 4)}]
    email = next(s for s in body["surfaces"] if s["surface"] == "email")
    assert email["non_profiling_share"] == 1.0
    assert "a" not in repr(body["surfaces"][0].get("subject_id", ""))


def test_decisions_fall_under_the_behavioral_retention_class(app, client, engine):
    now = datetime.now(UTC)
    # Decisions may be back-dated only within their retention, so the purge is run as of
    # a later day: its cutoff falls between the old ones and the fresh one.
    old = decide(client, engine, subject="old", decided_at=iso(now - timedelta(days=89)))
    held = decide(client, engine, subject="held", decided_at=iso(now - timedelta(days=89)))
    fresh = decide(client, engine, subject="fresh", decided_at=iso(now - timedelta(days=80)))
    store = app.extensions["consentry.stores"]["decisions"]
    cutoffs = {"behavioral": now - timedelta(days=85), "transactional": now - timedelta(days=730)}
    with app.app_context(), get_db(app).transaction() as s:
        result = store.purge(s, cutoffs, Held(subject_ids=frozenset({"held"})), 1000, False)
    assert (result.deleted, result.held) == (1, 1)
    with app.app_context(), get_db(app).transaction(write=False) as s:
        left = set(s.scalars(select(Decision.decision_id)))
    assert left == {held.get_json()["decision_id"], fresh.get_json()["decision_id"]}
    assert old.get_json()["decision_id"] not in left
    with app.app_context(), get_db(app).transaction() as s:
        erased = erase_decisions(s, "fresh", Held())
    assert erased.deleted == 1


def test_german_headline_never_mixes_in_an_english_summary(client, engine):
    decision_id = decide(client, engine).get_json()["decision_id"]  # English-only summary
    body = client.get(f"/v1/subjects/u-42/explanations/{decision_id}",
                      headers={**engine, "Accept-Language": "de"}).get_json()
    # Neither the English item label nor the English summary is spliced into the German
    # sentence: the label is quoted as a name, the reason named by its German label.
    assert body["headline"] == ("Sie sehen „Trail running shoes“ auf Grundlage dieser "
                                "Informationen über Sie: Ihre Aktivität in unserem Produkt.")
    assert body["reasons"][0]["summary"] == "viewed Running Shoes 3 times this month"


def test_a_decision_stores_at_most_16_kb(client, engine, session):
    # ItemSchema keeps the engine's own fields; one of them once stored 1 MB
    r = decide(client, engine, item={"id": "sku-1", "blob": "x" * 200_000})
    assert r.status_code == 422
    assert "16 kB" in r.get_json()["error"]["fields"]["item"][0]
    many = [{"category": "behavioral", "summary": {"en": "s" * 1000, "de": "t" * 1000}}] * 10
    r = decide(client, engine, signals=many)
    assert r.status_code == 422 and "signals_used" in r.get_json()["error"]["fields"]
    assert session.scalars(select(Decision)).all() == []
    r = decide(client, engine, item={"id": "sku-1", "blob": "x" * 15_000})
    assert r.status_code == 201


def test_explanation_pages_hold_at_most_100_and_stay_under_2_mb(client, engine):
    big = "x" * 15_000  # just under the decision's cap
    for i in range(101):
        r = decide(client, engine, subject="u-big", item={"id": f"sku-{i}", "blob": big},
                   decided_at=iso(datetime(2026, 11, 1, tzinfo=UTC) + timedelta(seconds=i)))
        assert r.status_code == 201
    assert client.get("/v1/subjects/u-big/explanations?limit=101",
                      headers=engine).status_code == 422
    page = client.get("/v1/subjects/u-big/explanations?limit=100", headers=engine)
    assert len(page.get_json()["explanations"]) == 100 and page.get_json()["next"]
    assert len(page.get_data()) < 2 * 1024 * 1024


def test_decimal_weights_are_kept_and_the_strongest_leads(client, engine, session):
    signals = [{"category": "behavioral", "summary": "viewed Running Shoes", "weight": 0.2},
               {"category": "transactional", "summary": "bought trail socks", "weight": 0.9}]
    r = decide(client, engine, signals=signals)
    assert r.status_code == 201, r.get_json()
    decision_id = r.get_json()["decision_id"]
    stored = session.get(Decision, decision_id)
    assert [s["weight"] for s in stored.signals_used] == [0.2, 0.9]
    ex = client.get(f"/v1/subjects/u-42/explanations/{decision_id}", headers=engine).get_json()
    assert ex["headline"] == "You're seeing Trail running shoes because you bought trail socks."
    for weight in (1.5, -0.1, 2, "heavy", True):
        r = decide(client, engine, signals=[{"category": "behavioral", "weight": weight}])
        assert r.status_code == 422, weight
        assert "signals_used.0.weight" in r.get_json()["error"]["fields"]
