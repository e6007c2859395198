"""The signal gate over HTTP: single, batch, tokens, the change feed and the engine client."""

import random
import threading
import time
import uuid

import pytest
from consentry_client import GateClient
from consentry_client import gate as gate_module
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event, func, select, update

from consent.models import ConsentEvent, SubjectChange, SubjectState
from consent.token import TokenExpired, verify_token
from consentry.db import get_db
from consentry.policy import load_policy
from consentry.signing import SignatureError

POLICY = load_policy()
STANDARD = {c for c, v in POLICY.categories.items() if v.sensitivity == "standard"}


@pytest.fixture
def engine_key(make_key):
    return make_key("signals:read", name="engine")


def ask(client, key, subject, purpose="personalization", channel="web", **query):
    params = {"purpose": purpose, **({"channel": channel} if channel else {}), **query}
    r = client.get(f"/v1/subjects/{subject}/allowed-signals", query_string=params, headers=key)
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def reason_of(body, category):
    if category in body["allowed"]:
        return "allowed"
    return next(d["reason"] for d in body["denied"] if d["category"] == category)


def test_unknown_subject_gets_jurisdiction_defaults(client, engine_key):
    body = ask(client, engine_key, "never-seen", purpose="marketing", channel="email",
               jurisdiction="EU")
    assert body["allowed"] == [] and body["jurisdiction"] == "EU"
    body = ask(client, engine_key, "never-seen", purpose="marketing", channel="email")
    assert set(body["allowed"]) == STANDARD and body["jurisdiction"] == "DEFAULT"
    assert reason_of(body, "health") == "requires_explicit_consent"
    assert body["max_age"] == 300 and body["policy_version"] == POLICY.version


def test_unknown_purpose_channel_jurisdiction_are_422(client, engine_key):
    for query, field in [({"purpose": "mind"}, "purpose"),
                         ({"purpose": "marketing", "channel": "fax"}, "channel"),
                         ({"purpose": "marketing", "jurisdiction": "XX"}, "jurisdiction"),
                         ({}, "purpose")]:
        r = client.get("/v1/subjects/u-1/allowed-signals", query_string=query,
                       headers=engine_key)
        assert r.status_code == 422 and field in r.get_json()["error"]["fields"], query


def test_unknown_category_is_never_allowed(client, engine_key, put_consents):
    put_consents("u-1", [{"purpose": "personalization", "status": "granted"}])
    body = ask(client, engine_key, "u-1", categories="behavioral,telepathy")
    assert body["allowed"] == ["behavioral"]
    assert body["denied"] == [{"category": "telepathy", "reason": "unknown_category"}]


# Each scenario: the writes that set it up, the question, the category, the reason.
SCENARIOS = [
    ("explicit_grant", [{"purpose": "personalization", "category": "health",
                         "status": "granted"}], None, "personalization", "health"),
    ("explicit_denial", [{"purpose": "personalization", "category": "behavioral",
                          "status": "denied"}], None, "personalization", "behavioral"),
    ("withdrawn", [{"purpose": "personalization", "category": "behavioral",
                    "status": "withdrawn"}], None, "personalization", "behavioral"),
    ("default_opt_out_basis", [], None, "personalization", "behavioral"),
    ("requires_explicit_consent", [], None, "personalization", "location_precise"),
    ("personalization_off", [{"purpose": "personalization", "status": "granted"}],
     "personalization", "personalization", "behavioral"),
    ("sale_sharing_opt_out", [{"purpose": "advertising", "status": "granted"}],
     "sale_sharing", "advertising", "behavioral"),
    ("gpc", [{"purpose": "advertising", "status": "granted"}], "gpc", "advertising",
     "behavioral"),
    ("purpose_denied", [{"purpose": "personalization", "status": "denied"},
                        {"purpose": "personalization", "category": "behavioral",
                         "status": "granted"}], None, "personalization", "behavioral"),
    ("consent_expired", [{"purpose": "personalization", "category": "health",
                          "status": "granted"}], "age", "personalization", "health"),
    ("unknown_category", [], None, "personalization", "telepathy"),
]


