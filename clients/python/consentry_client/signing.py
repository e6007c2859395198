"""Verify Consentry's Ed25519 signatures: JWKs, detached document signatures, compact JWS.

A document signature is `{"alg": "EdDSA", "kid", "value"}`: `value` is the base64url
(no padding) Ed25519 signature over the RFC 8785 (JCS) UTF-8 bytes of the document
without its `signature` member (see `consentry_client.canonical`). A token is a
compact JWS (RFC 7515) whose header is exactly `{"alg": "EdDSA", "kid", "typ"}`, with
the `typ` of its kind: RFC 8725's explicit typing, so one kind of token is never
taken for another.
"""

from __future__ import annotations

import json

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from consentry_client.canonical import b64url, b64url_decode, canonical_json

ALGORITHM = "EdDSA"


class SignatureError(ValueError):
    """A signature or token that does not verify."""


class UnknownKeyError(SignatureError):
    """Signed with a key id the verifier's keys do not have (fetch the keys again?)."""


def public_jwk(public_key: Ed25519PublicKey, kid: str) -> dict:
    """Return the JWK (RFC 8037, OKP) of an Ed25519 public key."""
    raw = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return {"kty": "OKP", "crv": "Ed25519", "x": b64url(raw), "kid": kid, "use": "sig",
            "alg": ALGORITHM}


def key_from_jwk(jwk: dict) -> Ed25519PublicKey:
    """Load an Ed25519 public key from its JWK."""
    if not isinstance(jwk, dict) or jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
        raise SignatureError("not an Ed25519 JWK")
    try:
        return Ed25519PublicKey.from_public_bytes(b64url_decode(jwk.get("x")))
    except ValueError as exc:
        raise SignatureError("not an Ed25519 JWK: bad x") from exc


def keys_by_kid(jwks: dict | list) -> dict[str, Ed25519PublicKey]:
    """Index a JWKS document (or a list of JWKs) by key id; SignatureError if malformed."""
    keys = jwks.get("keys") if isinstance(jwks, dict) else jwks
    if not isinstance(keys, list):
        raise SignatureError("not a JWKS document")
    indexed = {}
    for jwk in keys:
        kid = jwk.get("kid") if isinstance(jwk, dict) else None
        if not isinstance(kid, str):
            raise SignatureError("a JWK without a key id")
        indexed[kid] = key_from_jwk(jwk)
    return indexed


def verify_document(keys: dict[str, Ed25519PublicKey], document: dict, signature: dict) -> None:
    """Raise SignatureError unless `signature` signs the canonical JSON of `document`."""
    kid = signature.get("kid") if isinstance(signature, dict) else None
    key = keys.get(kid) if isinstance(kid, str) else None
    if key is None:
        raise UnknownKeyError(f"unknown key id {kid!r}")
    if signature.get("alg") != ALGORITHM:
        raise SignatureError("unsupported algorithm")
    try:
        key.verify(b64url_decode(signature.get("value")), canonical_json(document))
    except (InvalidSignature, TypeError, ValueError) as exc:
        raise SignatureError("bad signature") from exc


def _json_object(part: str, what: str) -> dict:
    """Decode one JWS part: canonical base64url of a JSON object without repeated names."""
    def no_repeats(pairs):
        names = [name for name, _ in pairs]
        if len(names) != len(set(names)):
            raise ValueError("repeated member name")
        return dict(pairs)

    def no_constants(name):
        raise ValueError(f"{name} is not JSON")

    try:
        value = json.loads(b64url_decode(part), object_pairs_hook=no_repeats,
                           parse_constant=no_constants)
    except (ValueError, RecursionError) as exc:
        raise SignatureError(f"malformed token {what}") from exc
    if not isinstance(value, dict):
        raise SignatureError(f"malformed token {what}: not a JSON object")
    return value


def verify_jws(keys: dict[str, Ed25519PublicKey], token: str, typ: str) -> dict:
    """Verify a compact JWS of type `typ` and return its payload; anything else is a
    SignatureError.

    The header must be `{"alg": "EdDSA", "kid": ..., "typ": typ}` (the algorithm is
    pinned, never taken from the token; no `crit`), and each part canonical base64url:
    a token has one spelling only.
    """
    parts = token.split(".") if isinstance(token, str) else []
    if len(parts) != 3:
        raise SignatureError("malformed token: not three dot-separated parts")
    header_b64, body_b64, sig_b64 = parts
    header = _json_object(header_b64, "header")
    if header.get("alg") != ALGORITHM:
        raise SignatureError("unsupported algorithm")
    if header.get("typ") != typ:
        raise SignatureError(f"wrong token type: {header.get('typ')!r}, not {typ!r}")
    if "crit" in header:
        raise SignatureError("unsupported critical header")
    kid = header.get("kid")
    if not isinstance(kid, str):
        raise SignatureError("malformed token header: kid is not a string")
    key = keys.get(kid)
    if key is None:
        raise UnknownKeyError(f"unknown key id {kid!r}")
    payload = _json_object(body_b64, "payload")
    try:
        key.verify(b64url_decode(sig_b64), f"{header_b64}.{body_b64}".encode("ascii"))
    except (InvalidSignature, ValueError) as exc:
        raise SignatureError("bad signature") from exc
    return payload
