"""Consent tokens: the gate's signed answer, verified offline (RFC 8725 rules).

A consent token is a compact JWS whose header is exactly
`{"alg": "EdDSA", "kid": <key id>, "typ": "consentry-consent+jwt"}` and whose claims
carry `iss` (the deployment's URL, `CONSENTRY_PUBLIC_URL`), `sub`, `purpose`,
`channel`, `jurisdiction`, `allowed`, `limits`, `policy_version`, `policy_digest`,
`iat` and `exp` (integer Unix seconds). The algorithm is pinned to EdDSA (Ed25519):
the token's own `alg` is checked, never obeyed.

A Consent Mode token (`GET /v1/subjects/{id}/consent-mode`) has its own type,
`consentry-consent-mode+jwt`, and carries `consent_mode` (the seven Google Consent Mode
v2 fields) instead of `purpose` and `allowed`: verify it with
`verify_token(token, jwks, typ=CONSENT_MODE_TOKEN_TYPE)`; a consent token is refused
there, and a Consent Mode token is refused as a consent token.
"""

from __future__ import annotations

import time

from consentry_client.signing import SignatureError, keys_by_kid, verify_jws

CONSENT_TOKEN_TYPE = "consentry-consent+jwt"
CONSENT_MODE_TOKEN_TYPE = "consentry-consent-mode+jwt"


class TokenExpired(SignatureError):
    """A token whose `exp` has passed."""


def verify_token(token: str, jwks: dict | list, issuer: str | None = None,
                 now: float | None = None, typ: str = CONSENT_TOKEN_TYPE) -> dict:
    """Return a token's claims if it is signed by a key of `jwks`, of type `typ` (a
    consent token unless told otherwise), unexpired, and (when `issuer` is given)
    issued by `issuer`.

    Raises SignatureError (UnknownKeyError for a key id `jwks` lacks, TokenExpired).
    """
    claims = verify_jws(keys_by_kid(jwks), token, typ)
    exp, iat = claims.get("exp"), claims.get("iat")
    if type(exp) is not int or type(iat) is not int:
        raise SignatureError("malformed token: exp and iat must be integers")
    if issuer is not None and claims.get("iss") != issuer:
        raise SignatureError(f"wrong issuer: {claims.get('iss')!r}, not {issuer!r}")
    if (now if now is not None else time.time()) >= exp:
        raise TokenExpired("token expired")
    return claims
