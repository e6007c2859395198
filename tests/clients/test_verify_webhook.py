"""`GateClient.verify_webhook` (Python): a real delivery from the scheduler's sender is
verified, and the cached answer of the subject it names is dropped at once, without a
sync of the change feed; a tampered or stale delivery is refused and drops nothing."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from consentry_client import GateClient, WebhookVerificationError, verify_webhook

from webhooks.delivery import deliver


@pytest.fixture
def app(make_app):
    return make_app(WEBHOOK_ALLOW_HTTP=True, WEBHOOK_ALLOW_PRIVATE=True)


@pytest.fixture
def captured():
    """A receiver that keeps each raw delivery (headers, body) for the engine to check."""
    kept: list[tuple[dict, bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            kept.append((dict(self.headers.items()), body))
            self.send_response(204)
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/engine", kept
    server.shutdown()
    server.server_close()


def test_a_verified_webhook_drops_the_cached_answer_of_its_subject(
        app, client, live_server, make_key, admin, captured):
    url, kept = captured
    secret = client.put("/v1/webhooks/engine", headers=admin, json={
        "url": url, "recipient": None, "events": ["consent.changed"]}).get_json()["secret"]
    writer = make_key("preferences:write")
    engine = make_key("signals:read")["Authorization"].removeprefix("Bearer ")

    def put(status):
        assert client.put("/v1/subjects/w-1/consents", headers=writer, json={
            "source": "t", "jurisdiction": "EU",
            "choices": [{"purpose": "marketing", "status": status}]}).status_code == 200

    put("granted")
    deliver(app, "t", budget_seconds=10)
    gate = GateClient(live_server, engine, sync_interval=3600, issuer=app.config["PUBLIC_URL"])
    gate.sync()  # the feed's head: from now on the client syncs only hourly
    assert gate.allowed_signals("w-1", "marketing").allowed  # cached
    put("denied")
    deliver(app, "t", budget_seconds=10)
    headers, body = kept[-1]
    assert gate.allowed_signals("w-1", "marketing").allowed  # still the cached answer

    with pytest.raises(WebhookVerificationError):
        gate.verify_webhook(secret, headers, body.replace(b"w-1", b"w-2"))
    assert gate.cached("w-1", "marketing") is not None  # a forgery drops nothing
    with pytest.raises(WebhookVerificationError):
        verify_webhook(secret, headers, body, now=time.time() + 3600)  # a replay, later
    event = gate.verify_webhook(secret, headers, body)
    assert event["type"] == "consent.changed" and event["data"]["subject_id"] == "w-1"
    assert gate.cached("w-1", "marketing") is None
    assert not gate.allowed_signals("w-1", "marketing").allowed  # the new answer
