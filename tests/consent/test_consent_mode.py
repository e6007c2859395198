"""Google Consent Mode v2 over HTTP: the seven fields through the policy's [consent_mode]
table, always the gate's own answer, signed; and the table checked when a policy loads."""

from __future__ import annotations

import tomllib
import uuid

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consent.token import CONSENT_MODE_TOKEN_TYPE, verify_token
from consentry.policy import CONSENT_MODE_FIELDS, PolicyError, load_policy, parse_policy
from consentry.signing import SignatureError

POLICY = load_policy()
ALL_GRANTED = dict.fromkeys(CONSENT_MODE_FIELDS, "granted")


@pytest.fixture
def engine_key(make_key):
    return make_key("signals:read", name="tag-manager")


def mode(client, key, subject, **query):
    r = client.get(f"/v1/subjects/{subject}/consent-mode", query_string=query, headers=key)
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def fields(answer: dict) -> dict:
    return {name: answer[name] for name in CONSENT_MODE_FIELDS}


def test_an_unknown_subject_gets_the_defaults_of_its_jurisdiction(client, engine_key):
    eu = mode(client, engine_key, "never-seen", channel="web", jurisdiction="EU")
    assert fields(eu) == {**ALL_GRANTED, "ad_storage": "denied", "ad_user_data": "denied",
                          "ad_personalization": "denied"}
    assert eu["jurisdiction"] == "EU" and eu["channel"] == "web"
    elsewhere = mode(client, engine_key, "never-seen", channel="web")
    assert fields(elsewhere) == ALL_GRANTED and elsewhere["jurisdiction"] == "DEFAULT"
    assert elsewhere["policy_version"] == POLICY.version and elsewhere["max_age"] == 300


def test_choices_move_exactly_the_fields_the_table_ties_to_them(client, engine_key,
                                                                put_consents):
    put_consents("u-1", [{"purpose": "advertising", "status": "granted"}], jurisdiction="EU")
    assert fields(mode(client, engine_key, "u-1", channel="web")) == ALL_GRANTED
    # the example: ad_personalization needs advertising to use `behavioral`
    put_consents("u-1", [{"purpose": "advertising", "category": "behavioral",
                          "status": "denied"}])
    answer = fields(mode(client, engine_key, "u-1", channel="web"))
    assert answer == {**ALL_GRANTED, "ad_personalization": "denied"}
    put_consents("u-1", [{"purpose": "advertising", "category": "transactional",
                          "channel": "web", "status": "denied"}])
    assert fields(mode(client, engine_key, "u-1", channel="web"))["ad_user_data"] == "denied"
    assert fields(mode(client, engine_key, "u-1", channel="app"))["ad_user_data"] == "granted"
    put_consents("u-1", [{"purpose": "analytics", "status": "denied"},
                         {"purpose": "personalization", "status": "withdrawn"}])
    answer = fields(mode(client, engine_key, "u-1", channel="web"))
    assert answer["analytics_storage"] == answer["personalization_storage"] == "denied"
    assert answer["functionality_storage"] == answer["security_storage"] == "granted"


def test_gpc_denies_the_advertising_fields(client, engine_key, put_consents):
    put_consents("u-2", [{"purpose": "advertising", "status": "granted"}],
                 headers={"Sec-GPC": "1"}, jurisdiction="US-CA")
    answer = fields(mode(client, engine_key, "u-2", channel="web"))
    assert answer == {**ALL_GRANTED, "ad_storage": "denied", "ad_user_data": "denied",
                      "ad_personalization": "denied"}


def test_the_token_is_signed_and_carries_the_answer_not_a_gate_answer(client, engine_key,
                                                                      put_consents):
    put_consents("u-3", [{"purpose": "advertising", "status": "denied"}])
    answer = mode(client, engine_key, "u-3", channel="web")
    jwks = client.get("/.well-known/consentry-keys").get_json()
    claims = verify_token(answer["token"], jwks, typ=CONSENT_MODE_TOKEN_TYPE)
    with pytest.raises(SignatureError):  # its own type: a consent verifier refuses it
        verify_token(answer["token"], jwks)
    assert claims["consent_mode"] == fields(answer)
    assert claims["sub"] == "u-3" and claims["channel"] == "web"
    assert claims["policy_version"] == POLICY.version and claims["policy_digest"] == POLICY.digest
    assert claims["exp"] - claims["iat"] == answer["max_age"]
    assert "allowed" not in claims and "purpose" not in claims  # never read as a gate answer


def test_bad_questions_are_422_and_a_key_needs_signals_read(client, engine_key, make_key):
    for query, field in (({"channel": "fax"}, "channel"), ({"jurisdiction": "XX"},
                                                            "jurisdiction")):
        r = client.get("/v1/subjects/u-1/consent-mode", query_string=query, headers=engine_key)
        assert r.status_code == 422 and field in r.get_json()["error"]["fields"], query
    r = client.get("/v1/subjects/u-1/consent-mode", headers=make_key("preferences:read"))
    assert r.status_code == 403


