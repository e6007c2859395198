"""TCF and GPP strings made by the IAB Tech Lab's libraries, posted as a CMP would, change
the gate's answers as the policy's [tcf] and [gpp] tables say."""

from datetime import UTC, datetime, timedelta

import orjson
import pytest
from sqlalchemy import func, select

from consent.models import ConsentEvent, Receipt
from consentry.clock import rfc3339
from consentry.policy import load_policy
from tests.consent.iab.strings import gpp, tc

POLICY = load_policy()
STANDARD = sorted(c for c, v in POLICY.categories.items() if v.sensitivity == "standard")


@pytest.fixture
def engine_key(make_key):
    return make_key("signals:read", name="engine")


@pytest.fixture
def gate(client, engine_key):
    """The gate's answer for one category: "allowed" or the denial's reason."""

    def answer(subject, purpose, category):
        r = client.get(f"/v1/subjects/{subject}/allowed-signals", headers=engine_key,
                       query_string={"purpose": purpose, "channel": "web",
                                     "categories": category})
        assert r.status_code == 200, r.get_json()
        body = r.get_json()
        if category in body["allowed"]:
            return "allowed"
        return next(d["reason"] for d in body["denied"] if d["category"] == category)

    return answer


@pytest.fixture
def post_strings(put_consents):
    def post(subject, *, tc_string=None, gpp_string=None, choices=(), status=200, **body):
        if tc_string is not None:
            body["tcf"] = {"tc_string": tc_string}
        if gpp_string is not None:
            body["gpp"] = {"gpp_string": gpp_string}
        r = put_consents(subject, list(choices), **body)
        assert r.status_code == status, r.get_json()
        return r

    return post


def _count(session, model, subject):
    session.rollback()
    return session.scalar(select(func.count()).select_from(model)
                          .where(model.subject_id == subject))


def test_all_purposes_grants_each_mapped_purpose_and_precise_location(post_strings, gate):
    post_strings("eu-1", tc_string=tc("all_purposes"), jurisdiction="EU")
    for purpose in ("advertising", "personalization", "analytics"):
        assert gate("eu-1", purpose, "behavioral") == "allowed"
        assert gate("eu-1", purpose, "location_precise") == "allowed"
        assert gate("eu-1", purpose, "health") == (
            "not_permitted_for_purpose" if purpose == "advertising"  # the policy's not_for
            else "requires_explicit_consent")
    # marketing is mapped to no TCF purpose: the EU's opt-in basis still rules it
    assert gate("eu-1", "marketing", "behavioral") == "requires_explicit_consent"


def test_no_purposes_denies_what_a_former_string_granted(post_strings, gate):
    post_strings("eu-2", tc_string=tc("all_purposes"), jurisdiction="EU")
    post_strings("eu-2", tc_string=tc("no_purposes"))
    for purpose in ("advertising", "personalization", "analytics"):
        assert gate("eu-2", purpose, "behavioral") == "purpose_denied"
        assert gate("eu-2", purpose, "location_precise") == "purpose_denied"


def test_a_purpose_is_granted_only_when_all_its_tcf_purposes_are(post_strings, gate):
    post_strings("eu-3", tc_string=tc("mix_advertising_analytics"), jurisdiction="EU")
    assert gate("eu-3", "advertising", "behavioral") == "allowed"
    assert gate("eu-3", "analytics", "behavioral") == "allowed"
    assert gate("eu-3", "personalization", "behavioral") == "purpose_denied"
    # no special feature 1: precise location is denied for the purposes granted
    assert gate("eu-3", "advertising", "location_precise") == "explicit_denial"
    # purposes 3, 4, 5 and 6 without purpose 1 (storage) grant nothing
    post_strings("eu-4", tc_string=tc("mix_personalization_no_purpose_1"), jurisdiction="EU")
    for purpose in ("advertising", "personalization", "analytics"):
        assert gate("eu-4", purpose, "behavioral") == "purpose_denied"


