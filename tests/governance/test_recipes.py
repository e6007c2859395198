"""Recipes: versions, audit, policy checks, explicit grants and reach."""

import pytest
from sqlalchemy import select

from audit.models import AuditEntry

RUNNING_FANS = {
    "name": "Running fans see running gear", "purpose": "personalization",
    "channels": ["web", "email"], "surface": "homepage_hero",
    "trigger": "viewed a category 3+ times in 30 days", "audience": "returning visitors",
    "action": "show the category's top items", "categories": ["behavioral"],
    "fallback": "best sellers", "success_metric": "click-through on the hero",
    "owner": "growth-team", "status": "live",
}


@pytest.fixture
def lead(make_key):
    return make_key("recipes:read", "recipes:write", name="privacy-lead")


def put(client, key, recipe_id="running-fans", **changes):
    return client.put(f"/v1/recipes/{recipe_id}", json={**RUNNING_FANS, **changes}, headers=key)


def test_a_recipe_is_stored_versioned_and_audited(client, lead, session):
    r = put(client, lead)
    assert r.status_code == 200, r.get_json()
    first = r.get_json()
    assert first["version"] == 1 and first["action"] == "show the category's top items"
    assert first["required_grants"] == [] and first["saved_by"] == "privacy-lead"
    assert put(client, lead).get_json()["version"] == 1  # the same content: no new version
    second = put(client, lead, status="retired").get_json()
    assert second["version"] == 2 and second["status"] == "retired"
    latest = client.get("/v1/recipes/running-fans", headers=lead).get_json()
    assert latest["version"] == 2
    old = client.get("/v1/recipes/running-fans?version=1", headers=lead).get_json()
    assert old["status"] == "live" and old["version"] == 1
    assert client.get("/v1/recipes/running-fans?version=3", headers=lead).status_code == 404
    assert client.get("/v1/recipes/nope", headers=lead).status_code == 404
    put(client, lead, "cart-abandoned", name="Cart abandoned over $100",
        channels=["email"], categories=["transactional"])
    listed = client.get("/v1/recipes", headers=lead).get_json()["recipes"]
    assert [(x["recipe_id"], x["version"]) for x in listed] == [("cart-abandoned", 1),
                                                                ("running-fans", 2)]
    saved = session.scalars(select(AuditEntry).where(AuditEntry.action == "recipe.saved")
                            .order_by(AuditEntry.seq)).all()
    assert [(e.details["recipe_id"], e.details["version"]) for e in saved] == [
        ("running-fans", 1), ("running-fans", 2), ("cart-abandoned", 1)]


def test_scopes(client, make_key):
    reader = make_key("recipes:read")
    assert put(client, reader).status_code == 403
    assert client.get("/v1/recipes", headers=make_key("signals:read")).status_code == 403


@pytest.mark.parametrize("changes, field", [
    ({"purpose": "mind-reading"}, "purpose"),
    ({"channels": ["web", "fax"]}, "channels.1"),
    ({"categories": ["behavioral", "dreams"]}, "categories.1"),
    ({"status": "shipped"}, "status"),
    ({"owner": ""}, "owner"),
    ({"surprise": 1}, "surprise"),
    ({"categories": ["location_precise"]}, "explicit_grants"),
    ({"explicit_grants": ["behavioral"]}, "explicit_grants.0"),
])
def test_bad_recipes_are_422_naming_the_field(client, lead, changes, field):
    r = put(client, lead, **changes)
    assert r.status_code == 422, r.get_json()
    assert field in r.get_json()["error"]["fields"]


def test_bad_recipe_id_is_422(client, lead):
    r = put(client, lead, "has space")
    assert r.status_code in (404, 422)
    assert put(client, lead, "a" * 101).status_code == 422


def test_sensitive_category_shows_the_grant_the_policy_requires(client, lead):
    r = put(client, lead, "nearby-store", categories=["behavioral", "location_precise"],
            explicit_grants=["location_precise"])
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["required_grants"] == [
        {"category": "location_precise", "purpose": "personalization", "status": "granted"}]


def test_reach_counts_eligible_and_blocking_reasons_per_channel(client, lead, writer,
                                                                put_consents):
    put(client, lead)
    put_consents("eu-1", [{"purpose": "analytics", "status": "granted"}], jurisdiction="EU")
    put_consents("off-1", [{"purpose": "personalization", "status": "granted"}])
    client.post("/v1/subjects/off-1/opt-out", json={"scope": "personalization"},
                headers=writer)
    put_consents("deny-1", [{"purpose": "personalization", "category": "behavioral",
                             "status": "denied"}])
    put_consents("deny-2", [{"purpose": "personalization", "category": "behavioral",
                             "status": "denied"}])
    put_consents("email-only", [{"purpose": "personalization", "category": "behavioral",
                                 "channel": "web", "status": "denied"}])
    r = client.get("/v1/recipes/running-fans/reach", headers=lead)
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["subjects"] == 5
    assert body["channels"]["web"] == {"eligible": 1, "blocked_by": {
        "behavioral:explicit_denial": 3, "personalization_off": 1}}
    assert body["channels"]["email"] == {"eligible": 2, "blocked_by": {
        "behavioral:explicit_denial": 2, "personalization_off": 1}}
    assert client.get("/v1/recipes/nope/reach", headers=lead).status_code == 404
