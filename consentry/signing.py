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


class UnknownKeyError(SignatureError):
    """Signed with a key id the verifier's keys do not have (fetch the keys again?)."""


def public_jwk(public_key: Ed25519PublicKey, kid: str) -> dict:
    """Return the JWK (RFC 8037, OKP) of an Ed25519 public key."""
    raw = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return {"kty": "OKP", "crv": "Ed25519", "x": b64url(raw), "kid": kid, "use": "sig",
            "alg": "EdDSA"}


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


def sign_document(private_key: Ed25519PrivateKey, kid: str, document: dict) -> dict:
    """Sign the canonical JSON of `document`; return a detached signature object."""
    signature = private_key.sign(canonical_json(document))
    return {"alg": "EdDSA", "kid": kid, "value": b64url(signature)}


def verify_document(keys: dict[str, Ed25519PublicKey], document: dict, signature: dict) -> None:
    """Raise SignatureError unless `signature` signs the canonical JSON of `document`."""
    kid = signature.get("kid") if isinstance(signature, dict) else None
    key = keys.get(kid) if isinstance(kid, str) else None
    if key is None:
        raise UnknownKeyError(f"unknown key id {kid!r}")
    try:
        key.verify(b64url_decode(signature.get("value")), canonical_json(document))
    except (InvalidSignature, TypeError, ValueError) as exc:
        raise SignatureError("bad signature") from exc


def sign_jws(private_key: Ed25519PrivateKey, kid: str, payload: dict) -> str:
    """Return a compact JWS (EdDSA) over `payload`."""
    header = b64url(canonical_json({"alg": "EdDSA", "kid": kid, "typ": "JWT"}))
    body = b64url(canonical_json(payload))
    signing_input = f"{header}.{body}".encode("ascii")
    return f"{header}.{body}.{b64url(private_key.sign(signing_input))}"


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


def verify_jws(keys: dict[str, Ed25519PublicKey], token: str) -> dict:
    """Verify a compact JWS and return its payload; anything malformed is a SignatureError.

    The header must be `{"alg": "EdDSA", "kid": ..., "typ": "JWT"}` (no `crit`), and each
    part canonical base64url: a token has one spelling only.
    """
    parts = token.split(".") if isinstance(token, str) else []
    if len(parts) != 3:
        raise SignatureError("malformed token: not three dot-separated parts")
    header_b64, body_b64, sig_b64 = parts
    header = _json_object(header_b64, "header")
    if header.get("alg") != "EdDSA":
        raise SignatureError("unsupported algorithm")
    if header.get("typ") != "JWT":
        raise SignatureError("unsupported token type")
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