def test_special_feature_1_turns_precise_location_on_and_off(post_strings, gate):
    post_strings("eu-5", tc_string=tc("special_feature_1_on"), jurisdiction="EU")
    assert gate("eu-5", "advertising", "location_precise") == "allowed"
    post_strings("eu-5", tc_string=tc("special_feature_1_off"))
    assert gate("eu-5", "advertising", "location_precise") == "explicit_denial"
    assert gate("eu-5", "advertising", "behavioral") == "allowed"


def test_events_carry_the_strings_facts_and_the_receipt_keeps_it(post_strings, client, writer):
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    created = today - timedelta(days=40) + timedelta(hours=10, minutes=11, seconds=12.3)
    updated = today - timedelta(seconds=0.1)
    text = tc("policy_version_4", last_updated=updated, created=created)
    receipt = post_strings("eu-6", tc_string=text, jurisdiction="EU").get_json()["receipt"]
    assert receipt["tcf"]["tc_string"] == text
    assert receipt["tcf"]["policy_version"] == 4 and receipt["tcf"]["cmp_id"] == 300
    assert {c["source"] for c in receipt["choices"]} == {"tcf"}
    again = client.get(f"/v1/subjects/eu-6/receipts/{receipt['receipt_id']}",
                       headers=writer).get_json()
    assert again["tcf"]["tc_string"] == text and again["signature"] == receipt["signature"]
    events = client.get("/v1/subjects/eu-6/consents/history", headers=writer).get_json()
    tcf_events = [e for e in events["events"] if e["source"] == "tcf"]
    # purposes 1, 7, 8, 9 and no special feature: analytics granted, precise location not
    assert sorted((e["purpose"], e["category"] or "", e["status"]) for e in tcf_events) == [
        ("advertising", "", "denied"), ("analytics", "", "granted"),
        ("analytics", "location_precise", "denied"), ("personalization", "", "denied")]
    facts = tcf_events[0]["evidence"]["tcf"]
    assert facts == {"created": rfc3339(created), "last_updated": rfc3339(updated),
                     "cmp_id": 300, "cmp_version": 7, "policy_version": 4,
                     "vendor_list_version": 48}
    # dated by the string's LastUpdated, not by when the service received it
    assert {e["occurred_at"] for e in tcf_events} == {rfc3339(updated)}
    assert all(e["received_at"] > e["occurred_at"] for e in tcf_events)


def _ago(**delta):
    return datetime.now(UTC) - timedelta(**delta)


@pytest.mark.parametrize("text, says", [
    (lambda: tc("all_purposes", last_updated=datetime(1970, 1, 2, tzinfo=UTC)),
     "older than the policy's consent validity (395 days)"),
    (lambda: tc("all_purposes", last_updated=_ago(days=396)), "consent validity"),
    (lambda: tc("all_purposes", last_updated=_ago(minutes=-6)), "lies in the future"),
    (lambda: tc("all_purposes", policy_version=2), "TcfPolicyVersion is 2"),
    (lambda: tc("all_purposes", policy_version=3), "TcfPolicyVersion is 3"),
])
def test_a_stale_tc_string_is_refused_and_nothing_is_recorded(post_strings, session,
                                                              text, says):
    r = post_strings("eu-stale", tc_string=text(), jurisdiction="EU", status=422)
    messages = r.get_json()["error"]["fields"]["tcf.tc_string"]
    assert any(says in m for m in messages), messages
    assert _count(session, ConsentEvent, "eu-stale") == 0
    assert _count(session, Receipt, "eu-stale") == 0


def test_a_string_from_a_minute_ahead_or_a_year_ago_is_accepted(post_strings):
    post_strings("eu-skew", tc_string=tc("all_purposes", last_updated=_ago(minutes=-4)),
                 jurisdiction="EU")
    post_strings("eu-year", tc_string=tc("all_purposes", last_updated=_ago(days=390)),
                 jurisdiction="EU")


