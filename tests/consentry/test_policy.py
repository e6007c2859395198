"""The policy: shipped ids, validation naming the key, TOML round trip, audited changes."""

import tomllib

import pytest
from sqlalchemy import select

from audit.models import AuditEntry
from consentry.policy import PolicyError, load_policy, parse_policy


def test_shipped_policy_has_the_contract_ids():
    policy = load_policy()
    assert set(policy.purposes) == {"personalization", "marketing", "advertising", "analytics"}
    assert set(policy.channels) == {"web", "app", "email", "push", "sms"}
    sensitivity = {c.id: c.sensitivity for c in policy.categories.values()}
    assert sensitivity == {
        "behavioral": "standard", "transactional": "standard", "declared": "standard",
        "email_engagement": "standard", "location_precise": "sensitive",
        "cross_site": "sensitive", "offline_identity": "sensitive", "health": "special",
        "financial": "special",
    }
    assert policy.retention_classes == {"behavioral": 90, "transactional": 730, "profile": None}
    assert policy.decisions_class == "behavioral"
    assert policy.jurisdictions["EU"].basis["marketing"] == "opt_in"
    assert policy.jurisdictions["EU"].basis["personalization"] == "opt_out"
    assert policy.jurisdictions["US-CA"].sale_sharing_purposes == ("advertising",)
    assert policy.jurisdiction(None).id == "DEFAULT"


def test_policy_show_round_trips(runner):
    result = runner.invoke(args=["policy", "show"])
    assert result.exit_code == 0
    assert parse_policy(tomllib.loads(result.output)) == load_policy()


def test_surfaces_round_trip_through_toml():
    data = _raw()
    data["surfaces"] = ["homepage_hero", "email"]
    policy = parse_policy(data)
    assert policy.surfaces == ("homepage_hero", "email")
    assert parse_policy(tomllib.loads(policy.to_toml())) == policy
    assert load_policy().surfaces == () and "surfaces" not in load_policy().to_dict()


def _raw():
    return tomllib.loads(load_policy().to_toml())


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d["categories"]["health"].update(sensitivity="secret"),
     "categories.health.sensitivity: must be one of standard, sensitive, special"),
    (lambda d: d["categories"]["behavioral"].update(retention_class="forever"),
     "categories.behavioral.retention_class: unknown class 'forever'"),
    (lambda d: d["jurisdictions"]["EU"]["basis"].update(marketing="maybe"),
     "jurisdictions.EU.basis.marketing: must be one of opt_in, opt_out"),
    (lambda d: d["jurisdictions"]["EU"]["basis"].pop("analytics"),
     "jurisdictions.EU.basis: no basis for purpose(s) analytics"),
    (lambda d: d.pop("version"), "version: missing"),
    (lambda d: d["retention"]["classes"].update(behavioral=-1),
     "retention.classes.behavioral: expected a positive number of days"),
    (lambda d: d.update(default_jurisdiction="MARS"), "default_jurisdiction: unknown"),
    (lambda d: d["retention"].update(targets=[{"name": "t", "url": "sqlite://", "table": "e",
                                               "timestamp_column": "ts"}]),
     "retention.targets.0.class: give exactly one of"),
    (lambda d: d.update(surfaces=["home", 3]), "surfaces.1: expected a non-empty string"),
    (lambda d: d.update(surfaces=["home", "home"]), "surfaces: names must be unique"),
    (lambda d: d.update(surfaces="home"), "surfaces: expected list"),
    (lambda d: d["categories"]["health"].update(not_for=["advertizing"]),
     "categories.health.not_for: unknown purpose 'advertizing'"),
    (lambda d: d["categories"]["health"].update(not_for=[{"a": 1}]),
     "categories.health.not_for: unknown purpose"),
    (lambda d: d["categories"]["health"].update(not_for="advertising"),
     "categories.health.not_for: expected list"),
    (lambda d: d["purposes"]["marketing"].update(per_channel="yes"),
     "purposes.marketing.per_channel: expected bool"),
])
def test_validation_names_the_key(mutate, message):
    data = _raw()
    mutate(data)
    with pytest.raises(PolicyError) as info:
        parse_policy(data)
    assert message in str(info.value)