@pytest.mark.parametrize("jurisdiction", ["EU", "US-CA", "DEFAULT"])
@pytest.mark.parametrize("reason, choices, extra, purpose, category", SCENARIOS,
                         ids=[s[0] for s in SCENARIOS])
def test_every_reason_code_in_every_jurisdiction(make_app, make_key, tmp_path, jurisdiction,
                                                 reason, choices, extra, purpose, category):
    overrides = {}
    if extra == "age":
        data = __import__("tomllib").loads(POLICY.to_toml())
        data["consent_max_age_days"] = 30
        path = tmp_path / "policy.toml"
        path.write_text(__import__("tomli_w").dumps(data))
        overrides["POLICY_FILE"] = str(path)
    app = make_app(**overrides)
    client = app.test_client()
    key = make_key("admin")
    subject = f"s-{uuid.uuid4().hex[:8]}"
    headers = {**key, **({"Sec-GPC": "1"} if extra == "gpc" else {})}
    body = {"source": "test", "jurisdiction": jurisdiction,
            "choices": choices or [{"purpose": "analytics", "status": "granted"}]}
    assert client.put(f"/v1/subjects/{subject}/consents", json=body,
                      headers=headers).status_code == 200
    if extra in ("personalization", "sale_sharing"):
        client.post(f"/v1/subjects/{subject}/opt-out", json={"scope": extra}, headers=key)
    if extra == "age":  # age the grant past consent_max_age_days, in events and state alike
        _backdate(app, subject, days=31)
    answer = ask(client, key, subject, purpose=purpose, channel="web",
                 categories=category)
    expected = "allowed" if reason in ("explicit_grant", "default_opt_out_basis") else reason
    assert reason_of(answer, category) == expected


def _backdate(app, subject, days):
    from datetime import timedelta

    from consent.ledger import replay_state

    with app.app_context(), get_db(app).transaction() as s:
        for row in s.scalars(select(ConsentEvent).where(ConsentEvent.subject_id == subject)):
            row.received_at = row.received_at - timedelta(days=days)
        s.flush()
        state = replay_state(s, subject)
        s.execute(update(SubjectState).where(SubjectState.subject_id == subject)
                  .values(state=state.to_json()))


def test_token_verifies_offline_and_expires(client, engine_key, put_consents):
    put_consents("u-1", [{"purpose": "personalization", "category": "health",
                          "status": "granted"}])
    body = ask(client, engine_key, "u-1")
    jwks = client.get("/.well-known/consentry-keys").get_json()
    claims = verify_token(body["token"], jwks)
    assert claims["sub"] == "u-1" and claims["purpose"] == "personalization"
    assert claims["channel"] == "web" and claims["allowed"] == body["allowed"]
    assert claims["policy_version"] == body["policy_version"]
    assert claims["exp"] - claims["iat"] == 300
    with pytest.raises(TokenExpired):
        verify_token(body["token"], jwks, now=claims["exp"])
    head, payload, sig = body["token"].split(".")
    forged = f"{head}.{payload[:-2]}AA.{sig}"
    with pytest.raises(SignatureError):
        verify_token(forged, jwks)


def test_batch_uses_one_query_for_all_subjects(app, client, engine_key, put_consents):
    for i in range(5):
        put_consents(f"b-{i}", [{"purpose": "personalization", "status": "denied"}])
    statements = []

    def count(conn, cursor, statement, *args):
        if "subject_states" in statement:
            statements.append(statement)

    engine = get_db(app).engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        subjects = [f"b-{i}" for i in range(5)] + [f"new-{i}" for i in range(995)]
        r = client.post("/v1/signals/check", headers=engine_key, json={
            "purpose": "personalization", "channel": "web", "subjects": subjects,
            "categories": ["behavioral", "health"]})
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert r.status_code == 200, r.get_json()
    assert len(statements) == 1
    results = r.get_json()["results"]
    assert len(results) == 1000
    assert results["b-0"]["denied"][0] == {"category": "behavioral", "reason": "purpose_denied"}
    assert results["new-1"]["allowed"] == ["behavioral"]
    too_many = client.post("/v1/signals/check", headers=engine_key, json={
        "purpose": "personalization", "subjects": [f"x{i}" for i in range(1001)]})
    assert too_many.status_code == 422
    bad = client.post("/v1/signals/check", headers=engine_key, json={
        "purpose": "personalization", "subjects": ["ok", "not ok!"]})
    assert bad.status_code == 422
    assert bad.get_json()["error"]["fields"] == {
        "subjects.1": ["Must be 1-128 characters of A-Z a-z 0-9 . _ : @ -"]}