def test_a_tc_string_older_than_a_live_choice_folds_into_its_place(
        post_strings, put_consents, client, writer, gate):
    put_consents("eu-late", [{"purpose": "analytics", "status": "denied"}], jurisdiction="EU")
    # the CMP's string says yesterday; the person denied analytics here since then
    post_strings("eu-late", tc_string=tc("all_purposes", last_updated=_ago(days=1)))
    assert gate("eu-late", "analytics", "behavioral") == "purpose_denied"
    assert gate("eu-late", "advertising", "behavioral") == "allowed"
    now = client.get("/v1/subjects/eu-late/consents", headers=writer).get_json()
    replayed = client.get("/v1/subjects/eu-late/consents", headers=writer, query_string={
        "at": rfc3339(datetime.now(UTC))}).get_json()
    assert [(e["purpose"], e["category"], e["allowed"]) for e in now["entries"]] == \
        [(e["purpose"], e["category"], e["allowed"]) for e in replayed["entries"]]


def test_optional_segments_are_decoded_and_named_in_the_receipt(post_strings, gate):
    r = post_strings("eu-7", tc_string=tc("optional_segments"), jurisdiction="EU")
    assert r.get_json()["receipt"]["tcf"]["segments"] == ["disclosed_vendors", "publisher_tc"]
    assert gate("eu-7", "personalization", "behavioral") == "allowed"
    assert gate("eu-7", "analytics", "behavioral") == "purpose_denied"


def test_an_explicit_choice_in_the_same_write_has_the_last_word(post_strings, gate, session):
    r = post_strings("eu-8", tc_string=tc("no_purposes"), jurisdiction="EU",
                     choices=[{"purpose": "analytics", "status": "granted"}])
    assert gate("eu-8", "analytics", "behavioral") == "allowed"
    assert gate("eu-8", "advertising", "behavioral") == "purpose_denied"
    assert _count(session, Receipt, "eu-8") == 1
    shown = r.get_json()["receipt"]["choices"]
    assert [c.get("source") for c in shown] == ["tcf", "tcf", "tcf", None]


def test_gpp_opt_outs_set_the_sale_sharing_switch(post_strings, gate):
    post_strings("ca-1", gpp_string=gpp("usnat_not_opted_out"), jurisdiction="US-CA")
    assert gate("ca-1", "advertising", "behavioral") == "allowed"
    body = post_strings("ca-1", gpp_string=gpp("usnat_opted_out")).get_json()
    assert body["sale_sharing_opt_out"] is True and body["gpc"] is False
    assert gate("ca-1", "advertising", "behavioral") == "sale_sharing_opt_out"
    assert gate("ca-1", "analytics", "behavioral") == "allowed"
    assert [c for c in body["receipt"]["choices"]] == [
        {"switch": "sale_sharing_opt_out", "status": "on", "source": "gpp",
         "event_id": body["receipt"]["choices"][0]["event_id"], "purpose_label": None,
         "dpv": "dpv:OptingOutFromProcess"}]
    # "did not opt out" later does not undo an opt-out: that takes DELETE .../opt-out
    post_strings("ca-1", gpp_string=gpp("usnat_not_opted_out"))
    assert gate("ca-1", "advertising", "behavioral") == "sale_sharing_opt_out"
    post_strings("ca-2", gpp_string=gpp("usnat_targeted_advertising_only"), jurisdiction="US-CA")
    assert gate("ca-2", "advertising", "behavioral") == "sale_sharing_opt_out"
    post_strings("ca-3", gpp_string=gpp("usca_opted_out"), jurisdiction="US-CA")
    assert gate("ca-3", "advertising", "behavioral") == "sale_sharing_opt_out"


@pytest.mark.parametrize("name", ["usnat_gpc", "usca_gpc", "usca_gpc_without_opt_outs"])
def test_the_gpc_subsection_counts_as_gpc(post_strings, gate, name):
    body = post_strings("ca-4", gpp_string=gpp(name), jurisdiction="US-CA").get_json()
    assert body["gpc"] is True and body["sale_sharing_opt_out"] is True
    assert gate("ca-4", "advertising", "behavioral") == "gpc"


def test_a_gpc_subsection_saying_false_is_no_signal(post_strings, gate):
    body = post_strings("ca-5", gpp_string=gpp("usnat_gpc_false"), jurisdiction="US-CA")
    assert body.get_json()["gpc"] is False
    assert gate("ca-5", "advertising", "behavioral") == "allowed"


