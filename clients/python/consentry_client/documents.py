"""Verify signed documents offline: consent receipts and erasure certificates.

Each is checked against the JWKS published at `/.well-known/consentry-keys` (saved
from a source you trust): the Ed25519 signature over the RFC 8785 (JCS) bytes of the
document without its signature.
"""

from __future__ import annotations

from consentry_client.signing import SignatureError, keys_by_kid, verify_document


def verify_receipt(receipt: dict, jwks: dict | list) -> dict:
    """Return the receipt's signed body if its `signature` verifies; else SignatureError.

    A receipt is one JSON object: its fields and `signature` (`{"alg", "kid", "value"}`)
    over all the others.
    """
    if not isinstance(receipt, dict) or not isinstance(receipt.get("signature"), dict):
        raise SignatureError("not a signed receipt: no signature")
    body = {k: v for k, v in receipt.items() if k != "signature"}
    verify_document(keys_by_kid(jwks), body, receipt["signature"])
    return body


def verify_certificate(certificate: dict, jwks: dict | list) -> dict:
    """Return an erasure certificate's document if its signature verifies; else
    SignatureError.

    A certificate is `{"document": {...}, "signature": {"alg", "kid", "value"}}`, as
    `GET /v1/erasures/{erasure_id}` answers it under `certificate`.
    """
    if not isinstance(certificate, dict) or not isinstance(certificate.get("document"), dict):
        raise SignatureError("not an erasure certificate: no document")
    document = certificate["document"]
    if not str(document.get("type", "")).startswith("consentry.erasure-certificate/"):
        raise SignatureError("not an erasure certificate: wrong type")
    verify_document(keys_by_kid(jwks), document, certificate.get("signature"))
    return document