def test_batch_refuses_unknown_and_surplus_categories_naming_them(client, engine_key):
    def check(categories):
        return client.post("/v1/signals/check", headers=engine_key, json={
            "purpose": "personalization", "subjects": [f"s-{i}" for i in range(1000)],
            "categories": categories})

    # a 16 kB request once came back as 48 MB of "unknown_category" denials
    r = check(["telepathy"] * 2000)
    assert r.status_code == 422 and len(r.get_data()) < 2000
    assert r.get_json()["error"]["fields"]["categories"] == [
        f"At most {len(POLICY.categories)} categories (the policy has "
        f"{len(POLICY.categories)})."]
    r = check(["behavioral", "telepathy", "health", "x" * 64])
    assert r.status_code == 422
    assert r.get_json()["error"]["fields"] == {
        "categories.1": ["Unknown category 'telepathy'."],
        "categories.3": [f"Unknown category {'x' * 64!r}."]}
    assert check(["x" * 65]).status_code == 422
    assert check(sorted(POLICY.categories)).status_code == 200


@pytest.mark.parametrize("categories", [None, sorted(POLICY.categories)])
def test_a_full_batch_answer_for_every_category_stays_under_2_mb(client, engine_key,
                                                                  categories):
    subjects = [f"{i:04d}-" + "s" * 123 for i in range(1000)]  # the longest ids there are
    body = {"purpose": "advertising", "channel": "web", "subjects": subjects}
    if categories:
        body["categories"] = categories
    r = client.post("/v1/signals/check", headers=engine_key, json=body)
    assert r.status_code == 200
    results = r.get_json()["results"]
    assert len(results) == 1000
    assert all(len(a["allowed"]) + len(a["denied"]) == len(POLICY.categories)
               for a in results.values())
    assert len(r.get_data()) < 2 * 1024 * 1024


@pytest.fixture
def served_app(live_server):
    return live_server


choice = st.fixed_dictionaries({
    "purpose": st.sampled_from(sorted(POLICY.purposes)),
    "status": st.sampled_from(["granted", "denied", "withdrawn"])},
    optional={"category": st.sampled_from(sorted(POLICY.categories)),
              "channel": st.sampled_from(["web", "email"])})


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(states=st.lists(st.tuples(st.lists(choice, min_size=1, max_size=5),
                                 st.sampled_from(["EU", "US-CA", "DEFAULT"]), st.booleans()),
                       min_size=1, max_size=4),
       purpose=st.sampled_from(sorted(POLICY.purposes)),
       channel=st.sampled_from([None, "web", "email"]))
def test_single_batch_token_and_client_agree(client, make_key, served_app, states, purpose,
                                             channel):
    key = make_key("admin")
    subjects = []
    for choices, jurisdiction, gpc in states:
        subject = f"p-{uuid.uuid4().hex[:10]}"
        subjects.append(subject)
        r = client.put(f"/v1/subjects/{subject}/consents",
                       json={"source": "t", "jurisdiction": jurisdiction, "choices": choices},
                       headers={**key, **({"Sec-GPC": "1"} if gpc else {})})
        assert r.status_code == 200
    subjects.append("p-unknown")
    batch = client.post("/v1/signals/check", headers=key, json={
        "purpose": purpose, "channel": channel, "subjects": subjects}).get_json()["results"]
    jwks = client.get("/.well-known/consentry-keys").get_json()
    gate = GateClient(served_app, key["Authorization"][7:])
    for subject in subjects:
        single = ask(client, key, subject, purpose=purpose, channel=channel)
        assert batch[subject]["allowed"] == single["allowed"]
        assert batch[subject]["denied"] == single["denied"]
        assert verify_token(single["token"], jwks)["allowed"] == single["allowed"]
        answer = gate.allowed_signals(subject, purpose, channel)
        assert not answer.degraded
        assert list(answer.allowed) == single["allowed"]
        assert [{"category": c, "reason": r} for c, r in answer.denied] == single["denied"]


