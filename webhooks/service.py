"""Webhook endpoints, the outbox, and the proof that recipients were told.

`emit` is the outbox: the domain that makes a change calls it in the change's own
transaction (consent writes, erasures, privacy requests), so a crash between commit and
send loses nothing. It writes one delivery row per endpoint that must hear of the event,
with the body that endpoint gets, computed now (the state the change made, not the state
when it is sent). Endpoints registered later do not get earlier events. The scheduler's
delivery job (webhooks.delivery) sends them.

Every function takes the caller's session (and keys, policy, clock) and never commits.
"""

from __future__ import annotations

import base64
import ipaddress
import os
import secrets
import socket
import urllib.parse
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import orjson
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from audit.service import append_entry
from consentry.canonical import b64url, b64url_decode
from consentry.clock import rfc3339, utcnow
from consentry.db import transaction_notes
from consentry.errors import Invalid, NotFound
from consentry.pagination import decode_cursor, encode_cursor
from consentry.policy import Policy, Recipient
from consentry.secretstore import SecretStore
from webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookNotice

CONSENT_CHANGED = "consent.changed"
SALE_SHARING_OPTED_OUT = "sale_sharing.opted_out"
ERASURE_COMPLETED = "erasure.completed"
REQUEST_CREATED = "request.created"
REQUEST_COMPLETED = "request.completed"
EVENT_TYPES = (CONSENT_CHANGED, SALE_SHARING_OPTED_OUT, ERASURE_COMPLETED, REQUEST_CREATED,
               REQUEST_COMPLETED)
TEST_EVENT = "webhook.test"  # the console's "send test event": to one endpoint only
PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
DELIVERY_STATUSES = (PENDING, DELIVERED, FAILED)
# The Standard Webhooks specification's suggested schedule: the wait after each failed
# attempt; after the last, the delivery is `failed` (a manual retry sends it again).
RETRY_SCHEDULE = (5, 300, 1800, 7200, 18000, 36000, 36000)
DISABLE_AFTER = timedelta(days=5)  # an endpoint failing this long is switched off
PREVIOUS_SECRET_VALID = timedelta(hours=24)
SECRET_PREFIX = "whsec_"
MAX_URL = 2000
ENDPOINT_ID = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
NOTICE_KINDS = {ERASURE_COMPLETED: "erasure", SALE_SHARING_OPTED_OUT: "sale_sharing"}


# -- addresses (SSRF) ----------------------------------------------------------------------

class UnsafeAddress(Exception):
    """A URL this service must not call (its scheme, or where its host resolves)."""


def address_allowed(address: str, allow_private: bool) -> bool:
    """Whether a resolved address may be called: a public (global) one, unless private
    addresses are allowed. Loopback, private, link-local (cloud metadata at
    169.254.169.254 and fd00:ec2::254 among them), shared, multicast and reserved ranges
    are not global; an IPv4-mapped IPv6 address is judged as the IPv4 one."""
    if allow_private:
        return True
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def resolve(url: str, *, allow_http: bool, allow_private: bool) -> list[tuple[str, int]]:
    """The addresses (ip, port) to call for `url`, every one checked; UnsafeAddress if
    the scheme is not https (unless http is allowed), the host does not resolve, or any
    address it resolves to is not public (unless private addresses are allowed)."""
    parts = urllib.parse.urlsplit(url)
    allowed = ("https", "http") if allow_http else ("https",)
    if parts.scheme not in allowed:
        raise UnsafeAddress("only https URLs" if not allow_http else "only http(s) URLs")
    host = parts.hostname
    if not host:
        raise UnsafeAddress("the URL has no host")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise UnsafeAddress("the URL's port is not a number from 0 to 65535") from exc
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnsafeAddress(f"the host {host!r} does not resolve") from exc
    addresses = list(dict.fromkeys((info[4][0], port) for info in infos))
    refused = [a for a, _ in addresses if not address_allowed(a, allow_private)]
    if refused:
        raise UnsafeAddress(f"the host {host!r} resolves to {refused[0]}, a loopback, private, "
                            "link-local or metadata address")
    return addresses


