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