def test_policy_check_cli_reports_errors(runner, tmp_path):
    bad = tmp_path / "p.toml"
    bad.write_text('version = "x"\n')
    result = runner.invoke(args=["policy", "check", str(bad)])
    assert result.exit_code != 0 and "purposes: missing" in result.output


def test_get_policy(client, make_key):
    body = client.get("/v1/policy", headers=make_key("policy:read")).get_json()
    assert body["version"] == "2026-11-01"
    health = next(c for c in body["categories"] if c["id"] == "health")
    assert health["sensitivity"] == "special" and health["retention_class"] == "profile"
    eu = next(j for j in body["jurisdictions"] if j["id"] == "EU")
    assert eu["basis"]["advertising"] == "opt_in"
    assert body["retention"] == {"behavioral": 90, "transactional": 730, "profile": None}
    assert health["not_for"] == ["advertising"]
    assert next(c for c in body["categories"] if c["id"] == "behavioral")["not_for"] == []
    per_channel = {p["id"]: p["per_channel"] for p in body["purposes"]}
    assert per_channel["marketing"] is True and per_channel["analytics"] is False


def test_policy_show_prints_per_channel_and_not_for(runner):
    data = tomllib.loads(runner.invoke(args=["policy", "show"]).output)
    assert data["purposes"]["marketing"]["per_channel"] is True
    assert "per_channel" not in data["purposes"]["analytics"]
    assert data["categories"]["health"]["not_for"] == ["advertising"]
    assert data["categories"]["financial"]["not_for"] == ["advertising"]
    assert "not_for" not in data["categories"]["behavioral"]


def test_loading_a_changed_version_is_audited_once(make_app, tmp_path, session):
    make_app()  # first load of the shipped policy
    data = _raw()
    data["version"] = "2027-01-01"
    changed = tmp_path / "policy.toml"
    import tomli_w

    changed.write_text(tomli_w.dumps(data))
    make_app(POLICY_FILE=str(changed))
    make_app(POLICY_FILE=str(changed))  # same version again: nothing new
    entries = session.scalars(select(AuditEntry).where(AuditEntry.action == "policy.loaded")
                              .order_by(AuditEntry.seq)).all()
    assert [(e.details["old_version"], e.details["new_version"]) for e in entries] == [
        (None, "2026-11-01"), ("2026-11-01", "2027-01-01")]


def test_a_policy_changed_without_a_new_version_is_audited(make_app, tmp_path, session):
    import json

    import tomli_w

    make_app()  # the shipped policy
    data = _raw()
    data["controller"] = "Someone Else Ltd."  # same version, different policy
    edited = tmp_path / "deploy" / "secret-location" / "policy.toml"
    edited.parent.mkdir(parents=True)
    edited.write_text(tomli_w.dumps(data))
    make_app(POLICY_FILE=str(edited))
    make_app(POLICY_FILE=str(edited))  # the same content again: nothing new
    make_app()  # back to the shipped policy: a change again
    entries = session.scalars(select(AuditEntry).where(AuditEntry.action == "policy.loaded")
                              .order_by(AuditEntry.seq)).all()
    shipped, edited_digest = load_policy().digest, load_policy(edited).digest
    assert shipped != edited_digest
    assert [(e.details["old_version"], e.details["new_version"], e.details["old_digest"],
             e.details["digest"]) for e in entries] == [
        (None, "2026-11-01", None, shipped),
        ("2026-11-01", "2026-11-01", shipped, edited_digest),
        ("2026-11-01", "2026-11-01", edited_digest, shipped)]
    # nothing path-like about the deployment in the audit log
    for e in entries:
        assert set(e.details) == {"old_version", "new_version", "old_digest", "digest"}
        text = json.dumps(e.details)
        assert "secret-location" not in text and str(tmp_path) not in text and "/" not in text
