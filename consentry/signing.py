"""Ed25519 signing: detached document signatures and compact JWS. Pure functions.

Verification (and the errors, the JWK form) has its one home in
`consentry_client.signing`, which engines and the offline verifier use; it is
re-exported here so the service signs and checks with one definition.
"""

from __future__ import annotations

import functools

from consentry_client.canonical import SharedParts, b64url, canonical_json
from consentry_client.note import raw_public_key, signature_line
from consentry_client.signing import (  # noqa: F401
    ALGORITHM,
    SignatureError,
    UnknownKeyError,
    key_from_jwk,
    keys_by_kid,
    public_jwk,
    verify_document,
    verify_jws,
)
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def sign_document(private_key: Ed25519PrivateKey, kid: str, document: dict,
                  parts: SharedParts | None = None) -> dict:
    """Sign the RFC 8785 (JCS) bytes of `document`; return a detached signature object.

    `parts` (kept by the caller for many documents) encodes the members they share once:
    the bytes signed are the same."""
    text = canonical_json(document) if parts is None else parts.canonical_json(document)
    signature = private_key.sign(text)
    return {"alg": ALGORITHM, "kid": kid, "value": b64url(signature)}


@functools.lru_cache(maxsize=64)
def _jws_header(kid: str, typ: str) -> str:
    """A JWS header, encoded once per key and type (the gate signs one per lookup)."""
    return b64url(canonical_json({"alg": ALGORITHM, "kid": kid, "typ": typ}))


def sign_jws(private_key: Ed25519PrivateKey, kid: str, payload: dict, typ: str) -> str:
    """Return a compact JWS (EdDSA) of type `typ` over `payload` (RFC 8725: explicit typ)."""
    header = _jws_header(kid, typ)
    body = b64url(canonical_json(payload))
    signing_input = f"{header}.{body}".encode("ascii")
    return f"{header}.{body}.{b64url(private_key.sign(signing_input))}"


def sign_note(private_key: Ed25519PrivateKey, name: str, text: str) -> str:
    """A C2SP signed note: `text` (ending in a newline), a blank line and the signature line
    of `private_key` under key name `name` (see `consentry_client.note`)."""
    public = raw_public_key(private_key.public_key())
    return f"{text}\n{signature_line(name, public, private_key.sign(text.encode('utf-8')))}"