def check_url(url: str, *, allow_http: bool, allow_private: bool) -> None:
    """Refuse (422 naming `url`) a URL that may not be registered."""
    parts = urllib.parse.urlsplit(url)
    problem = None
    if len(url) > MAX_URL:
        problem = f"At most {MAX_URL} characters."
    elif parts.username or parts.password:
        problem = "No user name or password in the URL: the signature authenticates us."
    elif parts.fragment:
        problem = "No fragment (#...) in the URL."
    else:
        try:
            resolve(url, allow_http=allow_http, allow_private=allow_private)
        except UnsafeAddress as exc:
            problem = f"Refused: {exc}."
    if problem:
        raise Invalid("The webhook URL is refused.", fields={"url": [problem]},
                      code="webhook_url_refused")


# -- secrets -------------------------------------------------------------------------------

def new_secret() -> str:
    """A signing secret as the Standard Webhooks specification writes one: `whsec_` and
    the base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def _seal(keys: SecretStore, endpoint_id: str, secret: str) -> dict:
    nonce = os.urandom(12)
    sealed = AESGCM(keys.master_key).encrypt(nonce, secret.encode(), endpoint_id.encode())
    return {"nonce": b64url(nonce), "ct": b64url(sealed)}


def unseal(keys: SecretStore, endpoint_id: str, sealed: dict) -> str:
    """The signing secret sealed for `endpoint_id`."""
    return AESGCM(keys.master_key).decrypt(b64url_decode(sealed["nonce"]),
                                           b64url_decode(sealed["ct"]),
                                           endpoint_id.encode()).decode()


def signing_secrets(keys: SecretStore, endpoint: WebhookEndpoint, now: datetime) -> list[str]:
    """The secrets that sign a delivery now: the current one, and the previous one for
    24 hours after a rotation."""
    found = [unseal(keys, endpoint.id, endpoint.secret)]
    if endpoint.previous_secret and endpoint.previous_secret_until and \
            endpoint.previous_secret_until > now:
        found.append(unseal(keys, endpoint.id, endpoint.previous_secret))
    return found


# -- endpoints -----------------------------------------------------------------------------

def _recipient(policy: Policy, recipient_id: str | None) -> Recipient | None:
    if recipient_id is None:
        return None
    for r in policy.recipients:
        if r.id == recipient_id:
            return r
    raise Invalid("Unknown recipient.", fields={"recipient": [
        f"No recipient {recipient_id!r} in the policy; known: "
        f"{', '.join(r.id for r in policy.recipients) or 'none'}."]})


def put_endpoint(session: Session, keys: SecretStore, policy: Policy, endpoint_id: str, *,
                 url: str, recipient: str | None, events: list[str], enabled: bool,
                 actor: str, allow_http: bool, allow_private: bool
                 ) -> tuple[WebhookEndpoint, str | None]:
    """Register or change an endpoint; audited. Return it and, the first time only, its
    signing secret (shown once: only its sealed form is kept)."""
    _recipient(policy, recipient)
    unknown = [e for e in events if e not in EVENT_TYPES]
    if unknown or not events:
        raise Invalid("Unknown event type." if unknown else "No event types.", fields={
            "events": [f"Each one of: {', '.join(EVENT_TYPES)}; at least one."]})
    check_url(url, allow_http=allow_http, allow_private=allow_private)
    now = utcnow()
    session.info.pop(_ENDPOINTS, None)
    endpoint = session.get(WebhookEndpoint, endpoint_id, with_for_update=True)
    secret = None
    events = list(dict.fromkeys(events))
    if endpoint is None:
        secret = new_secret()
        endpoint = WebhookEndpoint(id=endpoint_id, url=url, recipient=recipient, events=events,
                                   enabled=enabled, secret=_seal(keys, endpoint_id, secret),
                                   created_at=now, updated_at=now)
        session.add(endpoint)
        session.flush()
        append_entry(session, keys, "webhook.registered", actor=actor,
                     details={"webhook_id": endpoint_id, "url": url, "recipient": recipient,
                              "events": events, "enabled": enabled})
        return endpoint, secret
    before = {"url": endpoint.url, "recipient": endpoint.recipient,
              "events": endpoint.events, "enabled": endpoint.enabled}
    endpoint.url, endpoint.recipient, endpoint.events = url, recipient, events
    if enabled and not endpoint.enabled:
        endpoint.failing_since = None  # switched on again: its five days start anew
    endpoint.enabled = enabled
    endpoint.disabled_reason = None if enabled else (endpoint.disabled_reason or "by_admin")
    endpoint.updated_at = now
    after = {"url": url, "recipient": recipient, "events": events, "enabled": enabled}
    if after != before:
        append_entry(session, keys, "webhook.updated", actor=actor,
                     details={"webhook_id": endpoint_id, "before": before, "after": after})
    return endpoint, None


def get_endpoint(session: Session, endpoint_id: str) -> WebhookEndpoint:
    endpoint = session.get(WebhookEndpoint, endpoint_id) if len(endpoint_id) <= 64 else None
    if endpoint is None:
        raise NotFound(f"no webhook {endpoint_id!r}")
    return endpoint


def list_endpoints(session: Session) -> list[WebhookEndpoint]:
    return list(session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id)))


def rotate_secret(session: Session, keys: SecretStore, endpoint_id: str, actor: str) -> str:
    """Give the endpoint a new secret; the old one keeps signing for 24 hours. Audited."""
    endpoint = get_endpoint(session, endpoint_id)
    now = utcnow()
    secret = new_secret()
    old = unseal(keys, endpoint.id, endpoint.secret)
    endpoint.previous_secret = _seal(keys, endpoint.id, old)
    endpoint.previous_secret_until = now + PREVIOUS_SECRET_VALID
    endpoint.secret = _seal(keys, endpoint.id, secret)
    endpoint.updated_at = now
    append_entry(session, keys, "webhook.secret_rotated", actor=actor,
                 details={"webhook_id": endpoint.id,
                          "previous_valid_until": rfc3339(endpoint.previous_secret_until)})
    return secret


def delete_endpoint(session: Session, keys: SecretStore, endpoint_id: str, actor: str) -> None:
    """Remove an endpoint and its deliveries (the notices, legal's proof, stay). Audited."""
    endpoint = get_endpoint(session, endpoint_id)
    session.info.pop(_ENDPOINTS, None)
    session.execute(delete(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id))
    session.delete(endpoint)
    append_entry(session, keys, "webhook.deleted", actor=actor,
                 details={"webhook_id": endpoint_id})


def endpoint_document(session: Session, endpoint: WebhookEndpoint) -> dict[str, Any]:
    counts = dict(session.execute(
        select(WebhookDelivery.status, func.count()).where(
            WebhookDelivery.endpoint_id == endpoint.id).group_by(WebhookDelivery.status)).all())
    failing = session.scalar(select(func.count()).where(
        WebhookDelivery.endpoint_id == endpoint.id, WebhookDelivery.status == PENDING,
        WebhookDelivery.attempts > 0)) or 0
    return {"webhook_id": endpoint.id, "url": endpoint.url, "recipient": endpoint.recipient,
            "events": endpoint.events, "enabled": endpoint.enabled,
            "disabled_reason": endpoint.disabled_reason,
            "failing_since": endpoint.failing_since,
            "previous_secret_valid_until": endpoint.previous_secret_until
            if endpoint.previous_secret_until and endpoint.previous_secret_until > utcnow()
            else None,
            "created_at": endpoint.created_at, "updated_at": endpoint.updated_at,
            "deliveries": {"pending": counts.get(PENDING, 0),
                           "delivered": counts.get(DELIVERED, 0),
                           "failed": counts.get(FAILED, 0), "retrying": failing}}


# -- the outbox ----------------------------------------------------------------------------

def _body(event_type: str, at: datetime, data: dict) -> str:
    return orjson.dumps({"type": event_type, "timestamp": rfc3339(at), "data": data}).decode()


_ENDPOINTS = "consentry.webhook_endpoints"  # transaction_notes: {"any", "rows"}
# The endpoints events go to: enabled, or switched off for failing (their events are kept).
_GETS_EVENTS = WebhookEndpoint.enabled.is_(True) | (WebhookEndpoint.disabled_reason == "failing")
# Whether any endpoint gets events: a consent write asks in its first statement
# (`note_subscribed`), so a deployment without webhooks pays no statement for them.
SUBSCRIBED = select(WebhookEndpoint.id).where(_GETS_EVENTS).exists()
_SUBSCRIBED_ROWS = (select(WebhookEndpoint.id, WebhookEndpoint.recipient, WebhookEndpoint.events)
                    .where(_GETS_EVENTS).order_by(WebhookEndpoint.id))


def note_subscribed(session: Session, subscribed: bool) -> None:
    """Keep, for the rest of the session's transaction, whether any endpoint gets events,
    as a statement of this transaction read it (`SUBSCRIBED`)."""
    transaction_notes(session, _ENDPOINTS)["any"] = bool(subscribed)


def _subscribed(session: Session) -> list:
    """The endpoints events go to (id, recipient, events), read once a transaction: a
    bulk write emits many events."""
    notes = transaction_notes(session, _ENDPOINTS)
    if "rows" not in notes:
        notes["rows"] = ([] if notes.get("any") is False
                         else session.connection().execute(_SUBSCRIBED_ROWS).all())
    return notes["rows"]


def emit(session: Session, policy: Policy, event_type: str, subject_id: str | None,
         data_for: Callable[[Recipient | None], dict | None], *,
         notice_ref: str | None = None, notify: list[Recipient] | None = None,
         now: datetime | None = None) -> str | None:
    """Write `event_type` to the outbox in the caller's transaction: a delivery for each
    endpoint subscribed to it whose recipient `data_for` gives data for (None: this
    recipient need not hear of it). `data_for(None)` is what an endpoint with no
    recipient (an engine) gets. Return the event id, or None if no endpoint gets it.

    `notify`: the recipients that must be told (an erasure, a sale/sharing opt-out),
    each given a notice row, legal's proof, even if no endpoint of theirs exists (that
    is a finding). `notice_ref` names what the notice is about (the erasure id)."""
    now = now or utcnow()
    event_id = "msg_" + uuid.uuid4().hex
    recipients = {r.id: r for r in policy.recipients}
    rows = []
    endpoints = _subscribed(session)
    bodies: dict[str | None, str | None] = {}
    for endpoint in endpoints:
        if event_type not in endpoint.events:
            continue
        if endpoint.recipient is not None and endpoint.recipient not in recipients:
            continue  # a recipient the policy no longer names
        if endpoint.recipient not in bodies:
            recipient = recipients.get(endpoint.recipient) if endpoint.recipient else None
            data = data_for(recipient)
            bodies[endpoint.recipient] = None if data is None else _body(event_type, now, data)
        body = bodies[endpoint.recipient]
        if body is None:
            continue
        rows.append({"delivery_id": "dlv_" + uuid.uuid4().hex, "event_id": event_id,
                     "endpoint_id": endpoint.id, "type": event_type, "subject_id": subject_id,
                     "body": body, "status": PENDING, "attempts": 0, "next_attempt_at": now,
                     "created_at": now})
    kind = NOTICE_KINDS.get(event_type)
    notices = [{"kind": kind, "ref": notice_ref or event_id, "event_id": event_id,
                "recipient": r.id, "created_at": now}
               for r in (notify or []) if kind]
    if rows:
        session.execute(WebhookDelivery.__table__.insert(), rows)
    if notices:
        session.execute(WebhookNotice.__table__.insert(), notices)
    return event_id if rows or notices else None


def emit_test(session: Session, endpoint_id: str) -> str:
    """Queue a `webhook.test` event to one endpoint (the console's button)."""
    endpoint = get_endpoint(session, endpoint_id)
    now = utcnow()
    event_id = "msg_" + uuid.uuid4().hex
    session.add(WebhookDelivery(
        delivery_id="dlv_" + uuid.uuid4().hex, event_id=event_id, endpoint_id=endpoint.id,
        type=TEST_EVENT, subject_id=None,
        body=_body(TEST_EVENT, now, {"webhook_id": endpoint.id}), status=PENDING, attempts=0,
        next_attempt_at=now, created_at=now))
    return event_id


def drop_subject(session: Session, subject_id: str) -> int:
    """Erasure: forget every delivery naming the subject (sent or not: a consent change
    not yet sent is superseded by the erasure notice, which is written after this)."""
    return session.execute(delete(WebhookDelivery).where(
        WebhookDelivery.subject_id == subject_id)).rowcount or 0


# -- deliveries ----------------------------------------------------------------------------

def list_deliveries(session: Session, endpoint_id: str, limit: int, cursor: str | None,
                    status: str | None = None) -> tuple[list[WebhookDelivery], str | None]:
    """An endpoint's deliveries, newest first, a page at a time."""
    get_endpoint(session, endpoint_id)
    position = decode_cursor(cursor, "before", types={"before": int})
    query = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id)
    if status:
        query = query.where(WebhookDelivery.status == status)
    if position:
        query = query.where(WebhookDelivery.id < position["before"])
    rows = list(session.scalars(query.order_by(WebhookDelivery.id.desc()).limit(limit + 1)))
    page = rows[:limit]
    return page, encode_cursor({"before": page[-1].id}) if len(rows) > limit else None


