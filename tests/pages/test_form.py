"""The preference form, pure: what it draws from a state and what a submission records.

A property test over random states: whatever was chosen, by any route, a child box is
never drawn allowed under a purpose drawn off, every drawn box agrees with the gate, and
unticking a drawn purpose leaves nothing of it allowed on any channel."""

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from consent.gate import evaluate, evaluate_purpose
from consent.ledger import ChoiceInput
from consent.state import Choice, ConsentState
from consentry.policy import load_policy
from pages import form

POLICY = load_policy()
NOW = datetime(2026, 12, 7, 12, tzinfo=UTC)
PURPOSES = sorted(POLICY.purposes)
CATEGORIES = [None, *sorted(POLICY.categories)]
CHANNELS = [None, *sorted(POLICY.channels)]

choices = st.dictionaries(
    st.tuples(st.sampled_from(PURPOSES), st.sampled_from(CATEGORIES), st.sampled_from(CHANNELS)),
    st.builds(Choice, st.sampled_from(["granted", "denied", "withdrawn"]),
              st.integers(0, 1000).map(lambda m: NOW - timedelta(minutes=m))),
    max_size=12)
states = st.builds(ConsentState, st.sampled_from(["EU", "US-CA", "DEFAULT"]), choices,
                   st.dictionaries(st.sampled_from(["personalization_off"]),
                                   st.just(NOW - timedelta(days=1)), max_size=1))


def drawn(state):
    return form.purpose_controls(state, POLICY, "en", NOW, state.jurisdiction)


@settings(max_examples=150, deadline=None)
@given(states)
def test_a_child_is_never_allowed_under_a_purpose_shown_off(state):
    for group in drawn(state):
        children = [*group.standard, *group.permission, *group.channels]
        if not group.control.checked:
            assert not any(c.checked for c in children), group.id
        for control in group.standard + group.permission:  # as the gate answers
            category = control.name.rsplit(":", 1)[1]
            assert control.checked == (category in evaluate(
                state, POLICY, group.id, None, [category], NOW).allowed)
        for control in group.channels:
            channel = control.name.rsplit(":", 1)[1]
            assert control.checked == (
                evaluate_purpose(state, POLICY, group.id, channel, NOW).allowed
                or bool(evaluate(state, POLICY, group.id, channel,
                                 form.offered(POLICY, group.id), NOW).allowed))


@settings(max_examples=150, deadline=None)
@given(states, st.sampled_from(PURPOSES))
def test_unticking_a_purpose_shown_on_withdraws_it_on_every_channel(state, purpose):
    groups = drawn(state)
    shown = form.shown_value(form.all_controls([], groups))
    if f"purpose:{purpose}" not in shown.split():
        return
    submitted = {name: "1" for name in shown.split() if name != f"purpose:{purpose}"}
    picked, switches = form.changes(POLICY, submitted, shown)
    assert picked == [ChoiceInput(purpose, "denied")] and switches == {}
    later = NOW + timedelta(seconds=1)
    after = ConsentState(state.jurisdiction, {**state.choices, (purpose, None, None): Choice(
        "denied", later)}, state.switches)
    for channel in CHANNELS:
        assert evaluate(after, POLICY, purpose, channel, None, later).allowed == []


def test_categories_not_for_a_purpose_are_never_drawn_nor_read():
    groups = {g.id: g for g in drawn(ConsentState("EU"))}
    names = {c.name for c in groups["advertising"].standard + groups["advertising"].permission}
    assert "category:advertising:health" not in names
    assert "category:advertising:financial" not in names
    assert form.changes(POLICY, {"category:advertising:health": "1"}, "") == ([], {})


def test_channel_rows_per_channel_purposes_and_where_the_state_differs():
    groups = {g.id: g for g in drawn(ConsentState("EU"))}
    assert [c.name for c in groups["marketing"].channels] == [
        f"channel:marketing:{c}" for c in POLICY.channels]
    assert groups["personalization"].channels == []
    differs = ConsentState("EU", {("personalization", "behavioral", "app"): Choice(
        "denied", NOW)})
    rows = {g.id: g for g in drawn(differs)}["personalization"].channels
    assert [(c.name, c.checked) for c in rows] == [("channel:personalization:app", True)]
    # the channel row records a choice for that purpose and channel
    assert form.changes(POLICY, {}, "channel:personalization:app") == (
        [ChoiceInput("personalization", "denied", channel="app")], {})


def test_object_only_for_a_purpose_on_legitimate_interest():
    assert form.bulk_choices(POLICY, {"object:personalization": "1"}, "EU") == [
        ChoiceInput("personalization", "denied")]
    assert form.bulk_choices(POLICY, {"object:marketing": "1"}, "EU") is None
    assert form.bulk_choices(POLICY, {"object:marketing": "1"}, "US-CA") == [
        ChoiceInput("marketing", "denied")]
    groups = {g.id: g for g in drawn(ConsentState("EU"))}
    assert (groups["marketing"].basis, groups["personalization"].basis) == ("opt_in", "opt_out")
    assert groups["marketing"].basis_text == "We ask for your consent."
