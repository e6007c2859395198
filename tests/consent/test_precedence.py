"""The precedence table (README), rule by rule, on the one evaluation function."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consent.gate import REASONS, evaluate
from consent.state import Choice, ConsentState, Event, fold
from consentry.policy import load_policy, parse_policy
from tests.consent.precedence_model import Said, expected

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
        "purpose_denied", "consent_expired", "unknown_category", "not_permitted_for_purpose"}
    api = __import__("pathlib").Path(__file__).parents[2].joinpath("docs", "API.md").read_text()
    closed = api.split("Reason codes (closed set", 1)[1].split("\n\n", 1)[0]
    assert set(__import__("re").findall(r"`([a-z_]+)`", closed)) == set(REASONS)


EARLY, LATE = T - timedelta(hours=1), T


def test_a_purpose_denial_after_a_channel_grant_withdraws_it_on_that_channel():
    """Issue 23: unticking "Marketing" must stop the email an API grant allowed."""
    st = state(choices={("marketing", None, "email"): ("granted", EARLY),
                        ("marketing", "declared", "email"): ("granted", EARLY),
                        ("marketing", None, None): ("denied", LATE)})
    assert verdict(st, "marketing", "declared", "email") == (False, "purpose_denied")
    assert verdict(st, "marketing", "behavioral", "email") == (False, "purpose_denied")
    st = state(choices={("marketing", None, "email"): ("granted", EARLY),
                        ("marketing", None, None): ("withdrawn", LATE)})
    assert verdict(st, "marketing", "behavioral", "email") == (False, "withdrawn")
    v = evaluate(st, POLICY, "marketing", "email", ["behavioral"], NOW).verdicts[0]
    assert v.since == LATE  # the choice that decided


def test_a_category_denial_after_a_channel_grant_overrides_it():
    st = state(choices={("marketing", "declared", "email"): ("granted", EARLY),
                        ("marketing", "declared", None): ("denied", LATE)})
    assert verdict(st, "marketing", "declared", "email") == (False, "explicit_denial")
    st = state(choices={("personalization", "health", "web"): ("granted", EARLY),
                        ("personalization", "health", None): ("withdrawn", LATE)})
    assert verdict(st, "personalization", "health", "web") == (False, "withdrawn")


def test_a_narrower_grant_after_a_broader_denial_is_an_exception_to_it():
    st = state(choices={("marketing", None, None): ("denied", EARLY),
                        ("marketing", None, "email"): ("granted", LATE)})
    assert verdict(st, "marketing", "behavioral", "email") == (True, "explicit_grant")
    assert verdict(st, "marketing", "behavioral", "sms") == (False, "purpose_denied")
    st = state(choices={("marketing", "declared", None): ("denied", EARLY),
                        ("marketing", "declared", "email"): ("granted", LATE)})
    assert verdict(st, "marketing", "declared", "email") == (True, "explicit_grant")
    assert verdict(st, "marketing", "declared", "sms") == (False, "explicit_denial")


def test_a_broader_grant_never_widens_a_narrower_denial():
    st = state(choices={("marketing", None, "sms"): ("denied", EARLY),
                        ("marketing", None, None): ("granted", LATE)})
    assert verdict(st, "marketing", "behavioral", "sms") == (False, "purpose_denied")
    assert verdict(st, "marketing", "behavioral", "email") == (True, "explicit_grant")
    st = state(choices={("marketing", "declared", "sms"): ("withdrawn", EARLY),
                        ("marketing", "declared", None): ("granted", LATE)})
    assert verdict(st, "marketing", "declared", "sms") == (False, "withdrawn")
    assert verdict(st, "marketing", "declared", "email") == (True, "explicit_grant")
    # nor does a purpose grant widen a category denial
    st = state(choices={("marketing", "declared", None): ("denied", EARLY),
                        ("marketing", None, None): ("granted", LATE)})
    assert verdict(st, "marketing", "declared", "email") == (False, "explicit_denial")


def test_between_two_denials_or_two_grants_the_newer_decides():
    st = state(choices={("marketing", None, "sms"): ("denied", EARLY),
                        ("marketing", None, None): ("withdrawn", LATE)})
    assert verdict(st, "marketing", "behavioral", "sms") == (False, "withdrawn")
    fresh = evaluate(state(choices={("marketing", None, "email"): ("granted", EARLY),
                                    ("marketing", None, None): ("granted", LATE)}),
                     POLICY, "marketing", "email", ["behavioral"], NOW).verdicts[0]
    assert (fresh.allowed, fresh.since) == (True, LATE)


def test_the_purpose_toggle_follows_the_same_rule():
    from consent.gate import evaluate_purpose
    st = state(choices={("marketing", None, "email"): ("granted", EARLY),
                        ("marketing", None, None): ("denied", LATE)})
    v = evaluate_purpose(st, POLICY, "marketing", "email", NOW)
    assert (v.allowed, v.reason) == (False, "purpose_denied")
    st = state(choices={("marketing", None, "email"): ("denied", EARLY),
                        ("marketing", None, None): ("granted", LATE)})
    v = evaluate_purpose(st, POLICY, "marketing", "email", NOW)
    assert (v.allowed, v.reason) == (False, "purpose_denied")


@pytest.mark.parametrize("juris", ["EU", "US-CA", "DEFAULT"])
@pytest.mark.parametrize("category", ["health", "financial"])
def test_a_category_not_for_a_purpose_is_denied_whatever_was_granted(juris, category):
    st = state(juris, {("advertising", category, None): ("granted", T),
                       ("advertising", category, "web"): ("granted", T),
                       ("advertising", None, None): ("granted", T)})
    assert verdict(st, "advertising", category, "web") == (False, "not_permitted_for_purpose")
    assert verdict(st, "advertising", category) == (False, "not_permitted_for_purpose")
    # under a switch or a purpose denial the reason still says the policy forbids it
    switched = state(juris, {("advertising", category, None): ("granted", T)},
                     ["sale_sharing_opt_out"])
    assert verdict(switched, "advertising", category) == (False, "not_permitted_for_purpose")
    denied = state(juris, {("advertising", None, None): ("denied", T)})
    assert verdict(denied, "advertising", category) == (False, "not_permitted_for_purpose")
    assert verdict(denied, "advertising", "behavioral") == (False, "purpose_denied")
    # other purposes keep their own answer
    own = state(juris, {("personalization", category, None): ("granted", T)})
    assert verdict(own, "personalization", category) == (True, "explicit_grant")


# The rule against an independent model (tests/consent/precedence_model.py): random
# choices, a few moments so that ties happen, folded as the ledger folds them.
_said = st.builds(
    Said, st.sampled_from(["marketing", "advertising", "personalization"]),
    st.sampled_from([None, "declared", "behavioral", "health"]),
    st.sampled_from([None, "email", "sms"]),
    st.sampled_from(["granted", "denied", "withdrawn"]),
    st.sampled_from([T - timedelta(hours=h) for h in range(4)]))


@settings(max_examples=400, deadline=None)
@given(said=st.lists(_said, max_size=10), juris=st.sampled_from(["EU", "US-CA"]))
def test_evaluate_over_the_fold_agrees_with_the_model(said, juris):
    said = sorted(said, key=lambda s: s.at)  # the ledger's order: occurred_at, then id
    folded = fold([Event("choice", s.at, juris, s.purpose, s.category, s.channel, s.status)
                   for s in said])
    for purpose in ("marketing", "advertising", "personalization"):
        for channel in (None, "email", "sms"):
            answer = evaluate(folded, POLICY, purpose, channel,
                              ["declared", "behavioral", "health", "financial"], NOW, juris)
            for v in answer.verdicts:
                assert (v.allowed, v.reason, v.since) == expected(
                    said, POLICY, juris, purpose, v.category, channel), (purpose, channel)