def test_client_cache_follows_the_change_feed(served_app, make_key, put_consents):
    key = make_key("signals:read")
    gate = GateClient(served_app, key["Authorization"][7:], sync_interval=3600)
    gate.sync()
    put_consents("c-1", [{"purpose": "personalization", "status": "granted"}])
    assert "behavioral" in gate.allowed_signals("c-1", "personalization", "web").allowed
    assert gate.cached("c-1", "personalization", "web") is not None
    put_consents("c-1", [{"purpose": "personalization", "status": "denied"}])
    assert gate.sync() == 2  # both writes since the head it started from
    assert gate.cached("c-1", "personalization", "web") is None
    assert gate.allowed_signals("c-1", "personalization", "web").allowed == ()


def test_client_fails_closed_when_the_service_is_unreachable():
    gate = GateClient("http://127.0.0.1:9", "csk_x_y", timeout=0.5)
    for jurisdiction in ("EU", "US-CA", None):
        answer = gate.allowed_signals("u-1", "personalization", "web", jurisdiction)
        assert answer.degraded and "unreachable" in answer.reason
        assert answer.allowed == ()  # never the jurisdiction's defaults
    assert gate.allowed_signals("u-1", "marketing", "email", "EU").allowed == ()


def test_client_keeps_a_cached_answer_through_an_outage_until_its_max_age(
        served_app, make_key, put_consents, monkeypatch):
    key = make_key("signals:read")

    gate = GateClient(served_app, key["Authorization"][7:], sync_interval=0)
    put_consents("gpc-1", [{"purpose": "personalization", "category": "behavioral",
                            "status": "denied"}])
    fresh = gate.allowed_signals("gpc-1", "personalization", "web")
    assert "behavioral" not in fresh.allowed and fresh.allowed and not fresh.degraded
    gate.base_url = "http://127.0.0.1:9"  # the service goes away; the sync fails too
    during = gate.allowed_signals("gpc-1", "personalization", "web")
    assert during.degraded and during.allowed == fresh.allowed  # the denial still holds
    later = time.monotonic() + 301  # past the max_age the service gave (300 s)
    monkeypatch.setattr(gate_module.time, "monotonic", lambda: later)
    expired = gate.allowed_signals("gpc-1", "personalization", "web")
    assert expired.degraded and expired.allowed == ()


def test_change_feed_cursor_and_head(client, engine_key, put_consents):
    first = client.get("/v1/changes", headers=engine_key).get_json()
    assert first == {"changes": [], "next": first["next"]} and first["next"]
    put_consents("f-1", [{"purpose": "analytics", "status": "denied"}])
    put_consents("f-2", [{"purpose": "analytics", "status": "denied"}])
    page = client.get(f"/v1/changes?after={first['next']}&limit=1", headers=engine_key).get_json()
    assert [c["subject_id"] for c in page["changes"]] == ["f-1"]
    page = client.get(f"/v1/changes?after={page['next']}", headers=engine_key).get_json()
    assert [c["subject_id"] for c in page["changes"]] == ["f-2"]
    empty = client.get(f"/v1/changes?after={page['next']}", headers=engine_key).get_json()
    assert empty == {"changes": [], "next": page["next"]}
    head = client.get("/v1/changes?after=head", headers=engine_key).get_json()
    assert head["next"] == page["next"]
    assert client.get("/v1/changes?after=garbage", headers=engine_key).status_code == 422


