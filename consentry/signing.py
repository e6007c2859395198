"""Ed25519 signatures, JWKs and compact JWS: pure functions over `cryptography`.

Nothing here touches Flask or a database, so engines and the offline audit
verifier can check Consentry's signatures with this module and the published keys.
"""

from __future__ import annotations

import json

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from consentry.canonical import b64url, b64url_decode, canonical_json


class SignatureError(ValueError):
    """A signature or token that does not verify."""


def public_jwk(public_key: Ed25519PublicKey, kid: str) -> dict:
    """Return the JWK (RFC 8037, OKP) of an Ed25519 public key."""
    raw = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return {"kty": "OKP", "crv": "Ed25519", "x": b64url(raw), "kid": kid, "use": "sig",
            "alg": "EdDSA"}


def key_from_jwk(jwk: dict) -> Ed25519PublicKey:
    """Load an Ed25519 public key from its JWK."""
    if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
        raise SignatureError("not an Ed25519 JWK")
    return Ed25519PublicKey.from_public_bytes(b64url_decode(jwk["x"]))


def keys_by_kid(jwks: dict | list) -> dict[str, Ed25519PublicKey]:
    """Index a JWKS document (or a list of JWKs) by key id."""
    keys = jwks.get("keys", []) if isinstance(jwks, dict) else jwks
    return {k["kid"]: key_from_jwk(k) for k in keys}


def sign_document(private_key: Ed25519PrivateKey, kid: str, document: dict) -> dict:
    """Sign the canonical JSON of `document`; return a detached signature object."""
    signature = private_key.sign(canonical_json(document))
    return {"alg": "EdDSA", "kid": kid, "value": b64url(signature)}


def verify_document(keys: dict[str, Ed25519PublicKey], document: dict, signature: dict) -> None:
    """Raise SignatureError unless `signature` signs the canonical JSON of `document`."""
    key = keys.get(signature.get("kid", ""))
    if key is None:
        raise SignatureError(f"unknown key id {signature.get('kid')!r}")
    try:
        key.verify(b64url_decode(signature["value"]), canonical_json(document))
    except (InvalidSignature, KeyError, ValueError) as exc:
        raise SignatureError("bad signature") from exc


def sign_jws(private_key: Ed25519PrivateKey, kid: str, payload: dict) -> str:
    """Return a compact JWS (EdDSA) over `payload`."""
    header = b64url(canonical_json({"alg": "EdDSA", "kid": kid, "typ": "JWT"}))
    body = b64url(canonical_json(payload))
    signing_input = f"{header}.{body}".encode("ascii")
    return f"{header}.{body}.{b64url(private_key.sign(signing_input))}"


def verify_jws(keys: dict[str, Ed25519PublicKey], token: str) -> dict:
    """Verify a compact JWS and return its payload, or raise SignatureError."""
    try:
        header_b64, body_b64, sig_b64 = token.split(".")
        header = json.loads(b64url_decode(header_b64))
    except ValueError as exc:
        raise SignatureError("malformed token") from exc
    if header.get("alg") != "EdDSA":
        raise SignatureError("unsupported algorithm")
    key = keys.get(header.get("kid", ""))
    if key is None:
        raise SignatureError(f"unknown key id {header.get('kid')!r}")
    try:
        key.verify(b64url_decode(sig_b64), f"{header_b64}.{body_b64}".encode("ascii"))
    except (InvalidSignature, ValueError) as exc:
        raise SignatureError("bad signature") from exc
    return json.loads(b64url_decode(body_b64))
