"""Verify a Consentry webhook as the Standard Webhooks specification says, stdlib only.

    event = verify_webhook(secret, request.headers, request.body)
    event["type"], event["data"]["subject_id"]

`webhook-signature` holds one or more `v1,<base64>` signatures (two, space-separated, for
24 hours after a rotation); one must be the HMAC-SHA256, keyed by the bytes of the
base64 after `whsec_`, of `"{webhook-id}.{webhook-timestamp}.{body}"`. A timestamp more
than `tolerance` seconds from now is refused too (a replayed delivery). `secrets` may
be several (the receiver's own rotation). `GateClient.verify_webhook` does this and then
drops its cached answers for the subject named.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Iterable, Mapping

SECRET_PREFIX = "whsec_"
DEFAULT_TOLERANCE = 300  # seconds, as the specification's libraries use


class WebhookVerificationError(Exception):
    """The delivery is not signed by a known secret, or is too old or new."""


def _header(headers: Mapping[str, str], name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    raise WebhookVerificationError(f"missing header {name}")


def verify_webhook(secrets: str | Iterable[str], headers: Mapping[str, str],
                   body: bytes | str, *, tolerance: float = DEFAULT_TOLERANCE,
                   now: float | None = None) -> dict:
    """Return the event (`type`, `timestamp`, `data`) of a delivery signed by one of
    `secrets`; raise WebhookVerificationError otherwise."""
    keys = [secrets] if isinstance(secrets, str) else list(secrets)
    msg_id = _header(headers, "webhook-id")
    stamp = _header(headers, "webhook-timestamp")
    signatures = _header(headers, "webhook-signature").split(" ")
    try:
        timestamp = int(stamp)
    except ValueError as exc:
        raise WebhookVerificationError("webhook-timestamp is not a number") from exc
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        raise WebhookVerificationError("webhook-timestamp is too far from now")
    payload = body.encode() if isinstance(body, str) else bytes(body)
    signed = f"{msg_id}.{timestamp}.".encode() + payload
    for secret in keys:
        try:
            key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise WebhookVerificationError("a secret is not whsec_<base64>") from exc
        expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
        for signature in signatures:
            version, _, value = signature.partition(",")
            if version == "v1" and hmac.compare_digest(value, expected):
                try:
                    return json.loads(payload)
                except ValueError as exc:
                    raise WebhookVerificationError("the body is not JSON") from exc
    raise WebhookVerificationError("no signature matches")