def failing_deliveries(session: Session, limit: int = 50) -> list[WebhookDelivery]:
    """Deliveries that failed at least once and are not acknowledged, newest first."""
    return list(session.scalars(select(WebhookDelivery).where(
        WebhookDelivery.status.in_((PENDING, FAILED)), WebhookDelivery.attempts > 0)
        .order_by(WebhookDelivery.id.desc()).limit(limit)))


def delivery_document(row: WebhookDelivery) -> dict[str, Any]:
    return {"delivery_id": row.delivery_id, "event_id": row.event_id, "type": row.type,
            "status": row.status, "attempts": row.attempts,
            "last_response_status": row.last_response_status,
            "last_duration_ms": row.last_duration_ms, "last_error": row.last_error,
            "next_attempt_at": row.next_attempt_at, "created_at": row.created_at,
            "delivered_at": row.delivered_at}


def retry_delivery(session: Session, endpoint_id: str, delivery_id: str) -> WebhookDelivery:
    """Send a delivery again as soon as the scheduler looks (also one delivered)."""
    row = session.scalar(select(WebhookDelivery).where(
        WebhookDelivery.endpoint_id == endpoint_id, WebhookDelivery.delivery_id == delivery_id)
    ) if len(delivery_id) <= 40 else None
    if row is None:
        raise NotFound(f"no delivery {delivery_id!r} of webhook {endpoint_id!r}")
    row.status, row.next_attempt_at = PENDING, utcnow()
    return row


