"""Decisions that cite a recipe, signal age, and the per-day category usage they keep."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from audit.models import AuditEntry
from consent.models import DecisionCategoryDay
from consentry.db import get_db

RECIPE = {
    "name": "Running fans see running gear", "purpose": "personalization",
    "channels": ["web"], "surface": "homepage_hero",
    "trigger": "viewed a category 3+ times in 30 days", "audience": "returning visitors",
    "action": "show the category's top items", "categories": ["behavioral"],
    "success_metric": "click-through on the hero", "owner": "growth-team", "status": "live",
}


def iso(moment):
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@pytest.fixture
def engine(make_key):
    return make_key("decisions:write", "explanations:read", name="engine-1")


@pytest.fixture
def recipe(client, make_key):
    lead = make_key("recipes:write", name="lead")

    def save(recipe_id="running-fans", **changes):
        r = client.put(f"/v1/recipes/{recipe_id}", json={**RECIPE, **changes}, headers=lead)
        assert r.status_code == 200, r.get_json()
        return r.get_json()

    save()
    return save


def decide(client, key, signals, decided_at=None, **extra):
    return client.post("/v1/decisions", headers=key, json={
        "subject_id": "u-42", "surface": "homepage_hero", "channel": "web",
        "purpose": "personalization", "item": {"id": "sku-1", "label": "Trail shoes"},
        "signals_used": signals, "decided_at": decided_at or iso(datetime.now(UTC)),
        **extra})


def test_a_category_the_recipe_does_not_declare_is_a_violation(client, engine, recipe,
                                                               session, app):
    r = decide(client, engine, [{"category": "behavioral"}, {"category": "transactional"}],
               recipe_id="running-fans")
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert body["conformant"] is False
    assert body["violations"] == [{"category": "transactional", "reason": "undeclared_category"}]
    audit = session.scalars(select(AuditEntry).where(
        AuditEntry.action == "decision.violation")).all()
    assert [(e.details["category"], e.details["reason"]) for e in audit] == [
        ("transactional", "undeclared_category")]
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'consentry_decision_violations_total{category="transactional"' in metrics
    ok = decide(client, engine, [{"category": "behavioral"}], recipe_id="running-fans")
    assert ok.get_json()["conformant"] is True


def test_unknown_or_retired_recipe_is_422(client, engine, recipe):
    r = decide(client, engine, [{"category": "behavioral"}], recipe_id="nope")
    assert r.status_code == 422 and "recipe_id" in r.get_json()["error"]["fields"]
    recipe(status="retired")
    r = decide(client, engine, [{"category": "behavioral"}], recipe_id="running-fans")
    assert r.status_code == 422
    assert "retired" in r.get_json()["error"]["fields"]["recipe_id"][0]


def test_explanation_shows_the_recipe_name_and_action_of_its_version(client, engine, recipe):
    r = decide(client, engine, [{"category": "behavioral", "summary": "viewed shoes"}],
               recipe_id="running-fans")
    decision_id = r.get_json()["decision_id"]
    recipe(action="show the category's newest items")  # version 2 does not rewrite history
    ex = client.get(f"/v1/subjects/u-42/explanations/{decision_id}", headers=engine).get_json()
    assert ex["recipe"] == {"recipe_id": "running-fans", "version": 1,
                            "name": "Running fans see running gear",
                            "action": "show the category's top items"}
    listed = client.get("/v1/subjects/u-42/explanations", headers=engine).get_json()
    assert listed["explanations"][0]["recipe"]["name"] == "Running fans see running gear"
    plain = decide(client, engine, [{"category": "behavioral"}]).get_json()["decision_id"]
    assert client.get(f"/v1/subjects/u-42/explanations/{plain}",
                      headers=engine).get_json()["recipe"] is None


def test_a_signal_older_than_its_category_allows_is_a_violation(client, engine):
    now = datetime.now(UTC)
    r = decide(client, engine, [
        {"category": "behavioral", "observed_at": iso(now - timedelta(days=91))},
        {"category": "transactional", "observed_at": iso(now - timedelta(days=700))},
        {"category": "declared"}], decided_at=iso(now))
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["violations"] == [{"category": "behavioral", "reason": "signal_too_old"}]
    r = decide(client, engine, [
        {"category": "transactional", "observed_at": iso(now - timedelta(days=731))}])
    assert r.get_json()["violations"] == [{"category": "transactional",
                                           "reason": "signal_too_old"}]
    r = decide(client, engine, [
        {"category": "behavioral", "observed_at": iso(now + timedelta(days=1))}])
    assert r.status_code == 422
    assert "signals_used.0.observed_at" in r.get_json()["error"]["fields"]


def test_usage_per_day_and_category_is_kept_and_outlives_the_decisions(client, engine, app,
                                                                      session):
    now = datetime.now(UTC)
    yesterday = now - timedelta(days=1)
    decide(client, engine, [{"category": "behavioral"}], decided_at=iso(yesterday))
    decide(client, engine, [{"category": "behavioral"}, {"category": "behavioral"}],
           decided_at=iso(now))
    decide(client, engine, [{"category": "behavioral"},
                            {"category": "location_precise"}], decided_at=iso(now))
    rows = {(r.day, r.category): r for r in session.scalars(select(DecisionCategoryDay))}
    assert rows[yesterday.date(), "behavioral"].decisions == 1
    assert rows[now.date(), "behavioral"].decisions == 2
    assert rows[now.date(), "behavioral"].violations == 0
    assert rows[now.date(), "location_precise"].violations == 1  # no explicit grant
    assert rows[now.date(), "behavioral"].last_used_at.replace(microsecond=0) == \
        now.replace(microsecond=0)
    with get_db(app).transaction() as s:
        from consent.models import Decision
        s.execute(Decision.__table__.delete())
    session.expire_all()
    assert session.scalar(select(DecisionCategoryDay.decisions).where(
        DecisionCategoryDay.day == yesterday.date())) == 1