choice = st.fixed_dictionaries({
    "purpose": st.sampled_from(sorted(POLICY.purposes)),
    "status": st.sampled_from(["granted", "denied", "withdrawn"])},
    optional={"category": st.sampled_from(sorted(POLICY.categories)),
              "channel": st.sampled_from(["web", "email"])})


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(choices=st.lists(choice, min_size=1, max_size=6),
       jurisdiction=st.sampled_from(["EU", "US-CA", "DEFAULT"]), gpc=st.booleans(),
       channel=st.sampled_from([None, "web", "email"]))
def test_every_field_is_the_gates_own_answer(client, make_key, choices, jurisdiction, gpc,
                                             channel):
    """No second consent rule: each field equals what allowed-signals answers for the
    purpose and categories the table names."""
    key = make_key("admin")
    subject = f"cm-{uuid.uuid4().hex[:10]}"
    r = client.put(f"/v1/subjects/{subject}/consents",
                   json={"source": "t", "jurisdiction": jurisdiction, "choices": choices},
                   headers={**key, **({"Sec-GPC": "1"} if gpc else {})})
    assert r.status_code == 200
    query = {"channel": channel} if channel else {}
    answer = mode(client, key, subject, **query)
    state = client.get(f"/v1/subjects/{subject}/consents", headers=key).get_json()
    for name, rule in POLICY.consent_mode.items():
        if rule.fixed is not None:
            expected = rule.fixed == "always"
        elif rule.categories:
            gate = client.get(f"/v1/subjects/{subject}/allowed-signals", headers=key,
                              query_string={"purpose": rule.purpose,
                                            "categories": ",".join(rule.categories),
                                            **query}).get_json()
            expected = set(rule.categories) <= set(gate["allowed"])
        else:
            # the purpose's own row on the channel, else its row for every channel
            rows = {e["channel"]: e for e in state["entries"]
                    if e["purpose"] == rule.purpose and e["category"] is None}
            expected = rows.get(channel, rows[None])["allowed"]
        assert answer[name] == ("granted" if expected else "denied"), (name, choices)


def _without_consent_mode() -> str:
    data = tomllib.loads(POLICY.to_toml())
    del data["consent_mode"]
    return tomli_w.dumps(data)


def test_a_policy_without_consent_mode_answers_404(make_app, make_key, tmp_path):
    path = tmp_path / "policy.toml"
    path.write_text(_without_consent_mode())
    app = make_app(POLICY_FILE=str(path))
    key = make_key("signals:read")
    r = app.test_client().get("/v1/subjects/u-1/consent-mode", headers=key)
    assert r.status_code == 404
    assert "[consent_mode]" in r.get_json()["error"]["message"]


def _with(table: dict) -> dict:
    data = tomllib.loads(POLICY.to_toml())
    data["consent_mode"] = {**data["consent_mode"], **table}
    return data


@pytest.mark.parametrize("table,message", [
    ({"ad_storage": {"purpose": "mind"}}, "consent_mode.ad_storage.purpose: Unknown purpose"),
    ({"ad_storage": {"purpose": "advertising", "categories": ["behavioral", "dreams"]}},
     "consent_mode.ad_storage.categories.1: Unknown category"),
    ({"ad_storage": "sometimes"}, "consent_mode.ad_storage: expected 'always', 'never'"),
    ({"ad_storage": {"purpose": "advertising", "category": "behavioral"}},
     "consent_mode.ad_storage.category: unknown key"),
    ({"ad_click": "always"}, "consent_mode.ad_click: not a Consent Mode field"),
])
def test_a_bad_consent_mode_table_is_refused_naming_the_key(table, message):
    with pytest.raises(PolicyError, match=message.replace(".", r"\.").replace("[", r"\[")):
        parse_policy(_with(table))


def test_every_field_needs_a_rule_and_never_is_allowed():
    data = _with({"ad_user_data": "never"})
    assert parse_policy(data).consent_mode["ad_user_data"].fixed == "never"
    del data["consent_mode"]["security_storage"]
    with pytest.raises(PolicyError, match="consent_mode: no rule for security_storage"):
        parse_policy(data)


def test_the_policy_answer_names_the_default_notice(client, make_key):
    answer = client.get("/v1/policy", headers=make_key("policy:read")).get_json()
    assert answer["default_notice"] == "privacy"


def test_the_policy_prints_back_its_consent_mode_and_default_notice():
    again = parse_policy(tomllib.loads(POLICY.to_toml()))
    assert again.consent_mode == POLICY.consent_mode and again.default_notice == "privacy"
    with pytest.raises(PolicyError, match="default_notice"):
        parse_policy({**tomllib.loads(POLICY.to_toml()), "default_notice": "a@b"})