def test_sensitive_data_fields_map_to_categories(post_strings, gate):
    # usnat v2: health (3, 13) consent, precise geolocation (8) no consent, financial (10)
    post_strings("us-1", gpp_string=gpp("usnat_sensitive_data"), jurisdiction="DEFAULT")
    for purpose in POLICY.gpp.purposes:
        never = purpose == "advertising"  # the policy's not_for: whatever was granted
        for cid in ("health", "financial"):
            assert gate("us-1", purpose, cid) == (
                "not_permitted_for_purpose" if never else "allowed")
        assert gate("us-1", purpose, "location_precise") == "explicit_denial"
    # usnat v1 layout: health no consent, geolocation consent, financial no consent
    post_strings("us-2", gpp_string=gpp("usnat_v1_sensitive_data"), jurisdiction="DEFAULT")
    assert gate("us-2", "analytics", "health") == "explicit_denial"
    assert gate("us-2", "advertising", "location_precise") == "allowed"
    assert gate("us-2", "analytics", "financial") == "explicit_denial"
    # usca: opted out of financial and geolocation; "did not opt out" of health is no consent
    post_strings("ca-6", gpp_string=gpp("usca_opted_out"), jurisdiction="US-CA")
    assert gate("ca-6", "analytics", "financial") == "explicit_denial"
    assert gate("ca-6", "analytics", "location_precise") == "explicit_denial"
    assert gate("ca-6", "analytics", "health") == "requires_explicit_consent"


def test_a_denial_in_one_section_beats_a_consent_in_another(post_strings, gate):
    post_strings("us-3", gpp_string=gpp("usca_and_usnat"), jurisdiction="US-CA")
    assert gate("us-3", "personalization", "health") == "explicit_denial"
    assert gate("us-3", "personalization", "location_precise") == "allowed"


@pytest.mark.parametrize("name, ignored", [
    ("usnat_and_usva", [{"id": 9, "name": "usva"}]),
    ("tcfeuv2_and_usnat", [{"id": 2, "name": "tcfeuv2"}]),
    ("only_usva", [{"id": 9, "name": "usva"}]),
])
def test_other_sections_are_kept_and_listed_as_ignored(post_strings, client, writer, name,
                                                       ignored):
    text = gpp(name)
    body = post_strings("us-4", gpp_string=text, jurisdiction="DEFAULT").get_json()
    assert body["ignored_sections"] == ignored
    assert body["ignored_section_count"] == len(ignored)
    receipt = client.get(f"/v1/subjects/us-4/receipts/{body['receipt']['receipt_id']}",
                         headers=writer).get_json()
    assert receipt["gpp"]["gpp_string"] == text  # every section, as received, once
    assert receipt["gpp"]["sections"] == [n for n in ("usnat",) if n in name]


def _fibonacci(n: int) -> str:
    """n Fibonacci-coded as GPP headers carry it (Zeckendorf, least significant first,
    ended by an extra 1)."""
    fibs = [1, 2]
    while fibs[-1] <= n:
        fibs.append(fibs[-1] + fibs[-2])
    bits = ["0"] * len(fibs)
    for i in range(len(fibs) - 1, -1, -1):
        if fibs[i] <= n:
            bits[i], n = "1", n - fibs[i]
    return "".join(bits).rstrip("0") + "1"


def test_a_string_of_thousands_of_ignored_sections_is_stored_once(post_strings, session):
    # one header range entry: sections 9..3008, none decoded, each a single character
    count = 3000
    bits = (format(3, "06b") + format(1, "06b") + format(1, "012b") + "1"
            + _fibonacci(9) + _fibonacci(count - 1))
    bits += "0" * (-len(bits) % 6)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    header = "".join(alphabet[int(bits[i:i + 6], 2)] for i in range(0, len(bits), 6))
    text = header + "~A" * count
    r = post_strings("us-big", gpp_string=text, jurisdiction="DEFAULT",
                     choices=[{"purpose": "marketing", "status": "granted"}])
    body = r.get_json()
    stored = session.get(Receipt, body["receipt"]["receipt_id"]).body
    assert len(orjson.dumps(stored)) < len(text) + 6_000  # the string, and the rest as ever
    assert len(r.get_data()) < len(text) + 20_000
    assert stored["gpp"] == {"gpp_string": text, "sections": []}
    assert body["ignored_section_count"] == count
    assert len(body["ignored_sections"]) == 32 and body["ignored_sections"][0] == {
        "id": 9, "name": "usva"}


