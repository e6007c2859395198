"""The console's webhooks page: endpoints, failing deliveries, "send test event" (admin,
CSRF as every console form), and the erasure page's recipients with the finding."""

from __future__ import annotations

import pytest

from tests.console.conftest import csrf_of, html_client, new_key, sign_in
from tests.retention.test_erasure import poll
from tests.webhooks.conftest import Receiver, drain, write_consent


@pytest.fixture
def app(make_app, tmp_path):
    return make_app(AUDIT_EXPORT_DIR=str(tmp_path / "exports"), WEBHOOK_ALLOW_HTTP=True,
                    WEBHOOK_ALLOW_PRIVATE=True)


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def _admin(app):
    key, _ = new_key(app, "admin")
    client = html_client(app)
    assert sign_in(client, key).status_code == 303
    return client, {"Authorization": f"Bearer {key}"}


def test_send_test_event_reaches_the_endpoint_and_failures_show(app, receiver):
    console, api = _admin(app)
    secret = console.put("/v1/webhooks/crm", headers=api, json={
        "url": receiver.url, "recipient": "mailer",
        "events": ["consent.changed"]}).get_json()["secret"]
    receiver.secrets.append(secret)
    page = console.get("/console/webhooks")
    assert page.status_code == 200 and "crm" in page.text and receiver.url in page.text
    assert "None: every delivery tried so far was acknowledged." in page.text
    assert console.post("/console/webhooks/crm/test", data={}).status_code == 403  # no CSRF
    response = console.post("/console/webhooks/crm/test",
                            data={"csrf_token": csrf_of(page.text)})
    assert response.status_code == 303
    drain(app)
    [event] = receiver.acknowledged()
    assert event["type"] == "webhook.test" and event["data"] == {"webhook_id": "crm"}

    receiver.answers = [500]
    write_consent(console, api, "c-1")
    drain(app)
    page = console.get("/console/webhooks")
    assert "consent.changed" in page.text and ">500" in page.text.replace(" ", "")


def test_the_webhooks_page_needs_admin(app):
    key, _ = new_key(app, "audit:read")
    client = html_client(app)
    sign_in(client, key)
    assert client.get("/console/webhooks").status_code == 403


def test_the_erasure_page_lists_recipients_and_the_one_that_never_acknowledged(app, receiver):
    console, api = _admin(app)
    receiver.secrets.append(console.put("/v1/webhooks/ads", headers=api, json={
        "url": receiver.url, "recipient": "ad_exchange",
        "events": ["erasure.completed"]}).get_json()["secret"])
    write_consent(console, api, "c-2")
    erasure_id = console.post("/v1/subjects/c-2/erasure", headers={
        **api, "Idempotency-Key": "e"}, json={}).get_json()["erasure_id"]
    poll(app)
    drain(app)
    page = console.get(f"/console/retention/erasures/{erasure_id}").text
    assert "Recipients told" in page and "ad_exchange" in page
    finding = page.split("Finding:")[1].split("</div>")[0]
    assert "mailer" in finding and "analytics" in finding and "ad_exchange" not in finding
