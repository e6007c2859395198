"""Governance reports: each minimization finding, each DPIA criterion, CSV and the CLI."""

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
import tomli_w
from sqlalchemy import insert

from consent.models import DecisionCategoryDay
from consentry.db import get_db
from consentry.policy import load_policy

RECIPE = {
    "name": "Running fans see running gear", "purpose": "personalization",
    "channels": ["web"], "trigger": "viewed a category 3+ times in 30 days",
    "audience": "returning visitors", "action": "show the category's top items",
    "categories": ["behavioral"], "success_metric": "click-through", "owner": "growth",
    "status": "live",
}


@pytest.fixture
def gov_app(make_app, tmp_path):
    """The shipped policy plus a CRM target holding the `profile` class and a DPIA
    large-scale threshold of 2 subjects."""
    data = load_policy().to_dict()
    data["retention"]["targets"] = [{"name": "crm", "url": f"sqlite:///{tmp_path}/crm.db",
                                     "table": "profiles", "timestamp_column": "updated_at",
                                     "class": "profile"}]
    data["dpia_large_scale_subjects"] = 2
    path = tmp_path / "policy.toml"
    path.write_text(tomli_w.dumps(data))
    return make_app(POLICY_FILE=str(path))


@pytest.fixture
def gov(gov_app, make_key):
    client = gov_app.test_client()
    key = make_key("recipes:write", "reports:read", name="dpo")

    def save(recipe_id, **changes):
        r = client.put(f"/v1/recipes/{recipe_id}", json={**RECIPE, **changes}, headers=key)
        assert r.status_code == 200, r.get_json()

    return client, key, save


def _used(app, category, days_ago=0, decisions=3):
    day = datetime.now(UTC) - timedelta(days=days_ago)
    with get_db(app).transaction() as s:
        s.execute(insert(DecisionCategoryDay).values(day=day.date(), category=category,
                                                     decisions=decisions, violations=1,
                                                     last_used_at=day))


def test_minimization_findings(gov_app, gov):
    client, key, save = gov
    save("running-fans")                                    # behavioral: declared and used
    save("birthday", categories=["declared"])               # declared: declared, unused
    save("old", categories=["health"], explicit_grants=["health"], status="retired")
    _used(gov_app, "behavioral")
    _used(gov_app, "transactional", days_ago=200)           # used, no recipe declares it
    _used(gov_app, "email_engagement", days_ago=400)        # outside the default year
    r = client.get("/v1/reports/data-minimization", headers=key)
    assert r.status_code == 200, r.get_json()
    by = {c["category"]: c for c in r.get_json()["categories"]}
    assert by["behavioral"]["finding"] == "ok"
    assert by["behavioral"]["decisions"] == 3 and by["behavioral"]["violations"] == 1
    assert by["behavioral"]["declared_by"] == ["running-fans"]
    assert by["behavioral"]["last_used_at"] is not None
    assert by["declared"]["finding"] == "declared_unused"
    assert by["transactional"]["finding"] == "used_undeclared"
    # collected by the CRM (class `profile`), no live recipe (retired), no decision: stop it
    assert by["health"]["finding"] == "unused"
    assert by["health"]["collected_in"] == {"targets": ["crm"], "stores": []}
    assert by["offline_identity"]["finding"] == "unused"
    assert by["email_engagement"]["decisions"] == 0  # its use lies before the window
    since = (datetime.now(UTC) - timedelta(days=500)).strftime("%Y-%m-%dT%H:%M:%SZ")
    wide = client.get("/v1/reports/data-minimization", query_string={"since": since},
                      headers=key).get_json()
    assert {c["category"]: c for c in wide["categories"]}["email_engagement"]["decisions"] == 3
    bad = client.get("/v1/reports/data-minimization",
                     query_string={"since": "2026-02-01T00:00:00Z",
                                   "until": "2026-01-01T00:00:00Z"}, headers=key)
    assert bad.status_code == 422


def test_reports_need_reports_read(gov, make_key):
    client, _key, _save = gov
    other = make_key("recipes:read", name="other")
    assert client.get("/v1/reports/data-minimization", headers=other).status_code == 403
    assert client.get("/v1/reports/processing-records", headers=other).status_code == 403


def _activity(client, key, purpose):
    body = client.get("/v1/reports/processing-records", headers=key).get_json()
    return next(a for a in body["activities"] if a["purpose"] == purpose)