def next_attempt(attempts: int, now: datetime) -> datetime | None:
    """When to try again after `attempts` failed attempts; None when they are spent."""
    if attempts > len(RETRY_SCHEDULE):
        return None
    return now + timedelta(seconds=RETRY_SCHEDULE[attempts - 1])


# -- proof ---------------------------------------------------------------------------------

def notices_for(session: Session, kind: str, ref: str) -> list[dict[str, Any]]:
    """Per recipient, when the notice `ref` was first sent and when a 2xx acknowledged it."""
    rows = session.execute(select(
        WebhookNotice.recipient, func.min(WebhookNotice.first_sent_at),
        func.min(WebhookNotice.acknowledged_at)).where(
        WebhookNotice.kind == kind, WebhookNotice.ref == ref)
        .group_by(WebhookNotice.recipient).order_by(WebhookNotice.recipient)).all()
    return [{"recipient": r, "first_sent_at": sent, "acknowledged_at": ack}
            for r, sent, ack in rows]


def mark_notices(session: Session, keys: SecretStore, sent: dict[tuple[str, str], datetime],
                 acknowledged: dict[tuple[str, str], datetime]) -> None:
    """Record first sends and first acknowledgements of notices, by (event id, recipient);
    each first acknowledgement is audited."""
    for (event_id, recipient), at in sent.items():
        session.execute(update(WebhookNotice).where(
            WebhookNotice.event_id == event_id, WebhookNotice.recipient == recipient,
            WebhookNotice.first_sent_at.is_(None)).values(first_sent_at=at))
    for (event_id, recipient), at in acknowledged.items():
        notice = session.scalar(select(WebhookNotice).where(
            WebhookNotice.event_id == event_id, WebhookNotice.recipient == recipient,
            WebhookNotice.acknowledged_at.is_(None)))
        if notice is None:
            continue
        notice.acknowledged_at = at
        append_entry(session, keys, "webhook.acknowledged", actor="scheduler", details={
            "kind": notice.kind, "ref": notice.ref, "event_id": event_id,
            "recipient": recipient, "first_sent_at": rfc3339(notice.first_sent_at or at),
            "acknowledged_at": rfc3339(at)})


def subject_recipients(policy: Policy, purposes) -> list[Recipient]:
    """The recipients that receive data for any of `purposes`."""
    wanted = set(purposes)
    return [r for r in policy.recipients if wanted.intersection(r.purposes)]
