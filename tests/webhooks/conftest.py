"""A real receiver: an HTTP server in the test process that verifies each delivery's
signature with the `standardwebhooks` package from PyPI, as a recipient would."""

from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from consentry.db import get_db
from webhooks.delivery import deliver
from webhooks.models import WebhookDelivery


class Receiver:
    """Records each verified delivery; answers with the statuses queued in `answers`
    (then 200); `hang` seconds before answering when set."""

    def __init__(self):
        self.secrets: list[str] = []
        self.received: list[dict] = []  # verified: {"id", "type", "data", "signatures"}
        self.refused: list[str] = []
        self.answers: list[int] = []
        self.hang = 0.0
        self.lock = threading.Lock()
        ThreadingHTTPServer.request_queue_size = 256  # a burst of parallel deliveries
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"

    def _handler(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                headers = {k.lower(): v for k, v in self.headers.items()}
                if receiver.hang:
                    time.sleep(receiver.hang)
                verified = None
                for secret in receiver.secrets:
                    try:
                        verified = Webhook(secret).verify(body, headers)
                        break
                    except WebhookVerificationError:
                        continue
                with receiver.lock:
                    if verified is None:
                        receiver.refused.append(headers.get("webhook-id", ""))
                        status = 401
                    else:
                        status = receiver.answers.pop(0) if receiver.answers else 200
                        receiver.received.append({
                            "id": headers["webhook-id"], "type": verified["type"],
                            "data": verified["data"], "status": status,
                            "signatures": headers["webhook-signature"].split(" "),
                            "content_type": headers.get("content-type")})
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        return Handler

    def acknowledged(self) -> list[dict]:
        with self.lock:
            return [r for r in self.received if 200 <= r["status"] < 300]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def hook_app(make_app):
    return make_app(WEBHOOK_ALLOW_HTTP=True, WEBHOOK_ALLOW_PRIVATE=True)


@pytest.fixture
def hook_client(hook_app):
    return hook_app.test_client()


@pytest.fixture
def hook_admin(hook_app):
    from consentry import auth

    with hook_app.app_context(), get_db(hook_app).transaction() as s:
        key = auth.create_key(s, f"admin-{uuid.uuid4().hex[:6]}", ["admin"])
    return {"Authorization": f"Bearer {key}"}


def register(client, admin, receiver, webhook_id="hook", recipient=None, events=None,
             url=None):
    """PUT an endpoint for `receiver`; the receiver learns the secret."""
    response = client.put(f"/v1/webhooks/{webhook_id}", headers=admin, json={
        "url": url or receiver.url, "recipient": recipient,
        "events": events or ["consent.changed", "sale_sharing.opted_out",
                             "erasure.completed", "request.created", "request.completed"],
        "enabled": True})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    if "secret" in body:
        receiver.secrets.append(body["secret"])
    return body


def write_consent(client, admin, subject, status="granted", purpose="marketing", **extra):
    response = client.put(f"/v1/subjects/{subject}/consents",
                          headers={**admin, "Idempotency-Key": uuid.uuid4().hex},
                          json={"source": "pc", "choices": [{"purpose": purpose,
                                                             "status": status}], **extra})
    assert response.status_code == 200, response.get_json()


def drain(app, rounds=50, holder="test-sender"):
    """Run the delivery job until nothing is due (sends in this process)."""
    for _ in range(rounds):
        if not deliver(app, holder, budget_seconds=30):
            return


def deliveries(app):
    with app.app_context(), get_db(app).transaction(write=False) as s:
        return [(d.type, d.status, d.attempts, d.subject_id) for d in s.scalars(
            select(WebhookDelivery).order_by(WebhookDelivery.id))]


def payloads(receiver, kind):
    return [json.loads(json.dumps(r["data"])) for r in receiver.acknowledged()
            if r["type"] == kind]
