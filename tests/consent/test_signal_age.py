"""Signal age: the policy's limits per category, and what the gate hands engines."""

import tomllib

import pytest

from consent.token import verify_token
from consentry.policy import PolicyError, load_policy, parse_policy

POLICY = load_policy()


def _raw():
    return tomllib.loads(POLICY.to_toml())


def test_shipped_policy_sets_a_year_and_two_and_behavioral_takes_its_retention():
    for cid in ("transactional", "declared", "financial"):
        category = POLICY.categories[cid]
        assert (category.decay_after_days, category.max_signal_age_days) == (365, 730)
    for category in POLICY.categories.values():
        if category.retention_class == "behavioral":
            assert category.max_signal_age_days == POLICY.retention_classes["behavioral"] == 90


def test_behavioral_limit_follows_the_retention_class_and_round_trips():
    data = _raw()
    data["retention"]["classes"]["behavioral"] = 60
    policy = parse_policy(data)
    assert policy.categories["behavioral"].max_signal_age_days == 60
    assert policy.to_dict()["categories"]["behavioral"]["max_signal_age_days"] == "retention"
    assert parse_policy(tomllib.loads(policy.to_toml())) == policy
    assert parse_policy(tomllib.loads(POLICY.to_toml())) == POLICY


@pytest.mark.parametrize("values, message", [
    ({"decay_after_days": 0}, "categories.declared.decay_after_days: expected a positive"),
    ({"max_signal_age_days": "x"}, "categories.declared.max_signal_age_days: expected a "
                                   "positive number of days or 'retention'"),
    ({"decay_after_days": True}, "categories.declared.decay_after_days: expected a positive"),
    ({"decay_after_days": 730, "max_signal_age_days": 730},
     "categories.declared.decay_after_days: must be less than max_signal_age_days"),
    ({"max_signal_age_days": "retention"},
     "categories.declared.max_signal_age_days: 'retention' needs a retention class"),
])
def test_bad_signal_ages_name_the_key(values, message):
    data = _raw()
    data["categories"]["declared"].update(values)
    with pytest.raises(PolicyError) as info:
        parse_policy(data)
    assert message in str(info.value)


def test_allowed_signals_and_token_carry_limits_of_allowed_categories(client, make_key):
    key = make_key("signals:read")
    r = client.get("/v1/subjects/u-1/allowed-signals",
                   query_string={"purpose": "personalization", "channel": "web"}, headers=key)
    body = r.get_json()
    assert "health" not in body["allowed"]
    assert body["limits"]["transactional"] == {"max_signal_age_days": 730,
                                               "decay_after_days": 365}
    assert body["limits"]["behavioral"] == {"max_signal_age_days": 90, "decay_after_days": None}
    assert set(body["limits"]) == set(body["allowed"])  # every standard one sets a limit
    assert "financial" not in body["limits"]  # denied: no limits for it
    claims = verify_token(body["token"], client.get("/.well-known/consentry-keys").get_json())
    assert claims["limits"] == body["limits"]