def test_processing_record_shape(gov, put_consents):
    client, key, save = gov
    save("running-fans")
    a = _activity(client, key, "personalization")
    assert a["controller"] == "Example Company Ltd."
    assert a["legal_basis"] == {"EU": "opt_out", "US-CA": "opt_out", "DEFAULT": "opt_out"}
    assert a["categories"] == [{"category": "behavioral", "label": "Activity in our product",
                                "sensitivity": "standard", "retention_days": 90,
                                "stored_in": [], "legal_basis_text": a["legal_basis_text"]}]
    assert [r["recipe_id"] for r in a["recipes"]] == ["running-fans"]
    marketing = _activity(client, key, "marketing")
    assert marketing["recipes"] == [] and marketing["dpia"]["dpia_recommended"] is False


def test_dpia_profiling_alone_is_not_enough(gov):
    client, key, save = gov
    save("running-fans")
    dpia = _activity(client, key, "personalization")["dpia"]
    assert dpia["reasons"] == ["profiling"] and dpia["dpia_recommended"] is False


def test_dpia_sensitive_category_and_matching_data_sets(gov):
    client, key, save = gov
    save("store-visits", categories=["offline_identity"], explicit_grants=["offline_identity"])
    dpia = _activity(client, key, "personalization")["dpia"]
    assert dpia["reasons"] == ["sensitive_or_special", "profiling", "matching_datasets"]
    assert dpia["dpia_recommended"] is True
    assert dpia["criteria"][0]["categories"] == ["offline_identity"]


def test_dpia_large_scale_by_reach(gov, put_consents):
    client, key, save = gov
    save("running-fans", purpose="marketing", channels=["email"])
    for subject in ("a", "b"):
        put_consents(subject, [{"purpose": "marketing", "status": "granted"}])
    dpia = _activity(client, key, "marketing")["dpia"]
    assert dpia["reach"] == 2 and "large_scale" not in dpia["reasons"]  # 2 is not above 2
    put_consents("c", [{"purpose": "marketing", "status": "granted"}])
    dpia = _activity(client, key, "marketing")["dpia"]
    assert dpia["reasons"] == ["profiling", "large_scale"] and dpia["dpia_recommended"]
    assert dpia["criteria"][1] == {"criterion": "large_scale", "reach": 3, "threshold": 2}


def test_processing_records_csv(gov):
    client, key, save = gov
    save("store-visits", categories=["offline_identity"], explicit_grants=["offline_identity"])
    r = client.get("/v1/reports/processing-records?format=csv", headers=key)
    assert r.status_code == 200 and r.mimetype == "text/csv"
    rows = {row["purpose"]: row for row in csv.DictReader(io.StringIO(r.get_data(as_text=True)))}
    assert rows["personalization"]["categories"] == "offline_identity"
    assert rows["personalization"]["stored_in"] == "crm"
    assert rows["personalization"]["dpia_recommended"] == "yes"
    assert rows["marketing"]["dpia_recommended"] == "no"
    assert client.get("/v1/reports/processing-records?format=pdf",
                      headers=key).status_code == 422


def test_reports_cli_writes_files(gov_app, gov, tmp_path):
    _client, _key, save = gov
    save("running-fans")
    runner = gov_app.test_cli_runner()
    out = tmp_path / "min.json"
    result = runner.invoke(args=["reports", "minimization", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert {c["category"] for c in json.loads(out.read_text())["categories"]} >= {"behavioral"}
    for name in ("rec.json", "rec.csv"):
        result = runner.invoke(args=["reports", "processing", "--out", str(tmp_path / name)])
        assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "rec.json").read_text())["activities"]
    assert (tmp_path / "rec.csv").read_text().startswith("purpose,controller,")


def test_large_scale_threshold_is_validated_and_round_trips():
    from consentry.policy import PolicyError, parse_policy
    data = load_policy().to_dict()
    assert load_policy().dpia_large_scale_subjects == 100_000
    data["dpia_large_scale_subjects"] = 0
    with pytest.raises(PolicyError, match="dpia_large_scale_subjects: must be positive"):
        parse_policy(data)
    data["dpia_large_scale_subjects"] = 5
    policy = parse_policy(data)
    assert parse_policy(policy.to_dict()) == policy and policy.dpia_large_scale_subjects == 5
