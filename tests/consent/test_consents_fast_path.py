"""`GET .../consents` answers the same with its fast path (consentry/fastpath.py) as
through the Flask view: a plain read of the current state takes the fast path; `at`,
anything unusual, and every subject once a notice is recorded go to the view."""

import pytest

from consent.views import CONSENTS_RULE
from consentry.metrics import get_metrics
from tests.consent.conftest import answered, as_seen

SUBJECTS = ["cf-granted", "cf-denied", "cf-gpc", "cf-eu", "never-seen"]
QUERIES = ["", "jurisdiction=EU", "jurisdiction=US-CA"]
LANGUAGES = [None, "de", "de-DE,de;q=0.9,en;q=0.5", "fr", "en-GB", "*", "de;q=0, en"]
UNUSUAL = [
    "at=2026-01-01",
    "at=2026-01-01T00:00:00Z",
    "jurisdiction=XX",
    "jurisdiction=",
    "jurisdiction=EU&jurisdiction=EU",
    "jurisdiction=%45U",
    "utm_source=x",
    "&",
]


@pytest.fixture
def apps(fast_and_slow):
    return fast_and_slow("cf")


@pytest.fixture
def reader(make_key):
    return make_key("preferences:read", name="preference-center")


def get(app, path, headers, language=None):
    if language is not None:
        headers = {**headers, "Accept-Language": language}
    return app.test_client().get(path, headers=headers)


def comparable(response) -> tuple:
    """What a client sees, less the moment of evaluation and the request id."""
    return as_seen(response, ("evaluated_at",))


def test_plain_reads_take_the_fast_path_and_answer_as_the_view(apps, reader):
    fast, slow = apps
    for subject in SUBJECTS:
        for query in QUERIES:
            for language in LANGUAGES:
                path = f"/v1/subjects/{subject}/consents?{query}"
                before = answered(fast)
                quick, full = get(fast, path, reader, language), get(slow, path, reader,
                                                                    language)
                assert answered(fast) == before + 1, (path, language)
                assert comparable(quick) == comparable(full), (path, language)
                assert quick.headers["X-Request-Id"]
    german = get(fast, "/v1/subjects/cf-denied/consents", reader, "de")
    assert german.headers["Content-Language"] == "de"
    entry = german.get_json()["entries"][0]
    assert entry["purpose"] == "personalization" and entry["allowed"] is False
    counted = get_metrics(fast).requests.labels("GET", CONSENTS_RULE, "200")
    assert counted._value.get() >= len(SUBJECTS) * len(QUERIES) * len(LANGUAGES)


def test_a_write_is_read_back_at_once_by_the_fast_path(apps, reader, make_key):
    fast, _ = apps
    writer = make_key("preferences:write")
    client = fast.test_client()

    def personalization(subject):
        entries = get(fast, f"/v1/subjects/{subject}/consents", reader).get_json()["entries"]
        return next(e for e in entries if e["purpose"] == "personalization"
                    and e["category"] is None)["allowed"]

    assert personalization("cf-granted") is True
    r = client.put("/v1/subjects/cf-granted/consents", headers=writer, json={
        "source": "test", "choices": [{"purpose": "personalization", "status": "denied"}]})
    assert r.status_code == 200
    assert personalization("cf-granted") is False


@pytest.mark.parametrize("query", UNUSUAL)
def test_anything_unusual_is_answered_by_the_view(apps, reader, query):
    fast, slow = apps
    path = f"/v1/subjects/cf-eu/consents?{query}"
    before = answered(fast)
    assert comparable(get(fast, path, reader)) == comparable(get(slow, path, reader))
    assert answered(fast) == before


@pytest.mark.parametrize("body,content_type", [
    (b'{"dry_run": true}', None), (b'{"source": ', "application/json"), (b"{}", "text/plain")])
def test_a_read_with_a_body_is_the_views_to_answer(apps, reader, body, content_type):
    fast, slow = apps
    path = "/v1/subjects/cf-eu/consents"
    headers = {**reader, **({"Content-Type": content_type} if content_type else {})}
    before = answered(fast)
    quick = fast.test_client().get(path, data=body, headers=headers)
    full = slow.test_client().get(path, data=body, headers=headers)
    assert 400 <= quick.status_code < 500
    assert comparable(quick) == comparable(full)
    assert answered(fast) == before


@pytest.mark.parametrize("headers", [
    {}, {"Authorization": "Bearer csk_00000000_nope"}, {"Authorization": "Basic abc"}])
def test_keys_the_view_refuses_are_its_answers(apps, make_key, headers):
    fast, slow = apps
    path = "/v1/subjects/cf-eu/consents"
    before = answered(fast)
    assert comparable(get(fast, path, headers)) == comparable(get(slow, path, headers))
    wrong_scope = make_key("signals:read")
    assert comparable(get(fast, path, wrong_scope)) == comparable(get(slow, path, wrong_scope))
    assert get(fast, path, wrong_scope).status_code == 403
    assert answered(fast) == before


def test_once_a_notice_is_recorded_the_view_answers(apps, reader, admin):
    fast, slow = apps
    notice = {"version": "v1", "url": "https://example.com/privacy", "sha256": "0" * 64,
              "material": True}
    assert slow.test_client().put("/v1/notices/privacy", json=notice,
                                  headers=admin).status_code in (200, 201)
    before = answered(fast)
    path = "/v1/subjects/cf-denied/consents"
    quick, full = get(fast, path, reader), get(slow, path, reader)
    assert answered(fast) == before
    assert comparable(quick) == comparable(full)
    body = quick.get_json()
    assert body["notice"]["version"] == "v1"
    assert body["reconsent_needed"] is True  # a choice made under no notice, one now material


@pytest.mark.parametrize("fast_paths", [True, False])
def test_the_rate_limit_counts_a_read_once(make_app, make_key, fast_paths):
    app = make_app(FAST_PATHS=fast_paths, RATE_LIMIT_PER_SECOND=0.01)  # a burst of 1
    reader = make_key("preferences:read", name="limited")
    client = app.test_client()
    statuses = [client.get("/v1/subjects/u-1/consents", headers=reader).status_code
                for _ in range(2)]
    assert statuses == [200, 429]
