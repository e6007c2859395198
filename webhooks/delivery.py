"""Sending the outbox: signed POSTs by the Standard Webhooks specification, at least once.

The scheduler runs `deliver_job` under its lease (one sender across every process and
host; a killed sender's lease lapses and the next one resends what was not recorded as
acknowledged). Each round reads the due deliveries that have no earlier unfinished
delivery for the same endpoint and subject (so one subject's events arrive in order),
sends them in parallel (a thread pool: they are of different subjects), and records
each answer in one transaction. The DNS name is resolved, every address checked, and
the connection made to the checked address, so a name that later resolves elsewhere
(DNS rebinding) cannot point a delivery at an internal service.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import logging
import socket
import ssl
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

from flask import Flask
from sqlalchemy import and_, select, update
from sqlalchemy.orm import aliased

from audit.service import append_entry
from consentry import leases
from consentry.clock import utcnow
from consentry.db import get_db
from consentry.scheduler import Job
from consentry.secretstore import get_keys
from webhooks import service
from webhooks.models import WebhookDelivery, WebhookEndpoint

log = logging.getLogger("consentry.webhooks")
JOB_ID = "webhooks-deliver"
MAX_KEPT_RESPONSE = 1024  # bytes of an answer kept (and read)
USER_AGENT = "Consentry-Webhooks/1"


def sign(secret: str, msg_id: str, timestamp: int, body: str) -> str:
    """`v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, keyed by the secret's bytes (the
    base64 after `whsec_`)."""
    key = base64.b64decode(secret.removeprefix(service.SECRET_PREFIX))
    mac = hmac.new(key, f"{msg_id}.{timestamp}.{body}".encode(), hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


@dataclass
class Outcome:
    status: int | None = None
    body: str | None = None
    error: str | None = None
    duration_ms: int = 0
    sent: bool = False  # the request left (a notice counts as sent)

    @property
    def acknowledged(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class _PinnedHTTPS(http.client.HTTPSConnection):
    """HTTPS to a checked address, verifying the certificate for the URL's host."""

    def __init__(self, host, port, address, **kw):
        super().__init__(host, port, **kw)
        self._address = address

    def connect(self):
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def post(url: str, headers: dict[str, str], body: bytes, *, timeout: float,
         allow_http: bool, allow_private: bool) -> Outcome:
    """POST `body` to `url` (its host checked now, connected to by the checked address);
    no redirects followed, at most 1 kB of the answer read, `timeout` seconds in all."""
    started = time.monotonic()
    outcome = Outcome()
    try:
        addresses = service.resolve(url, allow_http=allow_http, allow_private=allow_private)
    except service.UnsafeAddress as exc:
        outcome.error = f"refused: {exc}"
        return outcome
    parts = urllib.parse.urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    host_header = parts.netloc.rsplit("@", 1)[-1]
    address, port = addresses[0]
    if parts.scheme == "https":
        conn = _PinnedHTTPS(parts.hostname, port, address, timeout=timeout,
                            context=ssl.create_default_context())
    else:
        conn = http.client.HTTPConnection(address, port, timeout=timeout)
    try:
        conn.connect()
        sock = conn.sock  # http.client drops its reference once the answer says close

        def left() -> float:
            return max(0.001, timeout - (time.monotonic() - started))
        sock.settimeout(left())
        conn.putrequest("POST", path, skip_host=True, skip_accept_encoding=True)
        for name, value in {"Host": host_header, "User-Agent": USER_AGENT,
                            "Content-Type": "application/json",
                            "Content-Length": str(len(body)), **headers}.items():
            conn.putheader(name, value)
        conn.endheaders(body)
        outcome.sent = True
        sock.settimeout(left())
        response = conn.getresponse()
        outcome.status = response.status  # a 3xx is not followed: it is not a 2xx
        sock.settimeout(left())
        outcome.body = response.read(MAX_KEPT_RESPONSE).decode("utf-8", "replace")
    except TimeoutError:
        outcome.error = f"timed out after {timeout:g} s"
    except (OSError, http.client.HTTPException, ValueError) as exc:
        outcome.error = f"{type(exc).__name__}: {exc}"[:500]
    finally:
        conn.close()
        outcome.duration_ms = int((time.monotonic() - started) * 1000)
    return outcome


class Sender:
    """Deliver due outbox rows for one app: `round()` sends one batch."""

    def __init__(self, app: Flask, holder: str):
        self.app, self.holder = app, holder
        config = app.config
        self.timeout = float(config["WEBHOOK_TIMEOUT_SECONDS"])
        self.allow_http = bool(config["WEBHOOK_ALLOW_HTTP"])
        self.allow_private = bool(config["WEBHOOK_ALLOW_PRIVATE"])
        self.batch = int(config["WEBHOOK_BATCH"])
        self.pool = ThreadPoolExecutor(max_workers=int(config["WEBHOOK_WORKERS"]),
                                       thread_name_prefix="webhook")
        self.db = get_db(app)
        self.keys = get_keys(app)

    def close(self) -> None:
        self.pool.shutdown(wait=True)

    def _due(self, session, now: datetime):
        earlier = aliased(WebhookDelivery)
        blocked = select(earlier.id).where(
            earlier.endpoint_id == WebhookDelivery.endpoint_id,
            earlier.subject_id == WebhookDelivery.subject_id,
            earlier.status == service.PENDING, earlier.id < WebhookDelivery.id).exists()
        return list(session.scalars(
            select(WebhookDelivery).join(WebhookEndpoint, and_(
                WebhookEndpoint.id == WebhookDelivery.endpoint_id,
                WebhookEndpoint.enabled.is_(True)))
            .where(WebhookDelivery.status == service.PENDING,
                   WebhookDelivery.next_attempt_at <= now, ~blocked)
            .order_by(WebhookDelivery.id).limit(self.batch)))

    def round(self) -> int:
        """Send one batch of due deliveries and record the answers; how many were sent."""
        now = utcnow()
        with self.app.app_context(), self.db.transaction(write=False) as session:
            due = self._due(session, now)
            if not due:
                return 0
            endpoints = {e.id: e for e in session.scalars(select(WebhookEndpoint).where(
                WebhookEndpoint.id.in_({d.endpoint_id for d in due})))}
            work = []
            for d in due:
                endpoint = endpoints[d.endpoint_id]
                work.append((d.id, d.event_id, d.type, d.body, endpoint.id, endpoint.url,
                             endpoint.recipient,
                             service.signing_secrets(self.keys, endpoint, now)))
        outcomes = list(self.pool.map(self._send, work))
        self._record(work, outcomes)
        return len(work)

    def _send(self, item) -> Outcome:
        _, event_id, _, body, _, url, _, secrets = item
        timestamp = int(time.time())
        signature = " ".join(sign(s, event_id, timestamp, body) for s in secrets)
        return post(url, {"webhook-id": event_id, "webhook-timestamp": str(timestamp),
                          "webhook-signature": signature}, body.encode(),
                    timeout=self.timeout, allow_http=self.allow_http,
                    allow_private=self.allow_private)

    def _record(self, work, outcomes: list[Outcome]) -> None:
        now = utcnow()
        with self.app.app_context(), self.db.transaction() as session:
            rows = {r.id: r for r in session.scalars(select(WebhookDelivery).where(
                WebhookDelivery.id.in_([w[0] for w in work])))}
            sent, acked = {}, {}
            healthy, failing = set(), set()
            for item, outcome in zip(work, outcomes, strict=True):
                row = rows.get(item[0])
                if row is None:  # deleted meanwhile (an erasure, the endpoint removed)
                    continue
                row.attempts += 1
                row.last_response_status = outcome.status
                row.last_response_body = outcome.body
                row.last_error = outcome.error
                row.last_duration_ms = outcome.duration_ms
                if outcome.sent and row.first_sent_at is None:
                    row.first_sent_at = now
                recipient = item[6]
                if outcome.sent and recipient and row.type in service.NOTICE_KINDS:
                    sent[(row.event_id, recipient)] = now
                if outcome.acknowledged:
                    row.status, row.next_attempt_at, row.delivered_at = \
                        service.DELIVERED, None, now
                    healthy.add(row.endpoint_id)
                    if recipient and row.type in service.NOTICE_KINDS:
                        acked[(row.event_id, recipient)] = now
                else:
                    row.next_attempt_at = service.next_attempt(row.attempts, now)
                    if row.next_attempt_at is None:
                        row.status = service.FAILED
                    failing.add(row.endpoint_id)
            service.mark_notices(session, self.keys, sent, acked)
            if healthy:
                session.execute(update(WebhookEndpoint).where(
                    WebhookEndpoint.id.in_(healthy)).values(failing_since=None))
            for endpoint in session.scalars(select(WebhookEndpoint).where(
                    WebhookEndpoint.id.in_(failing - healthy))):
                self._failed(session, endpoint, now)

    def _failed(self, session, endpoint: WebhookEndpoint, now: datetime) -> None:
        if endpoint.failing_since is None:
            endpoint.failing_since = now
        elif endpoint.enabled and now - endpoint.failing_since >= service.DISABLE_AFTER:
            endpoint.enabled, endpoint.disabled_reason = False, "failing"
            append_entry(session, self.keys, "webhook.disabled", actor="scheduler", details={
                "webhook_id": endpoint.id, "reason": "failing",
                "failing_since": endpoint.failing_since.isoformat()})
            log.warning("webhook %s disabled: failing since %s", endpoint.id,
                        endpoint.failing_since)


def deliver(app: Flask, holder: str, budget_seconds: float | None = None) -> int:
    """Send due deliveries under the job's lease, renewing it each round, until none is
    due or the budget is spent; how many were sent."""
    lease = float(app.config["WEBHOOK_LEASE_SECONDS"])
    budget = lease / 2 if budget_seconds is None else budget_seconds
    started = time.monotonic()
    sender = Sender(app, holder)
    total = 0
    try:
        while time.monotonic() - started < budget:
            with app.app_context():
                if not get_db(app).run(lambda session: leases.acquire(
                        session, f"job:{JOB_ID}", holder, lease)):
                    break  # another scheduler took over (ours lapsed)
            sent = sender.round()
            total += sent
            if not sent:
                break
    finally:
        sender.close()
    return total


def deliver_job(app: Flask, holder: str) -> None:
    """The scheduler's delivery job."""
    deliver(app, holder)


def webhook_jobs(config) -> list[Job]:
    """The webhooks domain's job: send the outbox, every WEBHOOK_POLL_SECONDS."""
    return [Job(JOB_ID, deliver_job, f"interval:{float(config['WEBHOOK_POLL_SECONDS'])}",
                lease_seconds=float(config["WEBHOOK_LEASE_SECONDS"]))]
