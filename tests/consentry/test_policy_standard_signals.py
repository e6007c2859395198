"""The policy's [tcf] and [gpp] tables: the shipped mapping, validation naming the key,
and `flask policy show` printing them so they round-trip."""

import tomllib

import pytest

from consentry.policy import PolicyError, load_policy, parse_policy


def _raw():
    return tomllib.loads(load_policy().to_toml())


def test_shipped_mapping_is_the_contracts():
    policy = load_policy()
    assert policy.tcf.purposes == {"advertising": (1, 3, 4), "personalization": (1, 5, 6),
                                   "analytics": (1, 7, 8, 9)}
    assert policy.tcf.special_features == {1: "location_precise"}
    assert set(policy.gpp.purposes) == set(policy.purposes)
    assert policy.gpp.sensitive_data["usnat"][8] == "location_precise"
    assert policy.gpp.sensitive_data["usnat"][3] == "health"
    assert policy.gpp.sensitive_data["usca"][3] == "location_precise"


def test_policy_show_prints_both_tables(runner):
    result = runner.invoke(args=["policy", "show"])
    assert result.exit_code == 0
    printed = tomllib.loads(result.output)
    assert printed["tcf"]["purposes"]["analytics"] == [1, 7, 8, 9]
    assert printed["tcf"]["special_features"] == {"1": "location_precise"}
    assert printed["gpp"]["usnat"]["sensitive_data"]["10"] == "financial"
    assert parse_policy(printed) == load_policy()


def test_a_policy_without_the_tables_maps_nothing():
    data = _raw()
    del data["tcf"], data["gpp"]
    policy = parse_policy(data)
    assert not policy.tcf.purposes and not policy.gpp.sensitive_data
    assert "tcf" not in policy.to_dict() and "gpp" not in policy.to_dict()


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d["tcf"]["purposes"].update(mind=[1]), "tcf.purposes.mind: unknown purpose"),
    (lambda d: d["tcf"]["purposes"].update(analytics=[1, 12]),
     "tcf.purposes.analytics: expected a non-empty list of distinct TCF purposes (1-11)"),
    (lambda d: d["tcf"]["purposes"].update(analytics=[]), "tcf.purposes.analytics: expected"),
    (lambda d: d["tcf"]["purposes"].update(analytics=[7, 7]), "tcf.purposes.analytics"),
    (lambda d: d["tcf"]["purposes"].update(analytics=["7"]), "tcf.purposes.analytics"),
    (lambda d: d["tcf"]["special_features"].update({"3": "health"}),
     "tcf.special_features.3: not a TCF special feature (1-2)"),
    (lambda d: d["tcf"]["special_features"].update({"1": "aura"}),
     "tcf.special_features.1: unknown category 'aura'"),
    (lambda d: d["tcf"].update(stacks={}), "tcf.stacks: unknown key"),
    (lambda d: d["gpp"].update(purposes=["advertising", "mind"]),
     "gpp.purposes: unknown purpose 'mind'"),
    (lambda d: d["gpp"]["usnat"]["sensitive_data"].update({"17": "health"}),
     "gpp.usnat.sensitive_data.17: not a usnat SensitiveDataProcessing field (1-16)"),
    (lambda d: d["gpp"]["usca"]["sensitive_data"].update({"10": "health"}),
     "gpp.usca.sensitive_data.10: not a usca SensitiveDataProcessing field (1-9)"),
    (lambda d: d["gpp"]["usca"]["sensitive_data"].update({"x": "health"}),
     "gpp.usca.sensitive_data.x: not a usca"),
    (lambda d: d["gpp"]["usnat"]["sensitive_data"].update({"3": "aura"}),
     "gpp.usnat.sensitive_data.3: unknown category 'aura'"),
    (lambda d: d["gpp"].update(usva={"sensitive_data": {}}), "gpp.usva: unknown key"),
    (lambda d: d["gpp"].pop("purposes"), "gpp.purposes: name the purposes"),
])
def test_validation_names_the_key(mutate, message):
    data = _raw()
    mutate(data)
    with pytest.raises(PolicyError) as info:
        parse_policy(data)
    assert message in str(info.value)
