"""The policy's controller contact, recipients and consent validity: what receipts state."""

import tomllib

import pytest

from consentry.policy import PolicyError, load_policy, parse_policy


def _raw():
    return tomllib.loads(load_policy().to_toml())


def test_shipped_policy_names_the_controller_its_dpo_and_the_recipients():
    policy = load_policy()
    contact = policy.controller_contact
    assert policy.controller == "Example Company Ltd."
    assert contact.email == "privacy@example.com" and contact.dpo_email == "dpo@example.com"
    assert contact.address.country == "DE" and contact.address.street == "Beispielstraße 1"
    assert {r.role for r in policy.recipients} == {"processor", "third_party"}
    assert all(set(r.purposes) <= set(policy.purposes) for r in policy.recipients)
    assert policy.consent_valid_days == 395
    assert policy.purposes["personalization"].dpv == "dpv:Personalisation"


def test_a_controller_given_by_name_alone_still_loads_and_round_trips():
    data = _raw()
    data["controller"] = "Someone Else Ltd."
    policy = parse_policy(data)
    assert policy.controller == "Someone Else Ltd." and policy.controller_contact is None
    assert policy.to_dict()["controller"] == "Someone Else Ltd."
    assert parse_policy(tomllib.loads(policy.to_toml())) == policy


def test_consent_validity_follows_the_gates_maximum_age_when_only_that_is_set():
    data = _raw()
    assert "consent_valid_days" not in data  # the default is not written out
    assert parse_policy(data).consent_valid_days == 395
    data["consent_max_age_days"] = 200
    assert parse_policy(data).consent_valid_days == 200
    data["consent_valid_days"] = 150  # asking again sooner than the gate expires is fine
    policy = parse_policy(data)
    assert policy.consent_valid_days == 150
    assert parse_policy(tomllib.loads(policy.to_toml())) == policy


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d.update(consent_max_age_days=30, consent_valid_days=395),
     "consent_valid_days: must not exceed consent_max_age_days (395 > 30)"),
    (lambda d: d.update(consent_valid_days=0), "consent_valid_days: must be a positive"),
    (lambda d: d["controller"].update(email="nobody"),
     "controller.email: expected an email address"),
    (lambda d: d["controller"]["dpo"].update(email="a@b@c"),
     "controller.dpo.email: expected an email address"),
    (lambda d: d["controller"].pop("address"), "controller.address: missing"),
    (lambda d: d["controller"]["address"].pop("country"), "controller.address.country: missing"),
    (lambda d: d.update(controller=7), "controller: expected a name or a table"),
    (lambda d: d["recipients"][0].update(role="friend"),
     "recipients.0.role: must be one of processor, third_party"),
    (lambda d: d["recipients"][1].update(purposes=["fishing"]),
     "recipients.1.purposes: unknown purpose 'fishing'"),
    (lambda d: d["recipients"][2].update(purposes=[]),
     "recipients.2.purposes: name at least one purpose"),
    (lambda d: d["purposes"]["analytics"].update(dpv=3), "purposes.analytics.dpv: expected str"),
    (lambda d: d["recipients"][0].pop("id"), "recipients.0.id: missing"),
    (lambda d: d["recipients"][0].update(id="Has Spaces"), "recipients.0.id: lowercase"),
    (lambda d: d["recipients"][1].update(id=d["recipients"][0]["id"]),
     "recipients.1.id: 'analytics' names two recipients"),
    (lambda d: d["recipients"][1].update(categories=["gossip"]),
     "recipients.1.categories: unknown category 'gossip'"),
    (lambda d: d["recipients"][1].update(country="Ireland"), "recipients.1.country: an ISO"),
    (lambda d: d["recipients"][2].pop("transfer_safeguard"),
     "recipients.2.transfer_safeguard: US is outside the EU/EEA"),
    (lambda d: d["recipients"][0].update(country="CH"),
     "recipients.0.transfer_safeguard: CH is outside the EU/EEA"),
    (lambda d: d["recipients"][2].update(sale_sharing="yes"),
     "recipients.2.sale_sharing: expected bool"),
])
def test_validation_names_the_key(mutate, message):
    data = _raw()
    mutate(data)
    with pytest.raises(PolicyError) as info:
        parse_policy(data)
    assert message in str(info.value)


def test_get_policy_answers_the_contact_recipients_and_validity(client, make_key):
    body = client.get("/v1/policy", headers=make_key("policy:read")).get_json()
    assert body["controller"] == "Example Company Ltd."
    assert body["controller_contact"]["dpo"] == {"name": "Data Protection Officer",
                                                 "email": "dpo@example.com"}
    assert body["controller_contact"]["address"]["street"] == "Beispielstraße 1"
    assert [(r["name"], r["dpv_role"]) for r in body["recipients"]] == [
        ("Example Analytics GmbH", "dpv:DataProcessor"),
        ("Example Mailer Ltd.", "dpv:DataProcessor"),
        ("Example Ad Exchange Inc.", "dpv:ThirdParty")]
    assert {r["id"]: (r["third_country"], r["sale_sharing"], bool(r["transfer_safeguard"]))
            for r in body["recipients"]} == {"analytics": (False, False, False),
                                             "mailer": (False, False, False),
                                             "ad_exchange": (True, True, True)}
    assert body["recipients"][1]["categories"] == ["declared", "email_engagement"]
    assert body["consent_valid_days"] == 395
    assert {p["id"]: p["dpv"] for p in body["purposes"]}["analytics"] == \
        "dpv:ServiceUsageAnalytics"