def test_change_feed_delivers_every_change_exactly_once_under_concurrent_writers(
        app, make_key, session):
    writer = make_key("admin")
    done = threading.Event()
    seen: list[int] = []
    errors = []

    def follow():
        client = app.test_client()
        cursor = None
        while True:
            finished = done.is_set()
            url = "/v1/changes?limit=7" + (f"&after={cursor}" if cursor else "")
            page = client.get(url, headers=writer).get_json()
            seen.extend(c["seq"] for c in page["changes"])
            cursor = page["next"]
            if finished and not page["changes"]:
                return

    def write(n):
        client = app.test_client()
        rng = random.Random(n)
        for i in range(12):
            r = client.put(f"/v1/subjects/w{n}-{i % 4}/consents", headers=writer, json={
                "source": "t", "choices": [{"purpose": "analytics",
                                            "status": rng.choice(["granted", "denied"])}]})
            if r.status_code != 200:
                errors.append(r.get_json())

    reader = threading.Thread(target=follow)
    reader.start()
    writers = [threading.Thread(target=write, args=(n,)) for n in range(6)]
    for t in writers:
        t.start()
    for t in writers:
        t.join()
    done.set()
    reader.join()
    assert errors == []
    session.rollback()
    stored = session.scalars(select(SubjectChange.seq).order_by(SubjectChange.seq)).all()
    assert len(seen) == len(set(seen)), "a change was delivered twice"
    assert seen == stored, "a change was skipped or delivered out of order"
    assert session.scalar(select(func.count()).select_from(SubjectChange)) >= 24


def test_client_cache_entries_expire_after_max_age(served_app, make_key, put_consents,
                                                   monkeypatch):
    key = make_key("signals:read")
    gate = GateClient(served_app, key["Authorization"][7:], sync_interval=3600)
    put_consents("m-1", [{"purpose": "personalization", "status": "granted"}])
    gate.allowed_signals("m-1", "personalization", "web")
    assert gate.cached("m-1", "personalization", "web") is not None
    later = gate_module.time.monotonic() + 301  # the shipped policy's max_age is 300 s
    monkeypatch.setattr(gate_module.time, "monotonic", lambda: later)
    assert gate.cached("m-1", "personalization", "web") is None


def test_change_feed_rows_expire_and_are_erased(app, client, engine_key, put_consents):
    from datetime import timedelta

    from consentry.clock import utcnow
    from consentry.stores import Held

    put_consents("old-1", [{"purpose": "analytics", "status": "denied"}])
    put_consents("new-1", [{"purpose": "analytics", "status": "denied"}])
    put_consents("gone-1", [{"purpose": "analytics", "status": "denied"}])
    with app.app_context(), get_db(app).transaction() as s:
        s.execute(update(SubjectChange).where(SubjectChange.subject_id == "old-1")
                  .values(changed_at=utcnow() - timedelta(days=31)))
    store = app.extensions["consentry.stores"]["change_feed"]
    with app.app_context(), get_db(app).transaction() as s:
        assert store.purge(s, {}, Held(), 100, False).deleted == 1
        assert store.erase(s, "gone-1", Held()).deleted == 1
    feed = client.get("/v1/changes", headers=engine_key).get_json()
    assert [c["subject_id"] for c in feed["changes"]] == ["new-1"]


@pytest.mark.parametrize("query", [
    "categories=behavioral&categories=health&categories=telepathy",
    "categories=behavioral,health&categories=telepathy",
    "categories=behavioral,,health,telepathy"])
def test_categories_repeated_or_comma_separated_all_count(client, engine_key, query):
    r = client.get("/v1/subjects/u-r/allowed-signals?purpose=personalization&" + query,
                   headers=engine_key)
    body = r.get_json()
    assert body["allowed"] == ["behavioral"]
    assert body["denied"] == [{"category": "health", "reason": "requires_explicit_consent"},
                              {"category": "telepathy", "reason": "unknown_category"}]
