"""The gate's single lookup answers the same with its fast path (consentry/fastpath.py) as
through the Flask view: the plain requests take the fast path, everything else goes to
the view, and the rate limit counts a request once either way."""

import json

import pytest
from consentry_client.canonical import b64url_decode
from consentry_client.tokens import verify_token
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consent.signals_views import ALLOWED_SIGNALS_RULE
from consentry.metrics import get_metrics
from tests.consent.conftest import answered, as_seen

SUBJECTS = ["fp-granted", "fp-denied", "fp-gpc", "fp-eu", "never-seen"]
PLAIN = [
    "purpose=personalization&channel=web",
    "purpose=personalization",
    "channel=web&purpose=personalization",
    "purpose=marketing&channel=email&jurisdiction=EU",
    "purpose=analytics&jurisdiction=US-CA",
    "purpose=advertising&channel=web",
]
UNUSUAL = [
    "purpose=personalization&categories=behavioral",
    "purpose=personalization&categories=behavioral,health&categories=declared",
    "purpose=personalization&utm_source=x",
    "purpose=personalization&purpose=marketing",
    "purpose=&channel=web",
    "purpose=personalization&channel=",
    "purpose=personal%69zation",
    "purpose=personalization&channel=we%00b",
    "purpose=personalization+",
    "purpose=mind",
    "purpose=marketing&channel=fax",
    "purpose=marketing&jurisdiction=XX",
    "channel=web",
    "",
    "purpose=personalization&",
    "&purpose=personalization",
]


@pytest.fixture
def apps(fast_and_slow):
    return fast_and_slow("fp")


@pytest.fixture
def engine(make_key):
    return make_key("signals:read", name="engine")


def get(app, path, headers):
    return app.test_client().get(path, headers=headers)


def comparable(response) -> tuple:
    """What a client sees, less what differs by the moment or the request: the time of
    evaluation, the token's signature and times, the request id."""
    token = None
    if response.status_code == 200:
        token = json.loads(b64url_decode(response.get_json()["token"].split(".")[1]))
        token = {k: v for k, v in token.items() if k not in ("iat", "exp", "jti")}
    return *as_seen(response, ("evaluated_at", "token")), token


def test_plain_lookups_take_the_fast_path_and_answer_as_the_view(apps, engine):
    fast, slow = apps
    jwks = slow.test_client().get("/.well-known/consentry-keys").get_json()
    for subject in SUBJECTS:
        for query in PLAIN:
            path = f"/v1/subjects/{subject}/allowed-signals?{query}"
            before = answered(fast)
            quick, full = get(fast, path, engine), get(slow, path, engine)
            assert answered(fast) == before + 1, path
            assert comparable(quick) == comparable(full), path
            assert quick.headers["X-Request-Id"]
            payload = verify_token(quick.get_json()["token"], jwks,
                                   issuer=fast.config["PUBLIC_URL"])
            assert payload["sub"] == subject
    gate = get_metrics(fast).requests.labels("GET", ALLOWED_SIGNALS_RULE, "200")
    assert gate._value.get() >= len(SUBJECTS) * len(PLAIN)


def test_a_given_request_id_comes_back(apps, engine):
    fast, _ = apps
    r = get(fast, "/v1/subjects/fp-eu/allowed-signals?purpose=analytics",
            {**engine, "X-Request-Id": "trace-42"})
    assert r.status_code == 200 and r.headers["X-Request-Id"] == "trace-42"


@pytest.mark.parametrize("query", UNUSUAL)
def test_anything_unusual_is_answered_by_the_view(apps, engine, query):
    fast, slow = apps
    path = f"/v1/subjects/fp-granted/allowed-signals?{query}"
    before = answered(fast)
    assert comparable(get(fast, path, engine)) == comparable(get(slow, path, engine))
    assert answered(fast) == before


@pytest.mark.parametrize("path,headers", [
    ("/v1/subjects/fp-granted/allowed-signals?purpose=analytics", {}),
    ("/v1/subjects/fp-granted/allowed-signals?purpose=analytics",
     {"Authorization": "Bearer csk_00000000_nope"}),
    ("/v1/subjects/fp-granted/allowed-signals?purpose=analytics",
     {"Authorization": "Basic abc"}),
    ("/v1/subjects/" + "x" * 300 + "/allowed-signals?purpose=analytics", None),
    ("/v1/subjects/bad%20id/allowed-signals?purpose=analytics", None),
    ("/v1/subjects/caf%C3%A9/allowed-signals?purpose=analytics", None),
    ("/v1/subjects/fp-granted/allowed-signals/?purpose=analytics", None),
])
def test_keys_and_paths_the_view_refuses_are_its_answers(apps, engine, make_key, path,
                                                         headers):
    fast, slow = apps
    headers = engine if headers is None else headers
    before = answered(fast)
    assert comparable(get(fast, path, headers)) == comparable(get(slow, path, headers))
    assert answered(fast) == before
    wrong_scope = make_key("preferences:write")
    assert comparable(get(fast, path, wrong_scope)) == comparable(get(slow, path, wrong_scope))
    assert answered(fast) == before


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(["purpose", "channel", "jurisdiction", "categories", "x",
                                 "personalization", "marketing", "web", "email", "EU",
                                 "behavioral", "=", "&", "%00", "%41", "+", ",", " ", "é"]),
                max_size=8))
def test_any_query_string_answers_the_same_both_ways(apps, engine, parts):
    fast, slow = apps
    path = "/v1/subjects/fp-denied/allowed-signals?" + "".join(parts)
    assert comparable(get(fast, path, engine)) == comparable(get(slow, path, engine))


@pytest.mark.parametrize("fast_paths", [True, False])
def test_the_rate_limit_counts_a_request_once(make_app, make_key, fast_paths):
    app = make_app(FAST_PATHS=fast_paths, RATE_LIMIT_PER_SECOND=0.01)  # a burst of 1
    engine = make_key("signals:read", name="limited")
    client = app.test_client()
    statuses = [client.get(f"/v1/subjects/u-1/allowed-signals?{q}", headers=engine).status_code
                for q in ["purpose=mind", "purpose=analytics"]]
    # the burst is max(1, 2 x rate) = 1: the refused purpose took it, the lookup is limited
    assert statuses == [422, 429]
    other = make_key("signals:read", name="limited-2")
    statuses = [client.get(f"/v1/subjects/u-1/allowed-signals?{q}", headers=other).status_code
                for q in ["purpose=analytics", "purpose=analytics"]]
    assert statuses == [200, 429]
