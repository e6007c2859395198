import pytest


@pytest.fixture
def writer(make_key):
    return make_key("preferences:write", "preferences:read", name="preference-center")


@pytest.fixture
def put_consents(client, writer):
    """PUT a consent write; return the response."""

    def put(subject_id, choices, headers=None, **body):
        payload = {"source": "preference_center", "choices": choices, **body}
        return client.put(f"/v1/subjects/{subject_id}/consents", json=payload,
                          headers={**writer, **(headers or {})})

    return put


# -- the fast paths (consentry/fastpath.py) against their views -------------------------

@pytest.fixture
def fast_and_slow(make_app, make_key):
    """`(prefix)` -> the same database served with the fast paths and without them, with
    four subjects `<prefix>-granted`, `-denied`, `-gpc` and `-eu` recorded."""

    def build(prefix: str):
        fast, slow = make_app(), make_app(FAST_PATHS=False)
        writer = make_key("preferences:write")
        client = slow.test_client()
        for subject, body, headers in [
            ("granted", {"choices": [{"purpose": "personalization", "category": "health",
                                      "status": "granted"}]}, {}),
            ("denied", {"choices": [{"purpose": "personalization", "status": "denied"}]}, {}),
            ("gpc", {"choices": []}, {"Sec-GPC": "1"}),
            ("eu", {"jurisdiction": "EU", "choices": [
                {"purpose": "marketing", "channel": "email", "status": "granted"}]}, {}),
        ]:
            r = client.put(f"/v1/subjects/{prefix}-{subject}/consents",
                           json={"source": "test", **body}, headers={**writer, **headers})
            assert r.status_code == 200, r.get_json()
        return fast, slow

    return build


def as_seen(response, volatile: tuple[str, ...] = ()) -> tuple:
    """(status, headers, body) as a client sees them, less what differs by the request
    (its id, the date) and, in a success, the body's `volatile` members."""
    body = response.get_json()
    if response.status_code == 200:
        body = {k: v for k, v in body.items() if k not in volatile}
    elif body and "error" in body:
        body = {**body, "error": {k: v for k, v in body["error"].items() if k != "request_id"}}
    headers = sorted((k, v) for k, v in response.headers.items()
                     if k not in ("X-Request-Id", "Date"))
    return response.status_code, headers, body


def answered(app) -> int:
    """How many requests the app's fast paths answered."""
    return app.wsgi_app.answered