def test_tcf_and_gpp_in_one_write_make_one_receipt(post_strings, gate, session):
    body = post_strings("eu-9", tc_string=tc("mix_advertising_analytics"),
                        gpp_string=gpp("usnat_gpc"), jurisdiction="EU").get_json()
    assert body["receipt"]["tcf"]["tc_string"] == tc("mix_advertising_analytics")
    assert body["receipt"]["gpp"]["gpp_string"] == gpp("usnat_gpc")
    assert _count(session, Receipt, "eu-9") == 1
    assert gate("eu-9", "advertising", "behavioral") == "gpc"
    assert gate("eu-9", "analytics", "behavioral") == "allowed"


@pytest.mark.parametrize("body, fields", [
    ({"tcf": {"tc_string": "not a tc string"}}, {"tcf.tc_string"}),
    ({"tcf": {"tc_string": "BOEFEAyOEFEAyAHABDENAI4AAAB9vABAASA"}}, {"tcf.tc_string"}),
    ({"gpp": {"gpp_string": "DBABLA~CVVV"}}, {"gpp.gpp_string"}),
    ({"tcf": {"tc_string": "CQt-4cAQ"}, "gpp": {"gpp_string": "DBABLA"}},
     {"tcf.tc_string", "gpp.gpp_string"}),
    ({"tcf": {"tc_string": "CQt-4cAQ"}, "gpc": True}, {"tcf.tc_string"}),
])
def test_a_malformed_string_is_422_on_its_field_and_records_nothing(put_consents, session,
                                                                     body, fields):
    r = put_consents("bad-1", [{"purpose": "analytics", "status": "granted"}],
                     jurisdiction="EU", **body)
    assert r.status_code == 422, r.get_json()
    assert set(r.get_json()["error"]["fields"]) == fields
    assert _count(session, ConsentEvent, "bad-1") == 0
    assert _count(session, Receipt, "bad-1") == 0


@pytest.mark.parametrize("body", [
    {"tcf": {}}, {"tcf": {"tc_string": ""}}, {"tcf": {"tc_string": 7}},
    {"tcf": {"tc_string": "x" * 40_000}}, {"gpp": {"gpp_string": None}},
    {"tcf": {"tc_string": tc("no_purposes"), "extra": 1}}, {"gpp": "DBABLA~CVVVAAAAAABA"},
])
def test_a_badly_shaped_signal_is_422(put_consents, body):
    r = put_consents("bad-2", [], **body)
    assert r.status_code == 422, r.get_json()
    assert any(f.startswith(("tcf", "gpp")) for f in r.get_json()["error"]["fields"])


def test_a_retry_with_the_same_idempotency_key_records_once(put_consents, session):
    headers = {"Idempotency-Key": "cmp-retry-1"}
    body = {"tcf": {"tc_string": tc("all_purposes")}, "gpp": {"gpp_string": gpp("usnat_gpc")}}
    first = put_consents("idem-1", [], headers=headers, jurisdiction="EU", **body)
    again = put_consents("idem-1", [], headers=headers, jurisdiction="EU", **body)
    assert first.status_code == again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json()["receipt"] == first.get_json()["receipt"]
    assert _count(session, Receipt, "idem-1") == 1
    other = put_consents("idem-1", [], headers=headers, jurisdiction="EU",
                         tcf={"tc_string": tc("no_purposes")})
    assert other.status_code == 409


def test_the_policy_answer_shows_both_mappings(client, make_key):
    body = client.get("/v1/policy", headers=make_key("policy:read")).get_json()
    assert body["tcf"]["purposes"]["personalization"] == [1, 5, 6]
    assert body["tcf"]["special_features"] == {"1": "location_precise"}
    assert body["gpp"]["usca"]["sensitive_data"]["8"] == "health"
