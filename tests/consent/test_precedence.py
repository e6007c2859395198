"""The precedence table (README), rule by rule, on the one evaluation function."""

from datetime import UTC, datetime, timedelta

import pytest

from consent.gate import REASONS, evaluate
from consent.state import Choice, ConsentState
from consentry.policy import load_policy, parse_policy

NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
T = NOW - timedelta(days=1)
POLICY = load_policy()


def state(juris="EU", choices=None, switches=()):
    return ConsentState(juris, {k: Choice(s, t) for k, (s, t) in (choices or {}).items()},
                        {s: T for s in switches})


def verdict(st, purpose, category, channel=None, policy=POLICY, now=NOW):
    v = evaluate(st, policy, purpose, channel, [category], now).verdicts[0]
    return v.allowed, v.reason


def test_unknown_category_never_passes():
    assert verdict(state(), "personalization", "mind_reading") == (False, "unknown_category")
    granted = state(choices={("personalization", "mind_reading", None): ("granted", T)})
    assert verdict(granted, "personalization", "mind_reading") == (False, "unknown_category")


def test_personalization_off_beats_every_grant():
    st = state(choices={("personalization", "behavioral", None): ("granted", T)},
               switches=["personalization_off"])
    assert verdict(st, "personalization", "behavioral") == (False, "personalization_off")
    # it is about personalization: analytics keeps its own answer
    assert verdict(st, "analytics", "behavioral") == (True, "default_opt_out_basis")


@pytest.mark.parametrize("juris", ["EU", "US-CA", "DEFAULT"])
def test_sale_sharing_opt_out_and_gpc_beat_an_advertising_grant(juris):
    grant = {("advertising", "behavioral", None): ("granted", T)}
    assert verdict(state(juris, grant, ["sale_sharing_opt_out"]), "advertising",
                   "behavioral") == (False, "sale_sharing_opt_out")
    assert verdict(state(juris, grant, ["sale_sharing_opt_out", "gpc"]), "advertising",
                   "behavioral") == (False, "gpc")
    assert verdict(state(juris, grant, ["gpc"]), "personalization",
                   "behavioral")[0] is True


def test_purpose_denial_beats_category_grant():
    st = state(choices={("personalization", None, None): ("denied", T),
                        ("personalization", "behavioral", None): ("granted", T)})
    assert verdict(st, "personalization", "behavioral") == (False, "purpose_denied")
    st = state(choices={("personalization", None, None): ("withdrawn", T),
                        ("personalization", "behavioral", None): ("granted", T)})
    assert verdict(st, "personalization", "behavioral") == (False, "withdrawn")


def test_most_specific_choice_wins():
    st = state(choices={("marketing", "behavioral", None): ("granted", T),
                        ("marketing", "behavioral", "sms"): ("denied", T)})
    assert verdict(st, "marketing", "behavioral", "email") == (True, "explicit_grant")
    assert verdict(st, "marketing", "behavioral", "sms") == (False, "explicit_denial")
    assert verdict(st, "marketing", "behavioral") == (True, "explicit_grant")
    st = state(choices={("marketing", None, None): ("granted", T),
                        ("marketing", "behavioral", None): ("denied", T)})
    assert verdict(st, "marketing", "behavioral") == (False, "explicit_denial")
    assert verdict(st, "marketing", "transactional") == (True, "explicit_grant")
    st = state(choices={("marketing", None, None): ("denied", T),
                        ("marketing", None, "email"): ("granted", T)})
    assert verdict(st, "marketing", "behavioral", "email") == (True, "explicit_grant")
    assert verdict(st, "marketing", "behavioral", "sms") == (False, "purpose_denied")


def test_category_withdrawal():
    st = state(choices={("personalization", "behavioral", None): ("withdrawn", T)})
    assert verdict(st, "personalization", "behavioral") == (False, "withdrawn")


@pytest.mark.parametrize("juris, purpose, expected", [
    ("EU", "personalization", (True, "default_opt_out_basis")),
    ("EU", "analytics", (True, "default_opt_out_basis")),
    ("EU", "marketing", (False, "requires_explicit_consent")),
    ("EU", "advertising", (False, "requires_explicit_consent")),
    ("US-CA", "marketing", (True, "default_opt_out_basis")),
    ("US-CA", "advertising", (True, "default_opt_out_basis")),
    ("DEFAULT", "personalization", (True, "default_opt_out_basis")),
])
def test_jurisdiction_default_basis(juris, purpose, expected):
    assert verdict(state(juris), purpose, "behavioral") == expected


def test_subject_without_jurisdiction_gets_the_asked_or_policy_default():
    empty = ConsentState()
    v = evaluate(empty, POLICY, "marketing", None, ["behavioral"], NOW, jurisdiction="EU")
    assert (v.jurisdiction, v.verdicts[0].allowed) == ("EU", False)
    v = evaluate(empty, POLICY, "marketing", None, ["behavioral"], NOW)
    assert (v.jurisdiction, v.verdicts[0].allowed) == ("DEFAULT", True)


@pytest.mark.parametrize("category", ["location_precise", "cross_site", "offline_identity",
                                      "health", "financial"])
@pytest.mark.parametrize("juris", ["EU", "US-CA", "DEFAULT"])
def test_sensitive_and_special_need_an_explicit_category_grant(category, juris):
    assert verdict(state(juris), "personalization", category) == (
        False, "requires_explicit_consent")
    purpose_grant = state(juris, {("personalization", None, None): ("granted", T)})
    assert verdict(purpose_grant, "personalization", category) == (
        False, "requires_explicit_consent")
    explicit = state(juris, {("personalization", category, None): ("granted", T)})
    assert verdict(explicit, "personalization", category) == (True, "explicit_grant")


def test_purpose_grant_allows_standard_categories_under_opt_in():
    st = state("EU", {("marketing", None, None): ("granted", T)})
    assert verdict(st, "marketing", "behavioral") == (True, "explicit_grant")


def test_expired_grants_count_as_absent():
    data = __import__("tomllib").loads(POLICY.to_toml())
    data["consent_max_age_days"] = 30
    policy = parse_policy(data)
    old = NOW - timedelta(days=31)
    st = state("EU", {("marketing", None, None): ("granted", old),
                      ("personalization", "health", None): ("granted", old),
                      ("personalization", "behavioral", None): ("granted", old)})
    assert verdict(st, "marketing", "behavioral", policy=policy) == (False, "consent_expired")
    assert verdict(st, "personalization", "health", policy=policy) == (False, "consent_expired")
    # under an opt-out basis the default still allows a standard category
    assert verdict(st, "personalization", "behavioral", policy=policy) == (
        True, "default_opt_out_basis")
    fresh = state("EU", {("marketing", None, None): ("granted", NOW - timedelta(days=29))})
    assert verdict(fresh, "marketing", "behavioral", policy=policy) == (True, "explicit_grant")


def test_every_reason_code_is_reachable_by_this_table():
    """Guards the closed set: a new code needs a rule above, and API.md's codes all exist."""
    assert set(REASONS) == {
        "explicit_grant", "explicit_denial", "withdrawn", "default_opt_out_basis",
        "requires_explicit_consent", "personalization_off", "sale_sharing_opt_out", "gpc",
        "purpose_denied", "consent_expired", "unknown_category"}
